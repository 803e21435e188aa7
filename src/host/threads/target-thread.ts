// The listening thread's handle on one target thread: starts it, hands it connections, asks it
// for status, media changes and resizes, and closes it. A thread that dies is reported once and
// its targets become unavailable (logins to them are refused); the rest keep serving.
import { Worker } from 'node:worker_threads';
import { StartupError } from '../errors.ts';
import type { ControlRequest } from '../control.ts';
import type { ServedLun } from '../host.ts';
import type { Logger } from '../log.ts';
import type { FromThread, ThreadInit, ThreadRequest, ToThread } from './messages.ts';

const WORKER = new URL('./worker.js', import.meta.url);
/** How long close() waits past the devices' own timeout before it stops the thread. */
const CLOSE_GRACE_MS = 5000;

export class TargetThread {
  readonly index: number;
  readonly targets: readonly string[];
  readonly served: ServedLun[] = [];
  private readonly worker: Worker;
  private readonly log: Logger;
  private base = '';
  private alive = true;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed: Promise<void> | undefined;
  private onClosed: ((error?: string) => void) | undefined;
  onServed: ((lun: ServedLun) => void) | undefined;

  private constructor(index: number, init: ThreadInit, log: Logger) {
    this.index = index;
    this.targets = init.cfg.targets.map((t) => t.iqn);
    this.log = log;
    this.worker = new Worker(WORKER, { workerData: init, name: `fileio_tgt targets ${index}` });
  }

  /** Starts a thread for `init.cfg`; resolves once it serves its LUNs, rejects with its startup error. */
  static start(index: number, init: ThreadInit, log: Logger): Promise<TargetThread> {
    const t = new TargetThread(index, init, log);
    return new Promise((resolve, reject) => {
      let ready = false;
      t.worker.on('message', (m: FromThread) => {
        if (m.type === 'ready') {
          ready = true;
          t.served.push(...m.served);
          resolve(t);
        } else if (m.type === 'failed') reject(m.startup ? new StartupError(m.message) : new Error(m.message));
        else t.onMessage(m);
      });
      t.worker.on('error', (e) => {
        if (!ready) reject(e);
        else t.died(`failed: ${e.stack ?? e.message}`);
      });
      t.worker.on('exit', (code) => {
        if (!ready) reject(new Error(`thread for ${t.targets.join(', ')} exited (${code}) before it served`));
        else if (!t.closed) t.died(`exited (${code})`);
        t.alive = false;
        t.onClosed?.('thread exited');
      });
    });
  }

  /** Hands a connection over (a descriptor of its own and the bytes read so far); false if the thread is gone. */
  handOver(fd: number, received: Buffer): boolean {
    if (!this.alive || this.closed) return false;
    this.send({ type: 'connection', fd, received: new Uint8Array(received) });
    return true;
  }

  request(req: ThreadRequest): Promise<unknown> {
    if (!this.alive) return Promise.reject(new Error(`the thread serving ${this.targets.join(', ')} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ type: 'request', id, req });
    });
  }

  /** The listening thread's iscsi://host:port, put in front of the LUN URLs this thread reports. */
  setBase(base: string): void {
    this.base = base;
    for (const s of this.served) s.url = base + s.url;
  }

  hasDevice(name: string): boolean {
    return this.served.some((s) => s.device === name);
  }

  /** Closes the thread's devices (in-flight commands first), then the thread. Rejects if some failed to close. */
  close(timeoutMs: number): Promise<void> {
    this.closed ??= new Promise<void>((resolve, reject) => {
      if (!this.alive) return resolve();
      const stop = setTimeout(() => void this.worker.terminate(), timeoutMs + CLOSE_GRACE_MS);
      this.onClosed = (error) => {
        clearTimeout(stop);
        void this.worker.terminate();
        if (error && error !== 'thread exited') reject(new Error(error));
        else resolve();
      };
      this.send({ type: 'close', timeoutMs });
    });
    return this.closed;
  }

  private onMessage(m: FromThread): void {
    switch (m.type) {
      case 'log':
        this.log(m.level, m.message);
        return;
      case 'served':
        m.lun.url = this.base + m.lun.url;
        this.served.push(m.lun);
        this.onServed?.(m.lun);
        return;
      case 'reply': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.ok) p?.resolve(m.result);
        else p?.reject(new Error(m.error));
        return;
      }
      case 'closed':
        this.onClosed?.(m.error);
        return;
    }
  }

  private died(how: string): void {
    if (!this.alive) return;
    this.alive = false;
    this.log('error', `the thread serving ${this.targets.join(', ')} ${how}; logins to these targets are refused until restart`);
    for (const p of this.pending.values()) p.reject(new Error('thread stopped'));
    this.pending.clear();
  }

  private send(m: ToThread): void {
    this.worker.postMessage(m);
  }
}
