// Serves one logical unit as one SCST user-space device: one /dev/scst_user fd, registered once,
// driven from the event loop by a CommandLoop (command-loop.ts). This file handles what the
// kernel sends: sessions, PARSE, ALLOC_MEM, EXEC (exec.ts), the frees, task management, unknown
// subcommands; and the fd's life: registration, PREALLOC_BUFFER, capacity changes, a fatal error
// (close the fd, register again, put the LUN mappings back: closing makes the kernel delete
// them) and shutdown.
import {
  DEV_USER_NAME,
  SCST_USER_IOCTLS,
  encodeGetExtCdb,
  encodePreallocBuffer,
  decodePreallocBufferCmdH,
  SIZES,
  type UserCmd,
} from '../../ffi/scst-user-abi.ts';
import { errnoName } from '../../ffi/libc.ts';
import type { LogicalUnit } from '../../scsi/command.ts';
import { BufferPool, PAGE_SIZE } from './buffer-pool.ts';
import { CommandLoop } from './command-loop.ts';
import { ControlBlock } from './control-block.ts';
import { Executor } from './exec.ts';
import { parseCommand } from './parse.ts';
import type { OpenPort, ScstUserPort } from './port.ts';
import { registerDevice, registrationFor, type DeviceRegistration, type MemoryReuse } from './registration.ts';
import type { PendingReply } from './replies.ts';
import { SessionTable } from './sessions.ts';
import { scstCoreUas } from './unit-attentions.ts';
import { ScstSysfs, type LunMapping } from './sysfs.ts';
import { abortScope, doneStatus, luFunction, tmName } from './task-mgmt.ts';
import type { VersionChoice } from './version-source.ts';

type Log = (level: 'error' | 'warn' | 'info' | 'debug', message: string) => void;

export interface DeviceServerOptions {
  readonly lu: LogicalUnit;
  readonly openPort: OpenPort;
  readonly versions: VersionChoice;
  readonly log: Log;
  readonly memoryReuse?: MemoryReuse;
  /** Buffers donated to the kernel's SGV cache at registration (PREALLOC_BUFFER), per pool. */
  readonly prealloc?: { readonly count: number; readonly bytes: number };
  /** Stop fetching commands while this many are in flight (the kernel queues the rest). */
  readonly maxInFlight?: number;
  readonly sysfs?: ScstSysfs;
  /** Re-registration after a fatal fd error: attempts and the first delay (doubled each time). */
  readonly restart?: { readonly attempts: number; readonly delayMs: number };
}

type LoopCounters = CommandLoop['stats'];
function addCounters(into: LoopCounters, from: LoopCounters): void {
  for (const k of Object.keys(into) as (keyof LoopCounters)[]) into[k] += from[k];
}

export class DeviceServer {
  readonly lu: LogicalUnit;
  readonly registration: DeviceRegistration;
  readonly #o: DeviceServerOptions;
  readonly #sysfs: ScstSysfs;
  #port: ScstUserPort | undefined;
  #cb: ControlBlock | undefined;
  #loop: CommandLoop | undefined;
  #pool = new BufferPool();
  readonly #sessions: SessionTable;
  #exec: Executor;
  #state: 'new' | 'serving' | 'draining' | 'restarting' | 'failed' | 'closed' = 'new';
  #pendingTm = 0;
  /** Loop counters of earlier registrations (each fd has its own loop). */
  #loopTotals: LoopCounters = { ioctls: 0, wakeups: 0, replies: 0, replyErrors: 0 };
  #mappings: LunMapping[] = [];
  #restartTimer: NodeJS.Timeout | undefined;
  /** The version string the kernel accepted. */
  version = '';
  readonly stats = {
    parses: 0, allocs: 0, onFree: 0, cachedFree: 0, attaches: 0, detaches: 0, tmReceived: 0, tmDone: 0, unknown: 0,
    registrations: 0, restarts: 0, preallocated: 0,
  };

  constructor(o: DeviceServerOptions) {
    this.#o = o;
    this.lu = o.lu;
    this.registration = registrationFor(o.lu, o.memoryReuse);
    this.#sysfs = o.sysfs ?? new ScstSysfs();
    this.#sessions = new SessionTable(o.lu.name, (t) => this.#sysfs.relativeTargetPort(t));
    // SCST's core keeps the reset, nexus-loss, LUN-map, capacity and mode-change UAs itself and
    // must never get a 29h UA from us (unit-attentions.ts).
    o.lu.ua?.delegate(scstCoreUas(o.lu.peripheralType));
    this.#exec = this.#newExecutor();
  }

