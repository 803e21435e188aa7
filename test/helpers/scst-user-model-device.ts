// One registered device inside the scst_user model: sessions (ATTACH_SESS with its deadline,
// DETACH_SESS after the session's last command), SCSI commands (scst-user-model-command.ts), task
// management (unseen aborted commands failed by the kernel, TASK_MGMT_RECEIVED, wait for every
// affected command, TASK_MGMT_DONE), the core's unit attentions (scst-user-model-ua.ts), capacity
// changes (a UA for disks only), the SGV cache
// (purge, PREALLOC_BUFFER) and release when the fd closes. Driven by a test acting as the target
// driver, and by the handler through the ioctls in scst-user-model.ts.
import { SCST_USER_SUBCODES as S, TM_FN, TM_STATUS, UCMD_STATE as U, type UserOpt } from '../../src/ffi/scst-user-abi.ts';
import type { UserMemory } from './scst-user-model-abi.ts';
import { CommandLife, type CommandSession, type ModelCmd, type ModelRequest, type ModelResult } from './scst-user-model-command.ts';
import { UcmdQueue, type UCmd } from './scst-user-model-queue.ts';
import { MAX_CACHED_PAGES, PAGE, SgvCache } from './scst-user-model-sgv.ts';
import { CoreUnitAttentions } from './scst-user-model-ua.ts';

export { KERNEL_SENSE } from './scst-user-model-queue.ts';
export type { ModelRequest, ModelResult } from './scst-user-model-command.ts';

const EINVAL = 22;
const EFAULT = 14;
const ENOMEM = 12;

export class ModelSession implements CommandSession {
  readonly handle: bigint;
  readonly initiator: string;
  readonly target: string;
  readonly lun: number;
  readonly rdOnly: boolean;
  state: 'attaching' | 'attached' | 'failed' | 'detached' | 'gone' = 'attaching';
  readonly pendingUa: { asc: number; ascq: number }[] = [];
  readonly commands = new Set<ModelCmd>();
  constructor(handle: bigint, o: { initiator: string; target: string; lun: number; rdOnly: boolean }) {
    this.handle = handle;
    this.initiator = o.initiator;
    this.target = o.target;
    this.lun = o.lun;
    this.rdOnly = o.rdOnly;
  }
}

export interface ModelDeviceOptions {
  readonly name: string;
  readonly type: number;
  readonly blockSize: number;
  readonly opt: UserOpt;
  readonly mem: UserMemory;
  readonly attachTimeoutMs: number;
  readonly poke: () => void;
}

export class ModelDevice {
  readonly name: string;
  readonly type: number;
  readonly blockSize: number;
  readonly opt: UserOpt;
  readonly sessions = new Set<ModelSession>();
  /** What each accepted PARSE reply said (opcode, direction, bufflen, op_flags), in order. */
  readonly parsed: { op: number; dir: number; bufflen: number; flags: number }[] = [];
  readonly stats = {
    parses: 0, allocMems: 0, execs: 0, execNoBuffer: 0, cacheHits: 0, cacheMisses: 0, onFreeSent: 0, cachedFreeSent: 0,
    cachedFreed: 0, attachTimeouts: 0, lateAttachReplies: 0, ignoredPbufs: 0, invalidReplies: 0, capacityChanged: 0,
    unknownReplies: 0,
  };
  /** The core's unit attentions and double-UA state (kernel BUGs hit are in core.bugs). */
  readonly core = new CoreUnitAttentions(() => this.sessions);
  readonly #o: ModelDeviceOptions;
  readonly #queue: UcmdQueue;
  readonly #sgv = new SgvCache();
  readonly #life: CommandLife;
  #nextSess = 0xffff888000100000n;

  constructor(o: ModelDeviceOptions) {
    this.#o = o;
    this.name = o.name;
    this.type = o.type;
    this.blockSize = o.blockSize;
    this.opt = o.opt;
    this.#queue = new UcmdQueue({ poke: o.poke, complete: (c, r) => this.#life.complete(c as ModelCmd, r), stats: this.stats });
    this.#life = new CommandLife({ queue: this.#queue, sgv: this.#sgv, opt: o.opt, type: o.type, blockSize: o.blockSize, mem: o.mem, stats: this.stats, parsed: this.parsed, core: this.core });
  }

