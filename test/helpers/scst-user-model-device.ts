// One registered device inside the scst_user model: the kernel's per-device state and rules
// (scst_user.c as summarised in reference/scst.md §1.8-1.13), driven by a test acting as the
// target driver (sessions, SCSI commands, task management) and by the handler through ioctls.
//
// Rules kept: cmd_h per device, the same through PARSE -> ALLOC_MEM -> EXEC -> ON_FREE_CMD of a
// command; management subcommands queued ahead of SCSI ones in their relative order, PARSE and
// ALLOC_MEM at the head too; a reply must echo the subcode of a command currently with user
// space (EINVAL and the command failed otherwise, ESRCH for an unknown cmd_h, silently ignored
// after an unjam); PARSE / ALLOC_MEM / EXEC reply validation; SGV cache of user buffers
// (power-of-two pages up to 4 MiB, page-aligned when cached, ON_CACHED_MEM_FREE on purge, never
// ON_FREE_CMD-freed); ATTACH_SESS answered within the attach deadline or the session fails;
// task management: unseen aborted commands failed by the kernel, TASK_MGMT_RECEIVED, wait for
// every affected command, TASK_MGMT_DONE; CAPACITY DATA HAS CHANGED for disks only; on release
// queued commands fail BUSY and those with user space 05/25/00.
import { DATA_DIRECTION as D, EXEC_REPLY_TYPE, MEMORY_REUSE_TYPE, ON_FREE_CMD_TYPE, OP_FLAGS, PARSE_TYPE, SCST_USER_SUBCODES as S, TM_FN, TM_STATUS, UCMD_STATE as U, type UserOpt } from '../../src/ffi/scst-user-abi.ts';
import { getCmdImage, readNum, readPtr, type UserMemory } from './scst-user-model-abi.ts';
import { modelParse } from './scst-user-model-parser.ts';

const PAGE = 4096;
const EINVAL = 22;
const ESRCH = 3;
const EFAULT = 14;

export interface ModelResult {
  status: number;
  sense?: Buffer;
  data: Buffer;
  aborted: boolean;
  /** The cmd_h the command had (for ABORT TASK). */
  handle: number;
}

export interface ModelRequest {
  cdb: number[] | Buffer;
  dataOut?: Buffer;
  /** What the transport says the initiator expects; default: write dataOut, else read up to 1 MiB. */
  expected?: { dir: 'read' | 'write' | 'none'; length: number };
  queue?: 'untagged' | 'simple' | 'ordered' | 'head';
}

export class ModelSession {
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

interface UCmd {
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
  cmd?: ModelCmd;
  onReply: (reply: Buffer) => number;
  /** The kernel gave up on this stage (abort, release): continue as failed. */
  onUnjam?: () => void;
}

interface CachedBuf {
  readonly pbuf: bigint;
  readonly pages: number;
  readonly ownerH: number;
  readonly cacheable: boolean;
  inUse: boolean;
}

export class ModelCmd {
  readonly session: ModelSession;
  readonly cdb: Buffer;
  readonly req: ModelRequest;
  readonly ucmd: UCmd;
  dir: number = D.SCST_DATA_NONE;
  bufflen = 0;
  lba = 0;
  opFlags = 0;
  buf?: { pbuf: bigint; cached?: CachedBuf };
  aborted = false;
  done = false;
  resolve!: (r: ModelResult) => void;
  readonly promise: Promise<ModelResult>;
  constructor(session: ModelSession, req: ModelRequest, ucmd: UCmd) {
    this.session = session;
    this.req = req;
    this.cdb = Buffer.from(req.cdb);
    this.ucmd = ucmd;
    this.promise = new Promise((r) => (this.resolve = r));
  }
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
export const KERNEL_SENSE = {
  internalFailure: sense(4, 0x44, 0),
  hardwareError: sense(4, 0x44, 0),
  lunNotSupported: sense(5, 0x25, 0),
  invalidOpcode: sense(5, 0x20, 0),
  writeProtected: sense(7, 0x27, 0),
};

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
  readonly #o: ModelDeviceOptions;
  readonly ready: UCmd[] = [];
  readonly ucmds = new Map<number, UCmd>();
  readonly sessions = new Set<ModelSession>();
  readonly #cache = new Map<bigint, CachedBuf>();
  /** What each accepted PARSE reply said (opcode, direction, bufflen, op_flags), in order. */
  readonly parsed: { op: number; dir: number; bufflen: number; flags: number }[] = [];
  #nextH = 1;
  #nextSess = 0xffff888000100000n;
  released = false;
  readonly stats = {
    parses: 0, allocMems: 0, execs: 0, execNoBuffer: 0, cacheHits: 0, cacheMisses: 0, onFreeSent: 0, cachedFreeSent: 0,
    cachedFreed: 0, attachTimeouts: 0, lateAttachReplies: 0, ignoredPbufs: 0, invalidReplies: 0, capacityChanged: 0,
    unknownReplies: 0,
  };

