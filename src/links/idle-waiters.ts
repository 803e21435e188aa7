// Waiting for a kernel link to have nothing in flight (shutdown drains, tests): each waiter
// resolves true when the link calls wake() after its last command completed, or false once its
// own timeout passes.
export class IdleWaiters {
  #waiters: Array<() => void> = [];

  /** Resolves true at once when !busy, else at the next wake(), or false after timeoutMs. */
  wait(busy: boolean, timeoutMs: number): Promise<boolean> {
    if (!busy) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((f) => f !== done);
        resolve(false);
      }, timeoutMs);
      this.#waiters.push(done);
    });
  }

  /** The link has nothing in flight any more. */
  wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}
