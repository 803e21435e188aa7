// An in-process model of the kernel side of /dev/scst_user, for unit tests. It plugs in where
// the link opens the device (an OpenPort), so the link under test is the real one: it encodes
// its structs in native memory and passes addresses, and the model reads and writes that memory
// the way the kernel does (copy_from_user / copy_to_user, EFAULT outside mapped memory; data
// written into the pinned buffer before EXEC, read back after the reply).
//
// ioctls modelled: REGISTER_DEVICE (license, version string read from a fixed-length window,
// block size, options, a name still registered (ENOMEM), /var/lib/scst/pr missing (ENOENT), one
// device per fd), REPLY_AND_GET_MULTI (replies in order,
// stop at the first refused one with replies_done written and no command; non-blocking get:
// EAGAIN with nothing; only the bytes of each subcommand's payload are written), REPLY_CMD,
// REPLY_AND_GET_CMD, DEVICE_CAPACITY_CHANGED, PREALLOC_BUFFER, GET_EXTENDED_CDB, FLUSH_CACHE,
// GET_OPTIONS, UNREGISTER_DEVICE. poll: readable while a subcommand is queued (level-triggered).
// Faults a test can inject: EINTR after the reply phase, a restarted ioctl (the same argument
// processed twice, as with SA_RESTART), a refused reply, an fd that fails.
import { ACCEPTED_LICENSES, KNOWN_SCST_RELEASES, SCST_USER_IOCTLS as IO, devUserVersion, encodeOpt, type UserOpt } from '../../src/ffi/scst-user-abi.ts';
import type { ScstUserPort } from '../../src/links/scst_user/port.ts';
import { UserMemory, readNum, readPtr } from './scst-user-model-abi.ts';
import { ModelDevice } from './scst-user-model-device.ts';

export { ModelDevice, ModelSession, KERNEL_SENSE, type ModelRequest, type ModelResult } from './scst-user-model-device.ts';

const EINVAL = 22;
const EFAULT = 14;
const EPERM = 1;
const ENOMEM = 12;
const ENOENT = 2;
const ENODEV = 19;
const EAGAIN = 11;
const EINTR = 4;
const REPLY = 56;
const SLOT = 544;

const MASTER = KNOWN_SCST_RELEASES[KNOWN_SCST_RELEASES.length - 1]!;
export const MODEL_DEFAULT_VERSION = devUserVersion(MASTER.versionName, MASTER.devUserIntfVer, MASTER.constIntfVer);

export interface ModelOptions {
  /** DEV_USER_VERSION the "module" was built with. */
  readonly version?: string;
  /** DEV_USER_ATTACH_TIMEOUT (5 s in the kernel). */
  readonly attachTimeoutMs?: number;
  /** /var/lib/scst/pr exists (SCST's make install creates it); default true. */
  readonly prDirectory?: boolean;
}

export class ScstUserModel {
  readonly version: string;
  readonly attachTimeoutMs: number;
  prDirectory: boolean;
  readonly devices = new Map<string, ModelDevice>();
  readonly files: ModelFile[] = [];
  readonly kernelLog: string[] = [];
  readonly mem = new UserMemory();
  readonly stats = { multiCalls: 0, maxReplies: 0, maxCmds: 0, repliesProcessed: 0, refusedReplies: 0, eagain: 0 };

  constructor(o: ModelOptions = {}) {
    this.version = o.version ?? MODEL_DEFAULT_VERSION;
    this.attachTimeoutMs = o.attachTimeoutMs ?? 5000;
    this.prDirectory = o.prDirectory ?? true;
  }

  /** Kernel BUGs the devices hit (the real kernel stops at the first). */
  get bugs(): string[] {
    return [...this.devices.values()].flatMap((d) => d.core.bugs);
  }

  /** open("/dev/scst_user", O_RDWR | O_NONBLOCK). */
  readonly open = (): ModelFile => {
    const f = new ModelFile(this);
    this.files.push(f);
    return f;
  };

  device(name: string): ModelDevice {
    const d = this.devices.get(name);
    if (!d) throw new Error(`no device ${name} registered in the model`);
    return d;
  }

  /** The open file that registered `name` (for fault injection). */
  fileOf(name: string): ModelFile {
    const f = this.files.find((x) => x.dev?.name === name && !x.closed);
    if (!f) throw new Error(`no open file for ${name}`);
    return f;
  }
}

export class ModelFile implements ScstUserPort {
  readonly #m: ScstUserModel;
  dev: ModelDevice | undefined;
  closed = false;
  #watcher: ((status: number) => void) | undefined;
  #pollScheduled = false;
  #broken: number | undefined;
  readonly #faults: ('eintr' | 'restart')[] = [];
  readonly #refuse = new Set<number>();
  readonly ioctls = new Map<number, number>();

  constructor(m: ScstUserModel) {
    this.#m = m;
  }