  constructor(o: ModelDeviceOptions) {
    this.#o = o;
    this.name = o.name;
    this.type = o.type;
    this.blockSize = o.blockSize;
    this.opt = o.opt;
  }

  // ---- ready list and replies (the ioctl side) ----------------------------------------------

  #newUcmd(mgmt: boolean, cmd?: ModelCmd, h = this.#nextH++): UCmd {
    const u: UCmd = { h, state: U.UCMD_STATE_NEW, subcode: 0, image: Buffer.alloc(0), length: 0, sentToUser: false, seenByUser: false, unjammed: false, mgmt, cmd, onReply: () => -EINVAL };
    this.ucmds.set(h, u);
    return u;
  }

  /** dev_user_add_to_ready: management, PARSE, ALLOC_MEM and HEAD OF QUEUE after queued management, the rest at the tail. */
  #enqueue(u: UCmd, state: number, subcode: number, member: string, values: Record<string, number | bigint | Buffer | string>, onReply: (r: Buffer) => number): void {
    if (this.released) {
      // The fd is closed: nothing reaches user space any more.
      const stage = u.onUnjam;
      if (u.cmd && !u.cmd.done) this.#complete(u.cmd, { status: 0x08 });
      stage?.();
      return;
    }
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

  /** Injects a subcommand this ABI does not know (a malformed kernel message). */
  injectUnknown(subcode: number): number {
    const u = this.#newUcmd(true);
    this.#enqueue(u, subcode & 0xff, subcode, 'sess', {}, () => {
      this.stats.unknownReplies++;
      this.ucmds.delete(u.h);
      return 0;
    });
    return u.h;
  }

  /** __dev_user_get_next_cmd: the next subcommand for user space (aborted unseen ones are failed on the way). */
  next(): UCmd | undefined {
    for (;;) {
      const u = this.ready.shift();
      if (!u) return undefined;
      const c = u.cmd;
      if (c && c.aborted && (u.state === U.UCMD_STATE_PARSING || u.state === U.UCMD_STATE_BUF_ALLOCING || u.state === U.UCMD_STATE_EXECING)) {
        this.#unjam(u);
        continue;
      }
      u.sentToUser = true;
      u.seenByUser = true;
      return u;
    }
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
      this.stats.invalidReplies++;
      this.#unjam(u);
      return -EINVAL;
    }
    u.sentToUser = false;
    return u.onReply(reply);
  }

  /** copy_to_user failed: the subcommand goes back to the head of the list. */
  requeue(u: UCmd): void {
    u.sentToUser = false;
    this.ready.unshift(u);
  }

  /** A reply the kernel refuses as invalid (EINVAL): it fails the command itself. */
  refuseReply(h: number): number {
    const u = this.ucmds.get(h);
    if (!u) return -ESRCH;
    this.stats.invalidReplies++;
    u.sentToUser = false;
    const stage = u.onUnjam;
    if (u.cmd && !u.cmd.done) this.#complete(u.cmd, { status: 2, sense: KERNEL_SENSE.internalFailure });
    stage?.();
    return -EINVAL;
  }

  #unjam(u: UCmd): void {
    if (u.unjammed) return;
    u.unjammed = true;
    u.sentToUser = false;
    const i = this.ready.indexOf(u);
    if (i >= 0) this.ready.splice(i, 1);
    const stage = u.onUnjam;
    if (u.cmd && !u.cmd.done) {
      this.#complete(u.cmd, u.cmd.aborted ? { status: 0x40 } : { status: 2, sense: KERNEL_SENSE.lunNotSupported });
    }
    stage?.();
  }

  // ---- sessions -------------------------------------------------------------------------

  attach(o: { initiator: string; target: string; lun?: number; rdOnly?: boolean }): Promise<ModelSession> {
    const s = new ModelSession(this.#nextSess, { initiator: o.initiator, target: o.target, lun: o.lun ?? 0, rdOnly: !!o.rdOnly });
    this.#nextSess += 0x1000n;
    this.sessions.add(s);
    const u = this.#newUcmd(true);
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (s.state !== 'attaching') return;
        s.state = 'failed';
        this.stats.attachTimeouts++;
        reject(new Error(`ATTACH_SESS of ${o.initiator} not answered within ${this.#o.attachTimeoutMs} ms`));
      }, this.#o.attachTimeoutMs);
      const fail = (why: string) => {
        clearTimeout(timer);
        s.state = 'failed';
        reject(new Error(why));
      };
      u.onUnjam = () => fail('ATTACH_SESS failed (device released)');
      this.#enqueue(u, U.UCMD_STATE_ATTACH_SESS, S.SCST_USER_ATTACH_SESS, 'sess', {
        sess_h: s.handle, lun: BigInt(s.lun), threads_num: 0, rd_only: s.rdOnly ? 1 : 0, initiator_name: s.initiator, target_name: s.target,
      }, (reply) => {
        this.ucmds.delete(u.h);
        if (s.state === 'attaching' && Date.now() - started > this.#o.attachTimeoutMs) {
          // wait_for_completion_timeout expired before this reply (whatever ran first here).
          clearTimeout(timer);
          s.state = 'failed';
          this.stats.attachTimeouts++;
          reject(new Error(`ATTACH_SESS of ${o.initiator} answered after ${Date.now() - started} ms`));
        }
        if (s.state !== 'attaching') {
          this.stats.lateAttachReplies++;
          return 0;
        }
        clearTimeout(timer);
        const result = reply.readInt32LE(8);
        if (result !== 0) {
          fail(`ATTACH_SESS refused (${result})`);
          return 0;
        }
        s.state = 'attached';
        resolve(s);
        return 0;
      });
    });
  }

  /** Removes a session once its commands are done: DETACH_SESS, answered before it resolves. */
  async detach(s: ModelSession): Promise<void> {
    while (s.commands.size > 0) await Promise.all([...s.commands].map((c) => c.promise));
    s.state = 'detached';
    const u = this.#newUcmd(true);
    await new Promise<void>((resolve) => {
      u.onUnjam = resolve;
      this.#enqueue(u, U.UCMD_STATE_DETACH_SESS, S.SCST_USER_DETACH_SESS, 'sess', { sess_h: s.handle }, () => {
        this.ucmds.delete(u.h);
        this.sessions.delete(s);
        resolve();
        return 0;
      });
    });
  }

  /** SCST_USER_DEVICE_CAPACITY_CHANGED: a UA for every session, TYPE_DISK only. */
  capacityChanged(): void {
    if (this.type !== 0) return;
    this.stats.capacityChanged++;
    for (const s of this.sessions) if (s.state === 'attached') s.pendingUa.push({ asc: 0x2a, ascq: 0x09 });
  }

  // ---- SCSI commands --------------------------------------------------------------------

  /** A SCSI command from the session; the promise carries its cmd_h (for ABORT TASK, refused replies). */
  submit(s: ModelSession, req: ModelRequest): Promise<ModelResult> & { readonly handle: number } {
    const u = this.#newUcmd(false);
    const c = new ModelCmd(s, req, u);
    u.cmd = c;
    s.commands.add(c);
    void this.#run(c);
    return Object.assign(c.promise, { handle: u.h });
  }

  #complete(c: ModelCmd, r: { status: number; sense?: Buffer; data?: Buffer }): void {
    if (c.done) return;
    c.done = true;
    c.session.commands.delete(c);
    c.resolve({ status: c.aborted ? 0x40 : r.status, sense: c.aborted ? undefined : r.sense, data: c.aborted ? Buffer.alloc(0) : (r.data ?? Buffer.alloc(0)), aborted: c.aborted, handle: c.ucmd.h });
    this.#onFree(c, r.status, r.data?.length ?? 0);
  }

  /** Runs one stage of a command: resolves true to go on, false when the command is finished. */
  #stage(c: ModelCmd, state: number, subcode: number, member: string, values: Record<string, number | bigint | Buffer | string>, onReply: (r: Buffer) => { rc: number; go: boolean }): Promise<boolean> {
    return new Promise((resolve) => {
      c.ucmd.onUnjam = () => resolve(false);
      this.#enqueue(c.ucmd, state, subcode, member, values, (r) => {
        const { rc, go } = onReply(r);
        resolve(go && !c.done);
        return rc;
      });
    });
  }

  async #run(c: ModelCmd): Promise<void> {
    const s = c.session;
    if (s.state !== 'attached') return this.#complete(c, { status: 2, sense: KERNEL_SENSE.lunNotSupported });
    const op = c.cdb[0]!;
    if (op === 0xa0) {
      // REPORT LUNS: the core answers it.
      const d = Buffer.alloc(16);
      d.writeUInt32BE(8, 0);
      d.writeUInt16BE(s.lun, 8);
      return this.#complete(c, { status: 0, data: d });
    }
    if (s.pendingUa.length > 0 && op !== 0x12 && op !== 0x03) {
      const ua = s.pendingUa.shift()!;
      return this.#complete(c, { status: 2, sense: sense(6, ua.asc, ua.ascq) });
    }
    const exp = c.req.expected ?? (c.req.dataOut ? { dir: 'write', length: c.req.dataOut.length } : { dir: 'read', length: 1 << 20 });
    const expDir = exp.dir === 'read' ? D.SCST_DATA_READ : exp.dir === 'write' ? D.SCST_DATA_WRITE : D.SCST_DATA_NONE;
    const parsed = modelParse(c.cdb, this.type, this.blockSize);
    if (parsed) ({ dir: c.dir, bufflen: c.bufflen, lba: c.lba, opFlags: c.opFlags } = parsed);
    const pt = this.opt.parse_type;
    if (pt === PARSE_TYPE.SCST_USER_PARSE_CALL || (pt === PARSE_TYPE.SCST_USER_PARSE_EXCEPTION && !parsed)) {
      this.stats.parses++;
      const go = await this.#stage(c, U.UCMD_STATE_PARSING, S.SCST_USER_PARSE, 'parse_cmd', {
        sess_h: s.handle, cdb: c.cdb.subarray(0, 16), cdb_len: c.cdb.length, lba: c.lba, data_len: c.bufflen, bufflen: c.bufflen,
        out_bufflen: 0, timeout: 60, op_flags: c.opFlags, queue_type: this.#queueType(c), data_direction: parsed ? c.dir : D.SCST_DATA_UNKNOWN,
        expected_values_set: 1, expected_data_direction: expDir, expected_transfer_len: exp.length, expected_out_transfer_len: 0, sn: c.ucmd.h,
      }, (r) => this.#parseReply(c, r));
      if (!go) return;
    } else if (!parsed) {
      return this.#complete(c, { status: 2, sense: KERNEL_SENSE.invalidOpcode });
    }
    if (s.rdOnly && c.opFlags & OP_FLAGS.SCST_WRITE_MEDIUM) return this.#complete(c, { status: 2, sense: KERNEL_SENSE.writeProtected });
    if (c.dir !== D.SCST_DATA_NONE && !(await this.#alloc(c))) return;
    if (c.aborted) return this.#complete(c, { status: 0x40 });
    const pbuf = c.buf?.pbuf ?? 0n;
    if (c.dir === D.SCST_DATA_WRITE && c.buf && c.req.dataOut) {
      // The target driver receives write data straight into the pinned pages.
      if (!this.#o.mem.write(pbuf, c.req.dataOut.subarray(0, c.bufflen))) return this.#complete(c, { status: 2, sense: KERNEL_SENSE.internalFailure });
    }
    const allocLen = pbuf === 0n && c.dir !== D.SCST_DATA_NONE ? this.#allocLen(c) : 0;
    if (pbuf === 0n && c.dir !== D.SCST_DATA_NONE) this.stats.execNoBuffer++;
    this.stats.execs++;
    await this.#stage(c, U.UCMD_STATE_EXECING, S.SCST_USER_EXEC, 'exec_cmd', {
      sess_h: s.handle, cdb: c.cdb.subarray(0, 16), cdb_len: c.cdb.length, lba: c.lba, data_len: c.bufflen, bufflen: c.bufflen,
      alloc_len: allocLen, pbuf, queue_type: this.#queueType(c), data_direction: c.dir, partial: 0, timeout: 60,
      p_out_buf: pbuf + BigInt(this.#pages(c) * PAGE), out_bufflen: 0, sn: c.ucmd.h,
    }, (r) => this.#execReply(c, r));
  }

  #queueType(c: ModelCmd): number {
    return { untagged: 0, simple: 1, ordered: 2, head: 3 }[c.req.queue ?? 'simple'];
  }

  #parseReply(c: ModelCmd, r: Buffer): { rc: number; go: boolean } {
    const L = 'scst_user_reply_cmd';
    const status = readNum(r, L, 'parse_reply.status');
    if (status !== 0) {
      const len = readNum(r, L, 'parse_reply.sense_len');
      const sn = len > 0 ? this.#o.mem.read(readPtr(r, L, 'parse_reply.psense_buffer'), Math.min(len, 252)) : undefined;
      if (len > 0 && !sn) {
        this.#complete(c, { status: 2, sense: KERNEL_SENSE.internalFailure });
        return { rc: -EFAULT, go: false };
      }
      this.#complete(c, { status, sense: sn });
      return { rc: 0, go: false };
    }
    const q = readNum(r, L, 'parse_reply.queue_type');
    const dir = readNum(r, L, 'parse_reply.data_direction');
    const bufflen = readNum(r, L, 'parse_reply.bufflen');
    const outLen = readNum(r, L, 'parse_reply.out_bufflen');
    const dataLen = Number(readStruct64(r, 'parse_reply.data_len'));
    const lba = Number(readStruct64(r, 'parse_reply.lba'));
    const cdbLen = readNum(r, L, 'parse_reply.cdb_len');
    const flags = readNum(r, L, 'parse_reply.op_flags');
    const bad = q > 4 || ![D.SCST_DATA_WRITE, D.SCST_DATA_READ, D.SCST_DATA_BIDI, D.SCST_DATA_NONE].includes(dir as 1) ||
      (dir !== D.SCST_DATA_NONE && bufflen === 0) || bufflen < 0 || outLen < 0 || dataLen < 0 || lba < 0 || cdbLen > c.cdb.length || !(flags & OP_FLAGS.SCST_INFO_VALID);
    if (bad) {
      this.stats.invalidReplies++;
      this.#complete(c, { status: 2, sense: KERNEL_SENSE.hardwareError });
      return { rc: -EINVAL, go: false };
    }
    c.dir = dir;
    c.bufflen = bufflen;
    c.lba = lba;
    c.opFlags = flags;
    this.parsed.push({ op: c.cdb[0]!, dir, bufflen, flags });
    return { rc: 0, go: true };
  }

  #reuses(c: ModelCmd): boolean {
    const m = this.opt.memory_reuse_type;
    return m === MEMORY_REUSE_TYPE.SCST_USER_MEM_REUSE_ALL ||
      (c.dir === D.SCST_DATA_READ && m === MEMORY_REUSE_TYPE.SCST_USER_MEM_REUSE_READ) ||
      (c.dir === D.SCST_DATA_WRITE && m === MEMORY_REUSE_TYPE.SCST_USER_MEM_REUSE_WRITE);
  }

  /** SGV: a cached buffer is 2^order pages (not cached beyond 1024 pages); others exactly bufflen. */
  #pages(c: ModelCmd): number {
    const pages = Math.max(1, Math.ceil(c.bufflen / PAGE));
    if (!this.#reuses(c) || pages > 1024) return pages;
    return 2 ** Math.ceil(Math.log2(pages));
  }

  #allocLen(c: ModelCmd): number {
    return this.#reuses(c) ? this.#pages(c) * PAGE : c.bufflen;
  }

  async #alloc(c: ModelCmd): Promise<boolean> {
    const cached = this.#reuses(c);
    const pages = this.#pages(c);
    if (cached && pages <= 1024) {
      const hit = [...this.#cache.values()].find((b) => !b.inUse && b.cacheable && b.pages === pages);
      if (hit) {
        this.stats.cacheHits++;
        hit.inUse = true;
        c.buf = { pbuf: hit.pbuf, cached: hit };
        return true;
      }
    }
    this.stats.cacheMisses++;
    if (c.dir !== D.SCST_DATA_WRITE) return true; // READ: the buffer comes with the EXEC reply
    this.stats.allocMems++;
    return this.#stage(c, U.UCMD_STATE_BUF_ALLOCING, S.SCST_USER_ALLOC_MEM, 'alloc_cmd', {
      sess_h: c.session.handle, cdb: c.cdb.subarray(0, 16), cdb_len: c.cdb.length, alloc_len: this.#allocLen(c),
      queue_type: this.#queueType(c), data_direction: c.dir, sn: c.ucmd.h,
    }, (r) => {
      const pbuf = readPtr(r, 'scst_user_reply_cmd', 'alloc_reply.pbuf');
      if (pbuf === 0n) {
        this.#complete(c, { status: 0x08 }); // BUSY
        return { rc: 0, go: false };
      }
      return this.#map(c, pbuf);
    });
  }

  /** dev_user_map_buf: pin the user's buffer (it must be writable memory; page-aligned if cached). */
  #map(c: ModelCmd, pbuf: bigint): { rc: number; go: boolean } {
    const cached = this.#reuses(c);
    if (cached && pbuf % BigInt(PAGE) !== 0n) {
      this.#complete(c, { status: 2, sense: KERNEL_SENSE.hardwareError });
      return { rc: -EINVAL, go: false };
    }
    const len = cached ? this.#pages(c) * PAGE : c.bufflen;
    if (!this.#o.mem.accessible(pbuf, len, true)) {
      this.#complete(c, { status: 2, sense: KERNEL_SENSE.internalFailure });
      return { rc: -EFAULT, go: false };
    }
    if (cached) {
      const b: CachedBuf = { pbuf, pages: this.#pages(c), ownerH: c.ucmd.h, cacheable: this.#pages(c) <= 1024, inUse: true };
      this.#cache.set(pbuf, b);
      c.buf = { pbuf, cached: b };
    } else {
      c.buf = { pbuf };
    }
    return { rc: 0, go: true };
  }

  #execReply(c: ModelCmd, r: Buffer): { rc: number; go: boolean } {
    const L = 'scst_user_reply_cmd';
    const type = readNum(r, L, 'exec_reply.reply_type');
    const resp = readNum(r, L, 'exec_reply.resp_data_len');
    const inval = () => {
      this.stats.invalidReplies++;
      this.#complete(c, { status: 2, sense: KERNEL_SENSE.internalFailure });
      return { rc: -EINVAL, go: false };
    };
    if (c.ucmd.background) {
      if (type !== EXEC_REPLY_TYPE.SCST_EXEC_REPLY_COMPLETED) return inval();
      c.ucmd.background = false;
      this.#freeAfterBackground(c);
      return { rc: 0, go: false };
    }
    if (type === EXEC_REPLY_TYPE.SCST_EXEC_REPLY_BACKGROUND) {
      if (c.dir & D.SCST_DATA_READ || resp !== 0) return inval();
      c.ucmd.background = true;
      c.done = true;
      c.session.commands.delete(c);
      c.resolve({ status: 0, data: Buffer.alloc(0), aborted: c.aborted, handle: c.ucmd.h });
      return { rc: 0, go: false };
    }
    if (type !== EXEC_REPLY_TYPE.SCST_EXEC_REPLY_COMPLETED) return inval(); // DO_WRITE_SAME: not modelled
    if (resp > c.bufflen || (c.dir !== D.SCST_DATA_READ && resp !== 0)) return inval();
    let data: Buffer | undefined;
    const replyPbuf = readPtr(r, L, 'exec_reply.pbuf');
    if (resp > 0) {
      if (!c.buf) {
        if (replyPbuf === 0n) {
          this.#complete(c, { status: 0x08 });
          return { rc: 0, go: false };
        }
        const m = this.#map(c, replyPbuf);
        if (m.rc === -EINVAL) return { rc: -EINVAL, go: false };
        if (!m.go) return { rc: 0, go: false };
      }
      data = this.#o.mem.read(c.buf!.pbuf, resp);
    } else if (replyPbuf !== 0n && !c.buf) {
      this.stats.ignoredPbufs++; // the kernel warns "Memory leak?" and ignores it
    }
    const status = readNum(r, L, 'exec_reply.status');
    const senseLen = readNum(r, L, 'exec_reply.sense_len');
    let sn: Buffer | undefined;
    if (senseLen > 0) {
      sn = this.#o.mem.read(readPtr(r, L, 'exec_reply.psense_buffer'), Math.min(senseLen, 252));
      if (!sn) {
        this.#complete(c, { status: 2, sense: KERNEL_SENSE.internalFailure });
        return { rc: -EFAULT, go: false };
      }
    }
    this.#complete(c, { status, sense: sn, data });
    return { rc: 0, go: false };
  }

  #freeAfterBackground(c: ModelCmd): void {
    this.#onFree(c, 0, 0);
  }

  /** dev_user_on_free_cmd: ON_FREE_CMD if asked for and seen by user space, then free the SGV object. */
  #onFree(c: ModelCmd, status: number, resp: number): void {
    const u = c.ucmd;
    if (u.background) return; // freed after the final COMPLETED reply
    const free = () => {
      this.#freeBuffer(c);
      if (!c.buf?.cached || c.buf.cached.ownerH !== u.h) this.ucmds.delete(u.h);
    };
    if (this.opt.on_free_cmd_type === ON_FREE_CMD_TYPE.SCST_USER_ON_FREE_CMD_IGNORE || !u.seenByUser || this.released) return free();
    this.stats.onFreeSent++;
    u.mgmt = false;
    u.onUnjam = undefined;
    this.#enqueue(u, U.UCMD_STATE_ON_FREEING, S.SCST_USER_ON_FREE_CMD, 'on_free_cmd', {
      pbuf: c.buf?.pbuf ?? 0n, resp_data_len: resp, buffer_cached: c.buf?.cached ? 1 : 0, aborted: c.aborted ? 1 : 0,
      status, delivery_status: c.aborted ? 0xfe : 0,
    }, () => {
      free();
      return 0;
    });
  }

  /** The SGV object goes back to the cache; an uncacheable one is freed: ON_CACHED_MEM_FREE at once. */
  #freeBuffer(c: ModelCmd): void {
    const b = c.buf?.cached;
    if (!b) return;
    b.inUse = false;
    if (!b.cacheable) this.#cachedMemFree(b);
  }

  #cachedMemFree(b: CachedBuf): void {
    this.#cache.delete(b.pbuf);
    const u = this.ucmds.get(b.ownerH) ?? this.#newUcmd(false, undefined, b.ownerH);
    u.cmd = undefined;
    u.mgmt = false;
    this.stats.cachedFreeSent++;
    this.#enqueue(u, U.UCMD_STATE_ON_CACHE_FREEING, S.SCST_USER_ON_CACHED_MEM_FREE, 'on_cached_mem_free', { pbuf: b.pbuf }, () => {
      this.stats.cachedFreed++;
      this.ucmds.delete(u.h);
      return 0;
    });
  }

  /** SGV purge (time, memory pressure, FLUSH_CACHE): every idle cached buffer goes back to user space. */
  purgeCache(): number {
    const idle = [...this.#cache.values()].filter((b) => !b.inUse);
    for (const b of idle) this.#cachedMemFree(b);
    return idle.length;
  }

  /** SCST_USER_PREALLOC_BUFFER: a user buffer becomes an idle cached SGV object. */
  prealloc(pbuf: bigint, bufflen: number): number {
    if (pbuf % BigInt(PAGE) !== 0n) return -EINVAL;
    const pages = Math.ceil(bufflen / PAGE);
    if (pages < 1 || pages > 1024 || (pages & (pages - 1)) !== 0) return -12; // ENOMEM: not an SGV size
    if (!this.#o.mem.accessible(pbuf, pages * PAGE, true)) return -EFAULT;
    const u = this.#newUcmd(false);
    this.#cache.set(pbuf, { pbuf, pages, ownerH: u.h, cacheable: true, inUse: false });
    return u.h;
  }

  get cachedBuffers(): { total: number; idle: number } {
    const all = [...this.#cache.values()];
    return { total: all.length, idle: all.filter((b) => !b.inUse).length };
  }

  /** GET_EXTENDED_CDB: the CDB bytes beyond 16 of a command currently with user space. */
  extendedCdb(h: number): Buffer | number {
    const u = this.ucmds.get(h);
    if (!u?.cmd || !u.sentToUser) return -EINVAL;
    return u.cmd.cdb.subarray(16);
  }

  // ---- task management ------------------------------------------------------------------

  taskMgmt(s: ModelSession, fn: number, cmdH = 0): Promise<number> {
    const all = [...this.sessions].flatMap((x) => [...x.commands]);
    const affected = fn === TM_FN.SCST_ABORT_TASK ? all.filter((c) => c.ucmd.h === cmdH)
      : fn === TM_FN.SCST_ABORT_TASK_SET || fn === TM_FN.SCST_ABORT_ALL_TASKS_SESS || fn === TM_FN.SCST_NEXUS_LOSS_SESS ? [...s.commands]
        : fn === TM_FN.SCST_CLEAR_ACA ? [] : all;
    for (const c of affected) c.aborted = true;
    // dev_user_abort_ready_commands: aborted commands user space has not seen are failed here.
    for (const u of [...this.ready]) if (u.cmd?.aborted && !u.seenByUser) this.#unjam(u);
    return new Promise((resolve) => {
      const received = this.#newUcmd(true);
      received.onUnjam = () => resolve(TM_STATUS.SCST_MGMT_STATUS_FAILED);
      this.#enqueue(received, U.UCMD_STATE_TM_RECEIVED_EXECING, S.SCST_USER_TASK_MGMT_RECEIVED, 'tm_cmd', { sess_h: s.handle, fn, cmd_h_to_abort: cmdH, cmd_sn: 0, cmd_sn_set: 0 }, () => {
        this.ucmds.delete(received.h);
        void Promise.all(affected.map((c) => c.promise)).then(() => {
          if (this.released) return resolve(TM_STATUS.SCST_MGMT_STATUS_FAILED);
          const done = this.#newUcmd(true);
          done.onUnjam = () => resolve(TM_STATUS.SCST_MGMT_STATUS_FAILED);
          this.#enqueue(done, U.UCMD_STATE_TM_DONE_EXECING, S.SCST_USER_TASK_MGMT_DONE, 'tm_cmd', { sess_h: s.handle, fn, cmd_h_to_abort: cmdH, cmd_sn: 0, cmd_sn_set: 0 }, (r) => {
            this.ucmds.delete(done.h);
            const result = r.readInt32LE(8);
            resolve(result === TM_STATUS.SCST_MGMT_STATUS_TASK_NOT_EXIST ? TM_STATUS.SCST_MGMT_STATUS_SUCCESS : result);
            return 0;
          });
        });
        return 0;
      });
    });
  }

  // ---- release (the fd closed) ----------------------------------------------------------

  release(): void {
    this.released = true;
    const fail = (u: UCmd, r: { status: number; sense?: Buffer }) => {
      const stage = u.onUnjam;
      if (u.cmd && !u.cmd.done) this.#complete(u.cmd, r);
      stage?.();
    };
    for (const u of this.ready.splice(0)) fail(u, { status: 0x08 }); // queued: BUSY
    for (const u of [...this.ucmds.values()]) if (u.sentToUser) fail(u, { status: 2, sense: KERNEL_SENSE.lunNotSupported });
    for (const s of this.sessions) s.state = 'gone';
    this.#cache.clear();
  }
}

function readStruct64(r: Buffer, field: string): bigint {
  const v = readPtr(r, 'scst_user_reply_cmd', field);
  return BigInt.asIntN(64, v);
}
