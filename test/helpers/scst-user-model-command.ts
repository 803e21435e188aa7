// A SCSI command's life inside the scst_user model (scst_user.c, scst_targ.c): the core's own answers
// (REPORT LUNS, pending UAs, unknown opcodes, read-only LUNs), parse per parse type (PARSE and
// its reply validation), buffer allocation (SGV hit, ALLOC_MEM for writes, EXEC with pbuf 0 for
// reads), data-out into the pinned pages, EXEC and its reply validation, data-in and sense read
// from user memory, then ON_FREE_CMD or a silent free, and the buffer back to the SGV cache.
import {
  DATA_DIRECTION as D,
  EXEC_REPLY_TYPE,
  MEMORY_REUSE_TYPE,
  ON_FREE_CMD_TYPE,
  OP_FLAGS,
  PARSE_TYPE,
  SCST_USER_SUBCODES as S,
  UCMD_STATE as U,
  type UserOpt,
} from '../../src/ffi/scst-user-abi.ts';
import { readNum, readPtr, type UserMemory } from './scst-user-model-abi.ts';
import { modelParse } from './scst-user-model-parser.ts';
import { KERNEL_SENSE, type Outcome, type UCmd, type UcmdQueue, type Values } from './scst-user-model-queue.ts';
import { PAGE, sgvPages, type CachedBuf, type SgvCache } from './scst-user-model-sgv.ts';
import type { CoreUnitAttentions } from './scst-user-model-ua.ts';

const EINVAL = 22;
const EFAULT = 14;
const L = 'scst_user_reply_cmd';

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

/** The session a command arrives on (ModelSession). */
export interface CommandSession {
  readonly handle: bigint;
  readonly lun: number;
  readonly rdOnly: boolean;
  readonly state: string;
  readonly pendingUa: { asc: number; ascq: number }[];
  readonly commands: Set<ModelCmd>;
}

export class ModelCmd {
  readonly session: CommandSession;
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
  /** Reached the device while dev_double_ua_possible was set (cmd->double_ua_possible). */
  doubleUaPossible = false;
  resolve!: (r: ModelResult) => void;
  /** The kernel BUGged on this command. */
  crash!: (e: Error) => void;
  readonly promise: Promise<ModelResult>;
  constructor(session: CommandSession, req: ModelRequest, ucmd: UCmd) {
    this.session = session;
    this.req = req;
    this.cdb = Buffer.from(req.cdb);
    this.ucmd = ucmd;
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.crash = reject;
    });
  }
}

export interface CommandStats {
  parses: number; allocMems: number; execs: number; execNoBuffer: number; cacheHits: number; cacheMisses: number;
  onFreeSent: number; cachedFreeSent: number; cachedFreed: number; ignoredPbufs: number; invalidReplies: number;
}

export interface CommandLifeOptions {
  readonly queue: UcmdQueue;
  readonly sgv: SgvCache;
  readonly opt: UserOpt;
  readonly type: number;
  readonly blockSize: number;
  readonly mem: UserMemory;
  readonly stats: CommandStats;
  readonly core: CoreUnitAttentions;
  /** Every accepted PARSE reply (opcode, direction, bufflen, op_flags), in order. */
  readonly parsed: { op: number; dir: number; bufflen: number; flags: number }[];
}

type Step = { rc: number; go: boolean };

export class CommandLife {
  readonly #o: CommandLifeOptions;

  constructor(o: CommandLifeOptions) {
    this.#o = o;
  }

  submit(s: CommandSession, req: ModelRequest): Promise<ModelResult> & { readonly handle: number } {
    const u = this.#o.queue.create(false);
    const c = new ModelCmd(s, req, u);
    u.cmd = c;
    s.commands.add(c);
    void this.#run(c);
    return Object.assign(c.promise, { handle: u.h });
  }

  /** The command is finished: the initiator gets its result, then the free path runs. */
  complete(c: ModelCmd, r: Outcome & { data?: Buffer }): void {
    if (c.done) return;
    c.done = true;
    c.session.commands.delete(c);
    c.resolve({ status: c.aborted ? 0x40 : r.status, sense: c.aborted ? undefined : r.sense, data: c.aborted ? Buffer.alloc(0) : (r.data ?? Buffer.alloc(0)), aborted: c.aborted, handle: c.ucmd.h });
    this.#onFree(c, r.status, r.data?.length ?? 0);
  }