  get state(): string {
    return this.#state;
  }

  /** Opens the fd, registers the device and starts serving. Throws with the reason. */
  start(): void {
    if (this.#state !== 'new') throw new Error(`${this.lu.name}: already started`);
    this.#register();
  }

  #newExecutor(): Executor {
    return new Executor({ lu: this.lu, pool: this.#pool, sessions: this.#sessions, reply: (r) => this.#reply(r), log: this.#o.log });
  }

  #register(): void {
    const port = this.#o.openPort();
    const cb = new ControlBlock();
    try {
      this.version = registerDevice(port, cb, this.registration, this.#o.versions);
    } catch (e) {
      port.close();
      cb.dispose();
      throw e;
    }
    this.#port = port;
    this.#cb = cb;
    this.#loop = new CommandLoop({
      name: this.lu.name,
      port,
      cb,
      wantCommands: () => this.#state === 'serving' && this.#exec.inFlight < (this.#o.maxInFlight ?? 512),
      dispatch: (c) => this.#dispatch(c),
      fatal: (why) => this.#fatal(why),
      log: this.#o.log,
    });
    this.stats.registrations++;
    this.#state = 'serving';
    this.#preallocate();
    this.#loop.pump();
  }

  /** PREALLOC_BUFFER: page-aligned buffers handed to the kernel's SGV cache before any command. */
  #preallocate(): void {
    const p = this.#o.prealloc;
    if (!p || p.count <= 0) return;
    const cb = this.#cb!;
    const bytes = Math.max(PAGE_SIZE, 2 ** Math.ceil(Math.log2(p.bytes)));
    for (let i = 0; i < p.count * 2; i++) {
      const buf = this.#pool.lend(bytes);
      if (!buf) break;
      encodePreallocBuffer(cb.dv, cb.argOffset, buf.address, bytes, i % 2);
      const rc = this.#port!.ioctl(SCST_USER_IOCTLS.SCST_USER_PREALLOC_BUFFER, cb.argAddress);
      if (rc < 0) {
        this.#pool.release(buf.address);
        this.#o.log('warn', `${this.lu.name}: PREALLOC_BUFFER of ${bytes} bytes: ${errnoName(-rc)}`);
        break;
      }
      this.stats.preallocated++;
      this.#o.log('debug', `${this.lu.name}: preallocated ${bytes} bytes as cmd_h ${decodePreallocBufferCmdH(cb.dv, cb.argOffset)}`);
    }
  }

  #reply(r: PendingReply): void {
    this.#loop?.reply(r);
  }

  // ---- subcommands ----------------------------------------------------------------------

  #dispatch(c: UserCmd): void {
    const name = this.lu.name;
    switch (c.kind) {
      case 'exec':
        this.#exec.start(c, this.#fullCdb(c.cmd_h, c.cdb, c.cdb_len));
        return;
      case 'alloc_mem': {
        this.stats.allocs++;
        const buf = this.#pool.lend(c.alloc_len);
        if (!buf) this.#o.log('warn', `${name}: no memory for a ${c.alloc_len}-byte buffer; the command fails BUSY`);
        this.#reply({ kind: 'alloc', cmd_h: c.cmd_h, pbuf: buf?.address ?? 0n });
        return;
      }
      case 'on_free':
        this.stats.onFree++;
        // A cached buffer stays with the kernel until ON_CACHED_MEM_FREE.
        if (!c.buffer_cached && c.pbuf !== 0n) this.#pool.release(c.pbuf);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
        return;
      case 'on_cached_mem_free':
        this.stats.cachedFree++;
        if (!this.#pool.release(c.pbuf)) this.#o.log('warn', `${name}: ON_CACHED_MEM_FREE for 0x${c.pbuf.toString(16)}, which we did not lend`);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
        return;
      case 'parse': {
        this.stats.parses++;
        const cdb = this.#fullCdb(c.cmd_h, c.cdb, c.cdb_len) ?? Buffer.from(c.cdb);
        const d = parseCommand(c, cdb, this.lu.peripheralType, {
          blockSize: this.registration.blockSize,
          fixedBlockLength: () => {
            const v = this.lu.describe().blockLength;
            return typeof v === 'number' ? v : undefined;
          },
        });
        this.#reply({ kind: 'parse', cmd_h: c.cmd_h, reply: d.reply });
        return;
      }
      case 'attach_sess': {
        this.stats.attaches++;
        const { session, replaced } = this.#sessions.attach(c);
        if (replaced) this.lu.nexusLost(replaced.nexus);
        this.#o.log('info', `${name}: session ${session.initiator} -> ${session.target} LUN ${session.lun}${session.readOnly ? ' (read-only)' : ''}`);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
        void this.#sysfs.exportsOf(name).then((m) => {
          if (m.length > 0) this.#mappings = m;
        });
        return;
      }
      case 'detach_sess': {
        this.stats.detaches++;
        const s = this.#sessions.detach(c.sess_h);
        if (s) this.lu.nexusLost(s.nexus);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
        return;
      }
      case 'tm_received': {
        this.stats.tmReceived++;
        const n = this.#exec.abort(abortScope(c.fn, c.cmd_h_to_abort), this.#sessions.get(c.sess_h), `aborted by ${tmName(c.fn)}`);
        this.#o.log('info', `${name}: task management ${tmName(c.fn)}: ${n} command(s) in flight aborted`);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
        return;
      }
      case 'tm_done':
        this.stats.tmDone++;
        this.#tmDone(c.cmd_h, c.subcode, c.fn, c.sess_h);
        return;
      case 'ext_copy_remap':
        this.#reply({ kind: 'remap', cmd_h: c.cmd_h });
        return;
      default: {
        // Not a subcommand this ABI knows. Echo it with an empty payload so the kernel is not
        // left waiting for a reply; whatever it was, we did nothing.
        this.stats.unknown++;
        this.#o.log('warn', `${name}: unknown subcommand 0x${c.subcode.toString(16)} (cmd_h ${c.cmd_h}); answered with an empty reply`);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
      }
    }
  }

  /** TASK_MGMT_DONE: the affected commands are answered; the LU now performs the function. */
  #tmDone(cmdH: number, subcode: number, fn: number, sessH: bigint): void {
    const f = luFunction(fn);
    const session = this.#sessions.get(sessH);
    // The loop of this registration: after a re-registration the old cmd_h means nothing.
    const loop = this.#loop;
    const reply = (failed: boolean) => loop?.reply({ kind: 'result', cmd_h: cmdH, subcode, result: doneStatus(fn, failed) });
    if (!f || !session) {
      reply(false);
      return;
    }
    this.#pendingTm++;
    this.lu.taskManagement(f, session.nexus).then(
      () => reply(false),
      (e: Error) => {
        this.#o.log('warn', `${this.lu.name}: ${tmName(fn)}: ${e.message}`);
        reply(true);
      },
    ).finally(() => this.#pendingTm--);
  }

  /** The whole CDB: the 16 inline bytes plus GET_EXTENDED_CDB for longer ones (undefined if that fails). */
  #fullCdb(cmdH: number, inline: Uint8Array, cdbLen: number): Buffer | undefined {
    if (cdbLen <= SIZES.SCST_MAX_CDB_SIZE) return Buffer.from(inline.buffer, inline.byteOffset, inline.byteLength);
    const cb = this.#cb!;
    encodeGetExtCdb(cb.dv, cb.argOffset, cmdH, cb.extCdbAddress);
    const rc = this.#port!.ioctl(SCST_USER_IOCTLS.SCST_USER_GET_EXTENDED_CDB, cb.argAddress);
    if (rc < 0) {
      this.#o.log('error', `${this.lu.name}: GET_EXTENDED_CDB cmd_h ${cmdH}: ${errnoName(-rc)}`);
      return undefined;
    }
    return Buffer.concat([inline, cb.extCdb(cdbLen - SIZES.SCST_MAX_CDB_SIZE)]);
  }

  /** The LU's capacity changed: the kernel raises CAPACITY DATA HAS CHANGED (disks only). */
  capacityChanged(): void {
    if (!this.#port || this.#state !== 'serving') return;
    const rc = this.#port.ioctl(SCST_USER_IOCTLS.SCST_USER_DEVICE_CAPACITY_CHANGED, 0n);
    if (rc < 0) this.#o.log('warn', `${this.lu.name}: DEVICE_CAPACITY_CHANGED: ${errnoName(-rc)}`);
  }

  // ---- failure, restart, shutdown -------------------------------------------------------

  /** Drops the fd and everything tied to it; the kernel fails what it still holds. */
  #teardown(why: string): void {
    if (this.#loop) {
      this.#loop.stop();
      addCounters(this.#loopTotals, this.#loop.stats);
      this.#loop = undefined;
    }
    this.#port?.close();
    this.#port = undefined;
    this.#exec.dropAll(why);
    for (const s of this.#sessions.clear()) this.lu.nexusLost(s.nexus);
    // Buffers the old registration had are never reused: the kernel may still hold pins on them.
    this.#pool.dispose();
    this.#pool = new BufferPool();
    this.#exec = this.#newExecutor();
    this.#cb?.dispose();
    this.#cb = undefined;
  }

  #fatal(why: string): void {
    if (this.#state !== 'serving' && this.#state !== 'draining') return;
    const draining = this.#state === 'draining';
    this.#o.log('error', `${this.lu.name}: ${DEV_USER_NAME} ${why}; ${draining ? 'closing' : 're-registering'}`);
    this.#state = draining ? 'closed' : 'restarting';
    // Mappings as they are now (the device may still be registered), else the last ones seen.
    const snapshot = this.#sysfs.exportsOf(this.lu.name);
    this.#teardown(why);
    if (draining) return;
    void snapshot.then((m) => {
      if (m.length > 0) this.#mappings = m;
      this.#scheduleRestart(0);
    });
  }

  #scheduleRestart(attempt: number): void {
    const r = this.#o.restart ?? { attempts: 5, delayMs: 1000 };
    if (this.#state !== 'restarting') return;
    if (attempt >= r.attempts) {
      this.#state = 'failed';
      this.#o.log('error', `${this.lu.name}: gave up re-registering after ${attempt} attempts`);
      return;
    }
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#state !== 'restarting') return;
      try {
        this.#register();
      } catch (e) {
        this.#o.log('warn', `${this.lu.name}: re-registration failed: ${(e as Error).message}`);
        this.#scheduleRestart(attempt + 1);
        return;
      }
      this.stats.restarts++;
      this.#o.log('warn', `${this.lu.name}: registered again with SCST`);
      if (this.#mappings.length > 0) {
        void this.#sysfs.restore(this.lu.name, this.#mappings).then((errors) => {
          for (const e of errors) this.#o.log('warn', `${this.lu.name}: LUN not restored: ${e}`);
          if (errors.length === 0) this.#o.log('info', `${this.lu.name}: ${this.#mappings.length} LUN mapping(s) restored`);
        });
      } else {
        this.#o.log('warn', `${this.lu.name}: no LUN mapping known; add the device to its targets again (scstadmin)`);
      }
    }, attempt === 0 ? 0 : r.delayMs * 2 ** (attempt - 1));
  }

  /**
   * Answers what is in flight (up to timeoutMs), sends the last replies without fetching more,
   * then closes the fd: the kernel unregisters the device and fails what it still queued (BUSY).
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    if (this.#state === 'closed') return;
    if (this.#state === 'serving') {
      this.#state = 'draining';
      this.#loop?.updateWatch();
      const done = await this.#exec.idle(timeoutMs);
      await this.#tmIdle(timeoutMs);
      this.#loop?.pump();
      if (!done) this.#o.log('warn', `${this.lu.name}: ${this.#exec.inFlight} command(s) still in flight at close`);
    }
    this.#state = 'closed';
    this.#teardown('link closing');
    this.#pool.dispose();
  }

  async #tmIdle(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.#pendingTm > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  }

  describe(): Record<string, unknown> {
    return {
      name: this.lu.name,
      state: this.#state,
      parse: this.registration.parseType,
      memoryReuse: this.registration.memoryReuse,
      sessions: this.#sessions.size,
      inFlight: this.#exec.inFlight,
      pendingReplies: this.#loop?.pendingReplies ?? 0,
      ...this.stats,
      ...this.#loopCounters(),
      exec: { ...this.#exec.stats },
      buffers: this.#pool.stats(),
    };
  }

  #loopCounters(): LoopCounters {
    const t = { ...this.#loopTotals };
    if (this.#loop) addCounters(t, this.#loop.stats);
    return t;
  }

  /** For tests and the status line: the session table and buffer pool as they are. */
  get sessions(): SessionTable {
    return this.#sessions;
  }
  get pool(): BufferPool {
    return this.#pool;
  }
  get exec(): Executor {
    return this.#exec;
  }
}