  /** The next REPLY_AND_GET_MULTI returns EINTR after its reply phase (no command fetched). */
  injectEintr(): void {
    this.#faults.push('eintr');
  }
  /** The next REPLY_AND_GET_MULTI is re-executed with the same argument (SA_RESTART after a signal). */
  injectRestart(): void {
    this.#faults.push('restart');
  }
  /** The reply for cmd_h is refused (EINVAL) and the kernel fails that command itself. */
  refuseReply(cmdH: number): void {
    this.#refuse.add(cmdH);
  }
  /** Every later call fails with errno and poll reports an error (the device broke under us). */
  break(errno = ENODEV): void {
    this.#broken = errno;
    this.poke();
  }

  ioctl(request: number, arg: bigint): number {
    if (this.closed) return -9;
    this.ioctls.set(request, (this.ioctls.get(request) ?? 0) + 1);
    if (this.#broken !== undefined) return -this.#broken;
    const rc = this.#ioctl(request, arg);
    this.poke();
    return rc;
  }

  #ioctl(request: number, arg: bigint): number {
    const mem = this.#m.mem;
    if (request === IO.SCST_USER_REGISTER_DEVICE) return this.#register(arg);
    if (request === IO.SCST_USER_UNREGISTER_DEVICE) return this.dev ? 0 : -ENODEV;
    const dev = this.dev;
    if (!dev) return -ENODEV;
    switch (request) {
      case IO.SCST_USER_REPLY_AND_GET_MULTI:
        return this.#multi(dev, arg);
      case IO.SCST_USER_REPLY_CMD: {
        const r = mem.read(arg, REPLY);
        return r ? this.#reply(dev, r) : -EFAULT;
      }
      case IO.SCST_USER_REPLY_AND_GET_CMD: {
        const p = mem.read(arg + 8n, 8);
        if (!p) return -EFAULT;
        const preply = p.readBigUInt64LE(0);
        if (preply !== 0n) {
          const r = mem.read(preply, REPLY);
          if (!r) return -EFAULT;
          const rc = this.#reply(dev, r);
          if (rc < 0) return rc;
        }
        return this.#get(dev, arg);
      }
      case IO.SCST_USER_DEVICE_CAPACITY_CHANGED:
        dev.capacityChanged();
        return 0;
      case IO.SCST_USER_FLUSH_CACHE:
        dev.purgeCache();
        return 0;
      case IO.SCST_USER_PREALLOC_BUFFER: {
        const a = mem.read(arg, 16);
        if (!a) return -EFAULT;
        const h = dev.prealloc(a.readBigUInt64LE(0), a.readUInt32LE(8));
        if (h < 0) return h;
        const out = Buffer.alloc(4);
        out.writeUInt32LE(h);
        return mem.write(arg, out) ? 0 : -EFAULT;
      }
      case IO.SCST_USER_GET_EXTENDED_CDB: {
        const a = mem.read(arg, 16);
        if (!a) return -EFAULT;
        const ext = dev.extendedCdb(a.readUInt32LE(0));
        if (typeof ext === 'number') return ext;
        return mem.write(a.readBigUInt64LE(8), ext) ? 0 : -EFAULT;
      }
      case IO.SCST_USER_GET_OPTIONS: {
        const b = Buffer.alloc(20);
        encodeOpt(new DataView(b.buffer, b.byteOffset, 20), 0, dev.opt);
        return mem.write(arg, b) ? 0 : -EFAULT;
      }
      default:
        return -EINVAL;
    }
  }

