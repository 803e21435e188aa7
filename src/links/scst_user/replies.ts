// Replies waiting for the next SCST_USER_REPLY_AND_GET_MULTI, and what a call's outcome means for
// them. The kernel processes replies in order and stops at the first one it refuses: it writes
// replies_done (how many it took), fills no command and returns that error. So after any call,
// replies [0, replies_done) are gone; if the call failed in the reply phase, the one at
// replies_done was refused (or, after a restarted ioctl, was already taken the first time): it
// is dropped and the rest are sent again. Errors after the reply phase (EAGAIN: no command;
// EINTR) leave nothing pending. SCST's own fileio_tgt drops every remaining reply on an error,
// leaving those commands stuck until the device closes (SCST's usr/fileio handler).
import {
  encodeAllocReply,
  encodeExecReply,
  encodeParseErrorReply,
  encodeParseReply,
  encodeRemapReply,
  encodeResultReply,
  type ParseReply,
} from '../../ffi/scst-user-abi.ts';
import { REPLIES_PER_CALL, type ControlBlock } from './control-block.ts';

export type PendingReply =
  | { readonly kind: 'result'; readonly cmd_h: number; readonly subcode: number; readonly result: number }
  | { readonly kind: 'parse'; readonly cmd_h: number; readonly reply: ParseReply }
  | { readonly kind: 'parse-error'; readonly cmd_h: number; readonly status: number; readonly sense?: Buffer }
  | { readonly kind: 'alloc'; readonly cmd_h: number; readonly pbuf: bigint }
  | { readonly kind: 'exec'; readonly cmd_h: number; readonly status: number; readonly resp_data_len: number; readonly pbuf: bigint; readonly sense?: Buffer }
  | { readonly kind: 'remap'; readonly cmd_h: number };

/** errno values after which the fd is of no more use: the device must be re-registered. */
const FATAL = new Set([9 /* EBADF */, 14 /* EFAULT */, 19 /* ENODEV */, 25 /* ENOTTY */]);
export const EINTR = 4;
export const EAGAIN = 11;

export interface Settled {
  /** Replies the kernel took. */
  readonly consumed: number;
  /** The reply it refused (or had already taken before a restart), with the errno. */
  readonly dropped?: { readonly reply: PendingReply; readonly errno: number };
  /** The fd is unusable (bad fd, not registered, fault in the get phase): re-register. */
  readonly fatal?: number;
  /** Commands may be waiting: the call did not get to look (EINTR) or a reply was dropped. */
  readonly again: boolean;
}

export class ReplyQueue {
  #queue: PendingReply[] = [];

  get length(): number {
    return this.#queue.length;
  }

  push(r: PendingReply): void {
    this.#queue.push(r);
  }

  /** Encodes up to REPLIES_PER_CALL replies (and their sense) into the control block; returns how many. */
  stage(cb: ControlBlock): number {
    const n = Math.min(this.#queue.length, REPLIES_PER_CALL);
    for (let i = 0; i < n; i++) encode(cb, i, this.#queue[i]!);
    return n;
  }

  /** Applies the outcome of a call that carried `staged` replies (rc: result or -errno). */
  settle(staged: number, rc: number, repliesDone: number): Settled {
    if (rc >= 0) {
      this.#queue.splice(0, staged);
      return { consumed: staged, again: false };
    }
    const errno = -rc;
    if (FATAL.has(errno)) return { consumed: 0, fatal: errno, again: false };
    const done = Math.max(0, Math.min(repliesDone, staged));
    if (done < staged) {
      // Refused in the reply phase: drop that one, keep the rest for the next call.
      const reply = this.#queue[done]!;
      this.#queue.splice(0, done + 1);
      return { consumed: done, dropped: { reply, errno }, again: true };
    }
    this.#queue.splice(0, staged);
    if (errno === EAGAIN) return { consumed: staged, again: false };
    if (errno === EINTR) return { consumed: staged, again: true };
    return { consumed: staged, fatal: errno, again: false };
  }

  /** Forget everything (the fd is gone; the kernel failed those commands itself). */
  clear(): number {
    const n = this.#queue.length;
    this.#queue = [];
    return n;
  }
}

function encode(cb: ControlBlock, i: number, r: PendingReply): void {
  const dv = cb.dv;
  const at = cb.replyOffset(i);
  switch (r.kind) {
    case 'result':
      encodeResultReply(dv, at, r.cmd_h, r.subcode, r.result);
      return;
    case 'parse':
      encodeParseReply(dv, at, r.cmd_h, r.reply);
      return;
    case 'parse-error': {
      const s = r.sense && r.sense.length > 0 ? cb.putSense(i, r.sense) : undefined;
      encodeParseErrorReply(dv, at, r.cmd_h, r.status, s?.length ?? 0, s?.address ?? 0n);
      return;
    }
    case 'alloc':
      encodeAllocReply(dv, at, r.cmd_h, r.pbuf);
      return;
    case 'exec': {
      const s = r.sense && r.sense.length > 0 ? cb.putSense(i, r.sense) : undefined;
      encodeExecReply(dv, at, r.cmd_h, {
        status: r.status,
        resp_data_len: r.resp_data_len,
        pbuf: r.pbuf,
        sense_len: s?.length ?? 0,
        psense_buffer: s?.address ?? 0n,
      });
      return;
    }
    case 'remap':
      // Nothing remapped: the core copies the whole segment itself.
      encodeRemapReply(dv, at, r.cmd_h, {});
      return;
  }
}
