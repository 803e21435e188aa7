// The task set of one logical unit (SAM-5 §8): SIMPLE tasks run concurrently, ORDERED (and
// commands marked exclusive) wait for everything before them and hold back everything after,
// HEAD OF QUEUE runs at once.
import type { TaskAttribute } from './command.ts';

export class TaskSet {
  private readonly active = new Set<Promise<unknown>>();
  private barrier: Promise<unknown> | undefined;

  run<T>(attribute: TaskAttribute, exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    if (attribute === 'head-of-queue') return this.track(fn());
    if (attribute === 'ordered' || exclusive) {
      const before = [...this.active, this.barrier];
      const p = Promise.allSettled(before).then(fn);
      const settled = p.then(
        () => undefined,
        () => undefined,
      );
      this.barrier = settled;
      void settled.then(() => {
        if (this.barrier === settled) this.barrier = undefined;
      });
      return p;
    }
    if (this.barrier) {
      const b = this.barrier;
      return this.track(b.then(fn));
    }
    return this.track(fn());
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.active.add(p);
    const done = (): void => {
      this.active.delete(p);
    };
    p.then(done, done);
    return p;
  }

  get size(): number {
    return this.active.size + (this.barrier ? 1 : 0);
  }
}