  /** Runs one stage: resolves true to go on, false when the command is finished. */
  #stage(c: ModelCmd, state: number, subcode: number, member: string, values: Values, onReply: (r: Buffer) => Step): Promise<boolean> {
    return new Promise((resolve) => {
      c.ucmd.onUnjam = () => resolve(false);
      this.#o.queue.enqueue(c.ucmd, state, subcode, member, values, (r) => {
        const { rc, go } = onReply(r);
        resolve(go && !c.done);
        return rc;
      });
    });
  }

  async #run(c: ModelCmd): Promise<void> {
    const s = c.session;
    if (s.state !== 'attached') return this.complete(c, { status: 2, sense: KERNEL_SENSE.lunNotSupported });
    const op = c.cdb[0]!;
    if (op === 0xa0) {
      // REPORT LUNS: the core answers it.
      const d = Buffer.alloc(16);
      d.writeUInt32BE(8, 0);
      d.writeUInt16BE(s.lun, 8);
      return this.complete(c, { status: 0, data: d });
    }
    const ua = this.#o.core.takePending(s, op);
    if (ua) return this.complete(c, { status: 2, sense: KERNEL_SENSE.unitAttention(ua.asc, ua.ascq) });
    c.doubleUaPossible = this.#o.core.entering();
    const exp = c.req.expected ?? (c.req.dataOut ? { dir: 'write', length: c.req.dataOut.length } : { dir: 'read', length: 1 << 20 });
    const expDir = exp.dir === 'read' ? D.SCST_DATA_READ : exp.dir === 'write' ? D.SCST_DATA_WRITE : D.SCST_DATA_NONE;
    const parsed = modelParse(c.cdb, this.#o.type, this.#o.blockSize);
    if (parsed) ({ dir: c.dir, bufflen: c.bufflen, lba: c.lba, opFlags: c.opFlags } = parsed);
    const pt = this.#o.opt.parse_type;
    if (pt === PARSE_TYPE.SCST_USER_PARSE_CALL || (pt === PARSE_TYPE.SCST_USER_PARSE_EXCEPTION && !parsed)) {
      this.#o.stats.parses++;
      const go = await this.#stage(c, U.UCMD_STATE_PARSING, S.SCST_USER_PARSE, 'parse_cmd', {
        sess_h: s.handle, cdb: c.cdb.subarray(0, 16), cdb_len: c.cdb.length, lba: c.lba, data_len: c.bufflen, bufflen: c.bufflen,
        out_bufflen: 0, timeout: 60, op_flags: c.opFlags, queue_type: queueType(c), data_direction: parsed ? c.dir : D.SCST_DATA_UNKNOWN,
        expected_values_set: 1, expected_data_direction: expDir, expected_transfer_len: exp.length, expected_out_transfer_len: 0, sn: c.ucmd.h,
      }, (r) => this.#parseReply(c, r));
      if (!go) return;
    } else if (!parsed) {
      return this.complete(c, { status: 2, sense: KERNEL_SENSE.invalidOpcode }); // "Refusing unknown opcode"
    }
    if (s.rdOnly && c.opFlags & OP_FLAGS.SCST_WRITE_MEDIUM) return this.complete(c, { status: 2, sense: KERNEL_SENSE.writeProtected });
    if (c.dir !== D.SCST_DATA_NONE && !(await this.#alloc(c))) return;
    if (c.aborted) return this.complete(c, { status: 0x40 });
    const pbuf = c.buf?.pbuf ?? 0n;
    if (c.dir === D.SCST_DATA_WRITE && c.buf && c.req.dataOut) {
      // The target driver receives write data straight into the pinned pages.
      if (!this.#o.mem.write(pbuf, c.req.dataOut.subarray(0, c.bufflen))) return this.complete(c, { status: 2, sense: KERNEL_SENSE.internalFailure });
    }
    const noBuffer = pbuf === 0n && c.dir !== D.SCST_DATA_NONE;
    if (noBuffer) this.#o.stats.execNoBuffer++;
    this.#o.stats.execs++;
    await this.#stage(c, U.UCMD_STATE_EXECING, S.SCST_USER_EXEC, 'exec_cmd', {
      sess_h: s.handle, cdb: c.cdb.subarray(0, 16), cdb_len: c.cdb.length, lba: c.lba, data_len: c.bufflen, bufflen: c.bufflen,
      alloc_len: noBuffer ? this.#allocLen(c) : 0, pbuf, queue_type: queueType(c), data_direction: c.dir, partial: 0, timeout: 60,
      p_out_buf: pbuf + BigInt(this.#pages(c) * PAGE), out_bufflen: 0, sn: c.ucmd.h,
    }, (r) => this.#execReply(c, r));
  }

  #parseReply(c: ModelCmd, r: Buffer): Step {
    const status = readNum(r, L, 'parse_reply.status');
    if (status !== 0) {
      const len = readNum(r, L, 'parse_reply.sense_len');
      const sn = len > 0 ? this.#o.mem.read(readPtr(r, L, 'parse_reply.psense_buffer'), Math.min(len, 252)) : undefined;
      if (len > 0 && !sn) return this.#failed(c, KERNEL_SENSE.internalFailure, -EFAULT);
      this.complete(c, { status, sense: sn });
      return { rc: 0, go: false };
    }
    const q = readNum(r, L, 'parse_reply.queue_type');
    const dir = readNum(r, L, 'parse_reply.data_direction');
    const bufflen = readNum(r, L, 'parse_reply.bufflen');
    const outLen = readNum(r, L, 'parse_reply.out_bufflen');
    const dataLen = Number(BigInt.asIntN(64, readPtr(r, L, 'parse_reply.data_len')));
    const lba = Number(BigInt.asIntN(64, readPtr(r, L, 'parse_reply.lba')));
    const cdbLen = readNum(r, L, 'parse_reply.cdb_len');
    const flags = readNum(r, L, 'parse_reply.op_flags');
    const dirs: number[] = [D.SCST_DATA_WRITE, D.SCST_DATA_READ, D.SCST_DATA_BIDI, D.SCST_DATA_NONE];
    const bad = q > 4 || !dirs.includes(dir) || (dir !== D.SCST_DATA_NONE && bufflen === 0) || bufflen < 0 || outLen < 0 ||
      dataLen < 0 || lba < 0 || cdbLen > c.cdb.length || !(flags & OP_FLAGS.SCST_INFO_VALID);
    if (bad) {
      this.#o.stats.invalidReplies++;
      return this.#failed(c, KERNEL_SENSE.internalFailure, -EINVAL); // HARDWARE ERROR
    }
    c.dir = dir;
    c.bufflen = bufflen;
    c.lba = lba;
    c.opFlags = flags;
    this.#o.parsed.push({ op: c.cdb[0]!, dir, bufflen, flags });
    return { rc: 0, go: true };
  }

  #failed(c: ModelCmd, sense: Buffer, rc: number): Step {
    this.complete(c, { status: 2, sense });
    return { rc, go: false };
  }

  /** is_buff_cached: memory reuse applies to this command's direction. */
  #reuses(c: ModelCmd): boolean {
    const m = this.#o.opt.memory_reuse_type;
    return m === MEMORY_REUSE_TYPE.SCST_USER_MEM_REUSE_ALL ||
      (c.dir === D.SCST_DATA_READ && m === MEMORY_REUSE_TYPE.SCST_USER_MEM_REUSE_READ) ||
      (c.dir === D.SCST_DATA_WRITE && m === MEMORY_REUSE_TYPE.SCST_USER_MEM_REUSE_WRITE);
  }

  #pages(c: ModelCmd): number {
    return sgvPages(c.bufflen, this.#reuses(c));
  }

  /** alloc_len: sg_cnt pages when cached, else bufflen. */
  #allocLen(c: ModelCmd): number {
    return this.#reuses(c) ? this.#pages(c) * PAGE : c.bufflen;
  }

  async #alloc(c: ModelCmd): Promise<boolean> {
    const hit = this.#reuses(c) ? this.#o.sgv.take(this.#pages(c)) : undefined;
    if (hit) {
      this.#o.stats.cacheHits++;
      c.buf = { pbuf: hit.pbuf, cached: hit };
      return true;
    }
    this.#o.stats.cacheMisses++;
    if (c.dir !== D.SCST_DATA_WRITE) return true; // READ: the buffer comes with the EXEC reply
    this.#o.stats.allocMems++;
    return this.#stage(c, U.UCMD_STATE_BUF_ALLOCING, S.SCST_USER_ALLOC_MEM, 'alloc_cmd', {
      sess_h: c.session.handle, cdb: c.cdb.subarray(0, 16), cdb_len: c.cdb.length, alloc_len: this.#allocLen(c),
      queue_type: queueType(c), data_direction: c.dir, sn: c.ucmd.h,
    }, (r) => {
      const pbuf = readPtr(r, L, 'alloc_reply.pbuf');
      if (pbuf === 0n) {
        this.complete(c, { status: 0x08 }); // BUSY
        return { rc: 0, go: false };
      }
      return this.#map(c, pbuf);
    });
  }

  /** dev_user_map_buf: pin the user's buffer (writable memory; page-aligned when cached). */
  #map(c: ModelCmd, pbuf: bigint): Step {
    const cached = this.#reuses(c);
    if (cached && pbuf % BigInt(PAGE) !== 0n) return this.#failed(c, KERNEL_SENSE.internalFailure, -EINVAL);
    const len = cached ? this.#pages(c) * PAGE : c.bufflen;
    if (!this.#o.mem.accessible(pbuf, len, true)) return this.#failed(c, KERNEL_SENSE.internalFailure, -EFAULT);
    c.buf = cached ? { pbuf, cached: this.#o.sgv.add(pbuf, this.#pages(c), c.ucmd.h, true) } : { pbuf };
    return { rc: 0, go: true };
  }

  #execReply(c: ModelCmd, r: Buffer): Step {
    const type = readNum(r, L, 'exec_reply.reply_type');
    const resp = readNum(r, L, 'exec_reply.resp_data_len');
    const inval = () => {
      this.#o.stats.invalidReplies++;
      return this.#failed(c, KERNEL_SENSE.internalFailure, -EINVAL);
    };
    if (c.ucmd.background) {
      if (type !== EXEC_REPLY_TYPE.SCST_EXEC_REPLY_COMPLETED) return inval();
      c.ucmd.background = false;
      this.#onFree(c, 0, 0);
      return { rc: 0, go: false };
    }
    if (type === EXEC_REPLY_TYPE.SCST_EXEC_REPLY_BACKGROUND) {
      if (c.dir & D.SCST_DATA_READ || resp !== 0) return inval();
      // GOOD to the initiator now; the final COMPLETED reply comes later.
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
          this.complete(c, { status: 0x08 });
          return { rc: 0, go: false };
        }
        const m = this.#map(c, replyPbuf);
        // dev_user_process_reply_exec: only a misaligned cached buffer fails the ioctl here
        if (!m.go) return { rc: m.rc === -EINVAL ? -EINVAL : 0, go: false };
      }
      data = this.#o.mem.read(c.buf!.pbuf, resp);
    } else if (replyPbuf !== 0n && !c.buf) {
      this.#o.stats.ignoredPbufs++; // the kernel warns "Memory leak?" and ignores it
    }
    const senseLen = readNum(r, L, 'exec_reply.sense_len');
    let sn: Buffer | undefined;
    if (senseLen > 0) {
      sn = this.#o.mem.read(readPtr(r, L, 'exec_reply.psense_buffer'), Math.min(senseLen, 252));
      if (!sn) return this.#failed(c, KERNEL_SENSE.internalFailure, -EFAULT);
    }
    const status = readNum(r, L, 'exec_reply.status');
    const bug = this.#o.core.completed(c.session, c.cdb[0]!, c.doubleUaPossible, status, sn);
    if (bug) {
      c.done = true;
      c.session.commands.delete(c);
      c.crash(new Error(bug));
      return { rc: 0, go: false };
    }
    this.complete(c, { status, sense: sn, data });
    return { rc: 0, go: false };
  }

  /** dev_user_on_free_cmd: ON_FREE_CMD if asked for and seen by user space, then free the SGV object. */
  #onFree(c: ModelCmd, status: number, resp: number): void {
    const u = c.ucmd;
    if (u.background) return; // freed after the final COMPLETED reply
    const q = this.#o.queue;
    const free = () => {
      const b = c.buf?.cached;
      if (b) {
        b.inUse = false;
        if (!b.cacheable) this.cachedMemFree(b);
      }
      // the ucmd that supplied a cached buffer lives on with it (ON_CACHED_MEM_FREE uses its cmd_h)
      if (!b || b.ownerH !== u.h) q.ucmds.delete(u.h);
    };
    if (this.#o.opt.on_free_cmd_type === ON_FREE_CMD_TYPE.SCST_USER_ON_FREE_CMD_IGNORE || !u.seenByUser || q.released) return free();
    this.#o.stats.onFreeSent++;
    u.mgmt = false;
    u.onUnjam = undefined;
    q.enqueue(u, U.UCMD_STATE_ON_FREEING, S.SCST_USER_ON_FREE_CMD, 'on_free_cmd', {
      pbuf: c.buf?.pbuf ?? 0n, resp_data_len: resp, buffer_cached: c.buf?.cached ? 1 : 0, aborted: c.aborted ? 1 : 0,
      status, delivery_status: c.aborted ? 0xfe : 0,
    }, () => {
      free();
      return 0;
    });
  }

  /** A cached buffer leaves the SGV cache: ON_CACHED_MEM_FREE with its supplier's cmd_h. */
  cachedMemFree(b: CachedBuf): void {
    const q = this.#o.queue;
    this.#o.sgv.delete(b);
    const u = q.ucmds.get(b.ownerH) ?? q.create(false, undefined, b.ownerH);
    u.cmd = undefined;
    u.mgmt = false;
    this.#o.stats.cachedFreeSent++;
    q.enqueue(u, U.UCMD_STATE_ON_CACHE_FREEING, S.SCST_USER_ON_CACHED_MEM_FREE, 'on_cached_mem_free', { pbuf: b.pbuf }, () => {
      this.#o.stats.cachedFreed++;
      q.ucmds.delete(u.h);
      return 0;
    });
  }
}

function queueType(c: ModelCmd): number {
  return { untagged: 0, simple: 1, ordered: 2, head: 3 }[c.req.queue ?? 'simple'];
}