  // ---- the ioctl side ---------------------------------------------------------------------

  get ready(): readonly UCmd[] {
    return this.#queue.ready;
  }
  get ucmds(): ReadonlyMap<number, UCmd> {
    return this.#queue.ucmds;
  }
  next(): UCmd | undefined {
    return this.#queue.next();
  }
  requeue(u: UCmd): void {
    this.#queue.requeue(u);
  }
  processReply(reply: Buffer): number {
    return this.#queue.processReply(reply);
  }
  /** A reply the kernel refuses as invalid (EINVAL): it fails that command itself. */
  refuseReply(h: number): number {
    return this.#queue.refuse(h);
  }

  /** Injects a subcommand this ABI does not know (a malformed kernel message). */
  injectUnknown(subcode: number): number {
    const u = this.#queue.create(true);
    this.#queue.enqueue(u, subcode & 0xff, subcode, 'sess', {}, () => {
      this.stats.unknownReplies++;
      this.#queue.ucmds.delete(u.h);
      return 0;
    });
    return u.h;
  }

  /** GET_EXTENDED_CDB: the CDB bytes beyond 16 of a command currently with user space. */
  extendedCdb(h: number): Buffer | number {
    const u = this.#queue.ucmds.get(h);
    const c = u?.cmd as ModelCmd | undefined;
    if (!c || !u!.sentToUser) return -EINVAL;
    return c.cdb.subarray(16);
  }

  // ---- sessions -------------------------------------------------------------------------

  attach(o: { initiator: string; target: string; lun?: number; rdOnly?: boolean }): Promise<ModelSession> {
    const s = new ModelSession(this.#nextSess, { initiator: o.initiator, target: o.target, lun: o.lun ?? 0, rdOnly: !!o.rdOnly });
    this.#nextSess += 0x1000n;
    this.sessions.add(s);
    const q = this.#queue;
    const u = q.create(true);
    const started = Date.now();
    const limit = this.#o.attachTimeoutMs;
    return new Promise((resolve, reject) => {
      const fail = (why: string, timedOut = false) => {
        clearTimeout(timer);
        s.state = 'failed';
        if (timedOut) this.stats.attachTimeouts++;
        reject(new Error(why));
      };
      const timer = setTimeout(() => {
        if (s.state === 'attaching') fail(`ATTACH_SESS of ${o.initiator} not answered within ${limit} ms`, true);
      }, limit);
      u.onUnjam = () => fail('ATTACH_SESS failed (device released)');
      q.enqueue(u, U.UCMD_STATE_ATTACH_SESS, S.SCST_USER_ATTACH_SESS, 'sess', {
        sess_h: s.handle, lun: BigInt(s.lun), threads_num: 0, rd_only: s.rdOnly ? 1 : 0, initiator_name: s.initiator, target_name: s.target,
      }, (reply) => {
        q.ucmds.delete(u.h);
        // wait_for_completion_timeout expired before this reply, whatever ran first here
        if (s.state === 'attaching' && Date.now() - started > limit) fail(`ATTACH_SESS of ${o.initiator} answered after ${Date.now() - started} ms`, true);
        if (s.state !== 'attaching') {
          this.stats.lateAttachReplies++; // accepted, and ignored
          return 0;
        }
        const result = reply.readInt32LE(8);
        if (result !== 0) {
          fail(`ATTACH_SESS refused (${result})`);
          return 0;
        }
        clearTimeout(timer);
        s.state = 'attached';
        this.core.attached(s);
        resolve(s);
        return 0;
      });
    });
  }

  /** Removes a session once its commands are done: DETACH_SESS, answered before it resolves. */
  async detach(s: ModelSession): Promise<void> {
    while (s.commands.size > 0) await Promise.all([...s.commands].map((c) => c.promise));
    s.state = 'detached';
    const q = this.#queue;
    const u = q.create(true);
    await new Promise<void>((resolve) => {
      u.onUnjam = resolve;
      q.enqueue(u, U.UCMD_STATE_DETACH_SESS, S.SCST_USER_DETACH_SESS, 'sess', { sess_h: s.handle }, () => {
        q.ucmds.delete(u.h);
        this.sessions.delete(s);
        resolve();
        return 0;
      });
    });
  }

  /** A SCSI command from the session; the promise carries its cmd_h (for ABORT TASK, refused replies). */
  submit(s: ModelSession, req: ModelRequest): Promise<ModelResult> & { readonly handle: number } {
    return this.#life.submit(s, req);
  }

  /** SCST_USER_DEVICE_CAPACITY_CHANGED: a UA for every session, TYPE_DISK only. */
  capacityChanged(): void {
    if (this.type !== 0) return;
    this.stats.capacityChanged++;
    for (const s of this.sessions) if (s.state === 'attached') s.pendingUa.push({ asc: 0x2a, ascq: 0x09 });
  }

  // ---- task management ------------------------------------------------------------------

  taskMgmt(s: ModelSession, fn: number, cmdH = 0): Promise<number> {
    const all = [...this.sessions].flatMap((x) => [...x.commands]);
    const affected = fn === TM_FN.SCST_ABORT_TASK ? all.filter((c) => c.ucmd.h === cmdH)
      : fn === TM_FN.SCST_ABORT_TASK_SET || fn === TM_FN.SCST_ABORT_ALL_TASKS_SESS || fn === TM_FN.SCST_NEXUS_LOSS_SESS ? [...s.commands]
        : fn === TM_FN.SCST_CLEAR_ACA ? [] : all;
    for (const c of affected) c.aborted = true;
    if (fn === TM_FN.SCST_LUN_RESET || fn === TM_FN.SCST_TARGET_RESET) this.core.reset();
    const q = this.#queue;
    // dev_user_abort_ready_commands: aborted commands user space has not seen are failed here.
    for (const u of [...q.ready]) if ((u.cmd as ModelCmd | undefined)?.aborted && !u.seenByUser) q.unjam(u);
    const tm = { sess_h: s.handle, fn, cmd_h_to_abort: cmdH, cmd_sn: 0, cmd_sn_set: 0 };
    return new Promise((resolve) => {
      const received = q.create(true);
      received.onUnjam = () => resolve(TM_STATUS.SCST_MGMT_STATUS_FAILED);
      q.enqueue(received, U.UCMD_STATE_TM_RECEIVED_EXECING, S.SCST_USER_TASK_MGMT_RECEIVED, 'tm_cmd', tm, () => {
        q.ucmds.delete(received.h);
        void Promise.all(affected.map((c) => c.promise)).then(() => {
          const done = q.create(true);
          done.onUnjam = () => resolve(TM_STATUS.SCST_MGMT_STATUS_FAILED);
          q.enqueue(done, U.UCMD_STATE_TM_DONE_EXECING, S.SCST_USER_TASK_MGMT_DONE, 'tm_cmd', tm, (r) => {
            q.ucmds.delete(done.h);
            const result = r.readInt32LE(8);
            resolve(result === TM_STATUS.SCST_MGMT_STATUS_TASK_NOT_EXIST ? TM_STATUS.SCST_MGMT_STATUS_SUCCESS : result);
            return 0;
          });
        });
        return 0;
      });
    });
  }

  // ---- SGV cache ------------------------------------------------------------------------

  /** SGV purge (time, memory pressure, FLUSH_CACHE): every idle cached buffer goes back to user space. */
  purgeCache(): number {
    const idle = this.#sgv.idle();
    for (const b of idle) this.#life.cachedMemFree(b);
    return idle.length;
  }

  /** SCST_USER_PREALLOC_BUFFER: a user buffer becomes an idle cached SGV object; returns its cmd_h. */
  prealloc(pbuf: bigint, bufflen: number): number {
    if (pbuf % BigInt(PAGE) !== 0n) return -EINVAL;
    const pages = Math.ceil(bufflen / PAGE);
    if (pages < 1 || pages > MAX_CACHED_PAGES || (pages & (pages - 1)) !== 0) return -ENOMEM; // not an SGV size
    if (!this.#o.mem.accessible(pbuf, pages * PAGE, true)) return -EFAULT;
    const u = this.#queue.create(false);
    this.#sgv.add(pbuf, pages, u.h, false);
    return u.h;
  }

  get cachedBuffers(): { total: number; idle: number } {
    return this.#sgv.counts;
  }

  // ---- release (the fd closed) ----------------------------------------------------------

  get released(): boolean {
    return this.#queue.released;
  }

  release(): void {
    this.#queue.release();
    for (const s of this.sessions) s.state = 'gone';
    this.#sgv.clear();
  }
}
