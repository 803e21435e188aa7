// The scst_user model's per-device command table and ready list (scst_user.c: ucmd hash,
// dev_user_add_to_ready, __dev_user_get_next_cmd, dev_user_process_reply, dev_user_unjam_cmd).
// A ucmd keeps one cmd_h through all the stages of a SCSI command; management subcommands,
// PARSE and ALLOC_MEM go ahead of queued SCSI work in their relative order; a reply must match
// the subcode and state of a ucmd currently with user space.
import { UCMD_STATE as U } from '../../src/ffi/scst-user-abi.ts';
import { getCmdImage } from './scst-user-model-abi.ts';

const EINVAL = 22;
const ESRCH = 3;

/** What the queue needs to know of a SCSI command. */
export interface QueuedCommand {
  readonly done: boolean;
  readonly aborted: boolean;
  readonly req: { readonly queue?: string };
}

export interface UCmd {
  readonly h: number;
  state: number;
  subcode: number;
  image: Buffer;
  length: number;
  sentToUser: boolean;
  seenByUser: boolean;
  unjammed: boolean;
  mgmt: boolean;
  background?: boolean;
  cmd?: QueuedCommand;
  onReply: (reply: Buffer) => number;
  /** The kernel gave up on this stage (abort, release, refused reply): continue as failed. */
  onUnjam?: () => void;
}

export type Outcome = { status: number; sense?: Buffer };
export type Values = Record<string, number | bigint | Buffer | string>;

export interface UcmdQueueOptions {
  /** Readiness changed: wake the poller. */
  readonly poke: () => void;
  /** Completes a SCSI command the kernel fails itself. */
  readonly complete: (cmd: QueuedCommand, r: Outcome) => void;
  readonly stats: { invalidReplies: number };
}

const sense = (key: number, asc: number, ascq: number): Buffer => {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = key;
  b[7] = 10;
  b[12] = asc;
  b[13] = ascq;
  return b;
};
/** Sense data the model's "kernel" produces itself. */
export const KERNEL_SENSE = {
  internalFailure: sense(4, 0x44, 0),
  lunNotSupported: sense(5, 0x25, 0),
  invalidOpcode: sense(5, 0x20, 0),
  writeProtected: sense(7, 0x27, 0),
  unitAttention: (asc: number, ascq: number) => sense(6, asc, ascq),
};

export class UcmdQueue {
  readonly ready: UCmd[] = [];
  readonly ucmds = new Map<number, UCmd>();
  released = false;
  readonly #o: UcmdQueueOptions;
  #nextH = 1;

  constructor(o: UcmdQueueOptions) {
    this.#o = o;
  }

  create(mgmt: boolean, cmd?: QueuedCommand, h = this.#nextH++): UCmd {
    const u: UCmd = { h, state: U.UCMD_STATE_NEW, subcode: 0, image: Buffer.alloc(0), length: 0, sentToUser: false, seenByUser: false, unjammed: false, mgmt, cmd, onReply: () => -EINVAL };
    this.ucmds.set(h, u);
    return u;
  }

  /** The kernel fails this stage: complete the command (if any), then let the stage go on failed. */
  #failStage(u: UCmd, r: Outcome): void {
    const stage = u.onUnjam;
    if (u.cmd && !u.cmd.done) this.#o.complete(u.cmd, r);
    stage?.();
  }

  /** dev_user_add_to_ready: management, PARSE, ALLOC_MEM and HEAD OF QUEUE after queued management, the rest at the tail. */
  enqueue(u: UCmd, state: number, subcode: number, member: string, values: Values, onReply: (r: Buffer) => number): void {
    if (this.released) return this.#failStage(u, { status: 0x08 }); // the fd is closed
    u.state = state;
    u.subcode = subcode;
    u.unjammed = false;
    const img = getCmdImage(u.h, subcode, member, values);
    u.image = img.image;
    u.length = img.length;
    u.onReply = onReply;
    const head = u.mgmt || state === U.UCMD_STATE_PARSING || state === U.UCMD_STATE_BUF_ALLOCING || u.cmd?.req.queue === 'head';
    if (head) {
      const at = this.ready.findIndex((x) => !x.mgmt);
      this.ready.splice(at < 0 ? this.ready.length : at, 0, u);
    } else {
      this.ready.push(u);
    }
    this.#o.poke();
  }

  /** __dev_user_get_next_cmd: the next subcommand for user space (aborted unseen ones are failed on the way). */
  next(): UCmd | undefined {
    for (;;) {
      const u = this.ready.shift();
      if (!u) return undefined;
      const c = u.cmd;
      if (c && c.aborted && (u.state === U.UCMD_STATE_PARSING || u.state === U.UCMD_STATE_BUF_ALLOCING || u.state === U.UCMD_STATE_EXECING)) {
        this.unjam(u);
        continue;
      }
      u.sentToUser = true;
      u.seenByUser = true;
      return u;
    }
  }

  /** copy_to_user failed: the subcommand goes back to the head of the list. */
  requeue(u: UCmd): void {
    u.sentToUser = false;
    this.ready.unshift(u);
  }

  /** dev_user_process_reply. */
  processReply(reply: Buffer): number {
    const h = reply.readUInt32LE(0);
    const subcode = reply.readUInt32LE(4);
    const u = this.ucmds.get(h);
    if (!u) return -ESRCH;
    if (u.background && u.state === U.UCMD_STATE_EXECING) return u.onReply(reply);
    if (u.unjammed) return 0;
    if (!u.sentToUser) return -EINVAL;
    if (subcode !== u.subcode || (subcode & 0xff) !== u.state) {
      this.#o.stats.invalidReplies++;
      this.unjam(u);
      return -EINVAL;
    }
    u.sentToUser = false;
    return u.onReply(reply);
  }

  /** A reply the kernel refuses as invalid (EINVAL): it fails the command itself. */
  refuse(h: number): number {
    const u = this.ucmds.get(h);
    if (!u) return -ESRCH;
    this.#o.stats.invalidReplies++;
    u.sentToUser = false;
    this.#failStage(u, { status: 2, sense: KERNEL_SENSE.internalFailure });
    return -EINVAL;
  }

  /** dev_user_unjam_cmd: the command is failed (aborted, or LUN NOT SUPPORTED) without user space. */
  unjam(u: UCmd): void {
    if (u.unjammed) return;
    u.unjammed = true;
    u.sentToUser = false;
    const i = this.ready.indexOf(u);
    if (i >= 0) this.ready.splice(i, 1);
    this.#failStage(u, u.cmd?.aborted ? { status: 0x40 } : { status: 2, sense: KERNEL_SENSE.lunNotSupported });
  }

  /** The fd closed: queued commands fail BUSY, those with user space 05/25/00, management FAILED. */
  release(): void {
    this.released = true;
    for (const u of this.ready.splice(0)) this.#failStage(u, { status: 0x08 });
    for (const u of [...this.ucmds.values()]) if (u.sentToUser) this.#failStage(u, { status: 2, sense: KERNEL_SENSE.lunNotSupported });
  }
}
