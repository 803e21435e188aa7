// The REPLY_AND_GET_MULTI loop of one device fd, on the event loop. uv_poll says the fd is
// readable -> one non-blocking call carrying every reply ready so far and fetching up to
// CMDS_PER_CALL subcommands -> each is handed to `dispatch` at once -> replies produced during
// the same turn go out together in the next call. At most MAX_CALLS_PER_TURN calls per turn,
// then we yield. The fd is watched only while we fetch: a level-triggered poll we ignore would
// spin. Nothing here blocks: the fd is O_NONBLOCK and the kernel answers EAGAIN when idle.
import { errnoName } from '../../ffi/libc.ts';
import { SCST_USER_IOCTLS, decodeGetCmd, decodeGetMultiResult, encodeGetMulti, type UserCmd } from '../../ffi/scst-user-abi.ts';
import { CMDS_PER_CALL, type ControlBlock } from './control-block.ts';
import type { ScstUserPort } from './port.ts';
import { ReplyQueue, type PendingReply } from './replies.ts';

const MAX_CALLS_PER_TURN = 16;

export interface CommandLoopOptions {
  readonly name: string;
  readonly port: ScstUserPort;
  readonly cb: ControlBlock;
  /** Whether to fetch subcommands now (not while draining or at the in-flight limit). */
  readonly wantCommands: () => boolean;
  readonly dispatch: (c: UserCmd) => void;
  /** The fd is unusable (poll error, EBADF/EFAULT/ENODEV...): the owner tears it down. */
  readonly fatal: (why: string) => void;
  readonly log: (level: 'error' | 'warn' | 'info' | 'debug', message: string) => void;
}

export class CommandLoop {
  readonly #o: CommandLoopOptions;
  readonly #replies = new ReplyQueue();
  #watching = false;
  #pumping = false;
  #flushScheduled = false;
  #stopped = false;
  readonly stats = { ioctls: 0, wakeups: 0, replies: 0, replyErrors: 0 };

  constructor(o: CommandLoopOptions) {
    this.#o = o;
  }

  get pendingReplies(): number {
    return this.#replies.length;
  }

  /** Queues a reply for the next call (one call per turn carries all replies of the turn). */
  reply(r: PendingReply): void {
    if (this.#stopped) return;
    this.#replies.push(r);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.pump();
    });
  }

  /** Watch the fd exactly while commands are wanted. */
  updateWatch(): void {
    const want = !this.#stopped && this.#o.wantCommands();
    if (want === this.#watching) return;
    if (want) {
      this.#o.port.watch((status) => {
        if (status < 0) return this.#fatal(`poll failed (status ${status})`);
        this.stats.wakeups++;
        this.pump();
      });
    } else {
      this.#o.port.unwatch();
    }
    this.#watching = want;
  }

  /** Calls REPLY_AND_GET_MULTI until the kernel has nothing more for us and every reply is sent. */
  pump(): void {
    if (this.#pumping || this.#stopped) return;
    this.#pumping = true;
    const { cb, port } = this.#o;
    try {
      for (let calls = 0; ; calls++) {
        const fetch = this.#o.wantCommands() ? CMDS_PER_CALL : 0;
        const staged = this.#replies.stage(cb);
        if (staged === 0 && fetch === 0) break;
        if (calls >= MAX_CALLS_PER_TURN) {
          setImmediate(() => this.pump());
          break;
        }
        encodeGetMulti(cb.dv, cb.multiOffset, cb.repliesAddress, staged, fetch);
        const rc = port.ioctl(SCST_USER_IOCTLS.SCST_USER_REPLY_AND_GET_MULTI, cb.multiAddress);
        this.stats.ioctls++;
        const { replies_done, cmds_cnt } = decodeGetMultiResult(cb.dv, cb.multiOffset);
        const s = this.#replies.settle(staged, rc, replies_done);
        this.stats.replies += s.consumed;
        if (s.dropped) {
          this.stats.replyErrors++;
          const r = s.dropped.reply;
          this.#o.log('warn', `${this.#o.name}: the kernel refused the ${r.kind} reply for cmd_h ${r.cmd_h} (${errnoName(s.dropped.errno)}); sending the others again`);
        }
        if (s.fatal !== undefined) return this.#fatal(`REPLY_AND_GET_MULTI: ${errnoName(s.fatal)}`);
        const got = rc >= 0 ? Math.max(0, Math.min(cmds_cnt, fetch)) : 0;
        for (let i = 0; i < got; i++) {
          this.#o.dispatch(decodeGetCmd(cb.dv, cb.slotOffset(i)));
          if (this.#stopped) return; // a dispatch hit a fatal error
        }
        const more = (got === fetch && fetch > 0) || s.again || this.#replies.length > 0;
        if (!more) break;
      }
    } finally {
      this.#pumping = false;
    }
    this.updateWatch();
  }

  #fatal(why: string): void {
    this.stop();
    this.#o.fatal(why);
  }

  /** No more calls on this fd; pending replies are forgotten (the kernel fails those commands itself). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#watching) this.#o.port.unwatch();
    this.#watching = false;
    this.#replies.clear();
  }
}