  #register(arg: bigint): number {
    const m = this.#m;
    const d = m.mem.read(arg, 160);
    if (!d) return -EFAULT;
    const L = 'scst_user_dev_desc';
    const name = cString(d.subarray(53, 103));
    // The kernel copies a fixed max(sizeof(DEV_USER_VERSION), 20) bytes from both pointers.
    const n = Math.max(m.version.length + 1, 20);
    const lic = m.mem.read(readPtr(d, L, 'license_str'), n);
    if (!lic) return -EFAULT;
    if (!(ACCEPTED_LICENSES as readonly string[]).includes(cString(lic))) {
      m.kernelLog.push(`Unsupported license of user device ${name} (${cString(lic)})`);
      return -EPERM;
    }
    const ver = m.mem.read(readPtr(d, L, 'version_str'), n);
    if (!ver) return -EFAULT;
    if (cString(ver) !== m.version) {
      m.kernelLog.push(`Incorrect version of user device ${name} (${cString(ver)}). Expected: ${m.version}`);
      return -EINVAL;
    }
    const type = readNum(d, L, 'type');
    const bs = readNum(d, L, 'block_size');
    if ((type === 0 || type === 5 || type === 7) && (bs < 512 || (bs & (bs - 1)) !== 0)) return -EINVAL;
    const opt = decodeOptAt(d, 28);
    if (!validOpt(opt)) return -EINVAL;
    // dev_user_register_dev creates the device's SGV pool, named after it, before anything
    // checks the name: a name still registered fails there.
    if (m.devices.has(name)) {
      m.kernelLog.push(`SGV pool ${name} already exists`);
      return -ENOMEM;
    }
    // scst_register_virtual_device -> scst_pr_init_dev: the PR file's directory must exist.
    if (!m.prDirectory) {
      m.kernelLog.push(`PR file name /var/lib/scst/pr/${name} parent directory doesn't exist`);
      return -ENOENT;
    }
    if (this.dev) return -EINVAL;
    this.dev = new ModelDevice({ name, type, blockSize: bs, opt, mem: m.mem, attachTimeoutMs: m.attachTimeoutMs, poke: () => this.poke() });
    m.devices.set(name, this.dev);
    return 0;
  }

  #reply(dev: ModelDevice, r: Buffer): number {
    const h = r.readUInt32LE(0);
    if (this.#refuse.delete(h)) {
      this.#m.stats.refusedReplies++;
      return dev.refuseReply(h);
    }
    this.#m.stats.repliesProcessed++;
    return dev.processReply(r);
  }

  #get(dev: ModelDevice, where: bigint): number {
    const u = dev.next();
    if (!u) return -EAGAIN;
    if (!this.#m.mem.write(where, u.image.subarray(0, u.length))) {
      dev.requeue(u);
      return -EFAULT;
    }
    return 0;
  }

  /** dev_user_reply_get_multi. */
  #multi(dev: ModelDevice, arg: bigint): number {
    const m = this.#m;
    const hdr = m.mem.read(arg, 16);
    if (!hdr) return -EFAULT;
    m.stats.multiCalls++;
    const preplies = hdr.readBigUInt64LE(0);
    const repliesCnt = hdr.readInt16LE(8);
    const cmdsCnt = hdr.readInt16LE(12);
    m.stats.maxReplies = Math.max(m.stats.maxReplies, repliesCnt);
    const fault = this.#faults.shift();
    const put16 = (off: number, v: number) => {
      const b = Buffer.alloc(2);
      b.writeInt16LE(v);
      m.mem.write(arg + BigInt(off), b);
    };
    let done = 0;
    const replies = (): number => {
      done = 0;
      for (let i = 0; i < repliesCnt; i++) {
        const r = m.mem.read(preplies + BigInt(i * REPLY), REPLY);
        if (!r) return -EFAULT;
        const rc = this.#reply(dev, r);
        if (rc < 0) return rc;
        done++;
      }
      return 0;
    };
    let rc = replies();
    if (rc === 0 && fault === 'restart') rc = replies(); // the whole ioctl again, same argument
    put16(10, done);
    if (rc < 0) {
      put16(12, 0);
      return rc;
    }
    if (fault === 'eintr') {
      put16(12, 0);
      return -EINTR;
    }
    let i = 0;
    for (; i < cmdsCnt; i++) {
      rc = this.#get(dev, arg + 16n + BigInt(i * SLOT));
      if (rc !== 0) break;
    }
    put16(12, i);
    m.stats.maxCmds = Math.max(m.stats.maxCmds, i);
    if (rc === -EAGAIN && i > 0) rc = 0;
    if (rc === -EAGAIN) m.stats.eagain++;
    return rc;
  }

  // ---- poll ----

  watch(cb: (status: number) => void): void {
    if (this.#watcher) throw new Error('already watching');
    this.#watcher = cb;
    this.poke();
  }

  unwatch(): void {
    this.#watcher = undefined;
  }

  /** Level-triggered readiness: call the watcher (on a later turn) while something is queued. */
  poke(): void {
    if (this.#pollScheduled || !this.#watcher) return;
    if (this.#broken === undefined && !(this.dev && this.dev.ready.length > 0)) return;
    this.#pollScheduled = true;
    setImmediate(() => {
      this.#pollScheduled = false;
      const w = this.#watcher;
      if (!w || this.closed) return;
      if (this.#broken !== undefined) w(-this.#broken);
      else if (this.dev && this.dev.ready.length > 0) w(0);
      this.poke();
    });
  }

  kernelLog(): readonly string[] {
    return this.#m.kernelLog;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#watcher = undefined;
    if (this.dev) {
      this.dev.release();
      this.#m.devices.delete(this.dev.name);
    }
  }
}

function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.toString('latin1', 0, z < 0 ? b.length : z);
}

function decodeOptAt(d: Buffer, off: number): UserOpt {
  const b = d.subarray(off, off + 20);
  return {
    parse_type: b[0]!, on_free_cmd_type: b[1]!, memory_reuse_type: b[2]!, partial_transfers_type: b[3]!, partial_len: b.readInt32LE(4),
    tst: b[8]!, tmf_only: b[9]!, queue_alg: b[10]!, qerr: b[11]!, tas: b[12]!, swp: b[13]!, d_sense: b[14]!,
    has_own_order_mgmt: b[15]!, ext_copy_remap_supported: b[16]!,
  };
}

/** __dev_user_set_opt's checks. */
function validOpt(o: UserOpt): boolean {
  return o.parse_type <= 2 && o.on_free_cmd_type <= 1 && o.memory_reuse_type <= 3 && o.partial_transfers_type <= 2 &&
    o.tst <= 1 && o.tmf_only <= 1 && o.queue_alg <= 1 && o.qerr !== 2 && o.qerr <= 3 && o.swp <= 1 && o.tas <= 1 &&
    o.has_own_order_mgmt <= 1 && o.d_sense <= 1 && o.ext_copy_remap_supported <= 1;
}
