// The tcmu link: every device becomes a LIO user backstore (core/user_N/NAME) served from its
// /dev/uioN ring, and every target is exported through tcm_loop (--export local: /dev/sdX on
// this machine) or LIO's own iSCSI target (--export iscsi: the portal, default 127.0.0.1:3260).
//
// Start-up per device: find a backstore with the same name left by an earlier run. If it is ours
// and matches (same dev_config, size and block size), re-attach (block_dev=1, reset_ring=1,
// open+mmap, block_dev=0: commands on the ring at the crash are failed BUSY, so initiators
// retry), keeping any export and thus the /dev/sdX. Otherwise remove it (and LUN links to it)
// and create a fresh one. Served is a UIO that somebody else holds open (EBUSY): refused.
// Shutdown: remove exports while still serving (sd sends SYNCHRONIZE CACHE on removal), wait
// for in-flight commands, stop, unmap, close, rmdir the backstore.
import type { LogicalUnit, Nexus } from '../../scsi/command.ts';
import { listUio, UioDevice, type UioInfo } from '../../ffi/uio.ts';
import { StartupError } from '../../host/errors.ts';
import type { Link, LinkContext, LinkLun } from '../link.ts';
import {
  addExportLun,
  backstoreAction,
  createBackstore,
  createExport,
  devConfigOf,
  ensureModule,
  ensureTcmuReady,
  findBackstore,
  iscsiUrl,
  initiatorDriverFor,
  localDeviceOf,
  lunLinksTo,
  removeBackstore,
  removeExport,
  removeLunLink,
  type Backstore,
  type BackstoreSpec,
  type Export,
  type ExportKind,
  type ExportSpec,
} from './configfs.ts';
import { TcmuServer, type RingPort } from './server.ts';

export { TcmuServer } from './server.ts';
export type { RingPort } from './server.ts';
export type { ExportKind } from './configfs.ts';

/** Largest command: 1 MiB (hw_max_sectors 2048 at 512 bytes), the biggest gain under TCMU (measured in the VM bench). */
const MAX_IO_BYTES = 1 << 20;
/** Data area per device: a few full-size commands in flight; LIO queues the rest (qfull). */
const DATA_AREA_MB = 64;

export interface TcmuLinkOptions extends LinkContext {
  export: ExportKind;
}

interface Served {
  lu: LogicalUnit;
  backstore: Backstore;
  uio: UioDevice;
  server: TcmuServer;
  reattached: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function nexusFor(name: string): Nexus {
  return { id: `tcmu:${name}`, initiatorPort: `tcmu:${name}`, targetPort: `tcmu:${name}`, relativeTargetPort: 1, transportId: Buffer.alloc(0) };
}

/** The user backstore for `lu`: its dev_config, dev_size, block size, command size and timeout. */
export function backstoreSpecFor(lu: LogicalUnit): BackstoreSpec {
  const d = lu.describe();
  const blockSize = typeof d.blockSize === 'number' ? d.blockSize : 512;
  const blocks = d.blocks !== undefined ? Number(d.blocks) : undefined;
  const bytes = blocks !== undefined && Number.isFinite(blocks) ? blocks * blockSize : typeof d.sizeBytes === 'number' ? d.sizeBytes : 0;
  const file = typeof d.backing === 'string' ? d.backing : lu.name;
  const slow = lu.peripheralType === 1 || lu.peripheralType === 8; // tape, changer: minutes-long commands
  return {
    name: lu.name,
    config: `${lu.type};${file}`,
    // LIO never range-checks a passthrough CDB against dev_size, but computes its block count as
    // (dev_size - block) / block in u64: below one block (an empty CD drive; tape drives and
    // changers, which have no size) that wraps to 2^53 blocks, and LIO then words the CHECK
    // CONDITIONs it answers itself (PR, its unit attentions, timeouts) in descriptor format.
    // One block is the floor.
    sizeBytes: Math.max(bytes, blockSize),
    blockSize,
    maxSectors: Math.max(8, Math.floor(MAX_IO_BYTES / blockSize)),
    dataAreaMb: DATA_AREA_MB,
    cmdTimeOut: slow ? 900 : 30,
  };
}

async function findUio(prefix: string, timeoutMs = 10_000): Promise<UioInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const u = listUio().find((i) => i.name.startsWith(prefix));
    if (u && u.map0Size > 0) return u;
    if (Date.now() > deadline) throw new Error(`no /dev/uio* named ${prefix}... appeared`);
    await sleep(50);
  }
}

function portOf(uio: UioDevice): RingPort {
  return {
    buffer: uio.map.buffer,
    mapSize: uio.info.map0Size,
    readEvent: () => uio.readEvent(),
    notify: () => uio.notify(),
    watch: (cb) => uio.watch(cb),
    unwatch: () => uio.unwatch(),
  };
}

export class TcmuLink implements Link {
  readonly name = 'tcmu';
  readonly #o: TcmuLinkOptions;
  readonly #served = new Map<string, Served>();
  /** Target IQN -> its export (and the spec it was made from), in creation order. */
  readonly #exports = new Map<string, { ex: Export; spec: ExportSpec }>();
  #closing?: Promise<void>;

  constructor(o: TcmuLinkOptions) {
    this.#o = o;
  }

  async start(): Promise<LinkLun[]> {
    try {
      await ensureTcmuReady();
    } catch (e) {
      throw new StartupError(`--link tcmu: ${(e as Error).message}`);
    }
    try {
      const units = new Map<string, LogicalUnit>();
      for (const t of this.#o.targets) for (const lu of t.luns.values()) units.set(lu.name, lu);
      for (const lu of units.values()) await this.#attach(lu);
      const out: LinkLun[] = [];
      for (const t of this.#o.targets) {
        const spec: ExportSpec = {
          kind: this.#o.export,
          iqn: t.iqn,
          luns: [...t.luns].map(([lun, lu]) => ({ lun, backstore: this.#served.get(lu.name)!.backstore })),
          portal: this.#o.portal,
          access: {
            acls: t.acls,
            chap: t.chap,
            luns: [...t.luns].map(([lun, lu]) => ({ lun, device: lu.name, ...(t.readOnly?.has(lun) ? { readOnly: true } : {}) })),
          },
        };
        for (const lu of t.luns.values()) await this.#loadInitiatorDriver(spec, lu);
        const ex = await createExport(spec);
        this.#exports.set(t.iqn, { ex, spec });
        for (const [lun, lu] of t.luns) out.push(await this.#linkLun(t.iqn, lun, lu));
      }
      return out;
    } catch (e) {
      await this.close(5_000).catch((c: Error) => this.#o.log('warn', `cleanup after failed start: ${c.message}`));
      if (e instanceof StartupError) throw e;
      throw new StartupError(`--link tcmu: ${(e as Error).message}`);
    }
  }

  /** A local export: the kernel's driver for the device type, so the LUN gets its /dev node. */
  async #loadInitiatorDriver(spec: ExportSpec, lu: LogicalUnit): Promise<void> {
    if (spec.kind !== 'local') return;
    const drv = initiatorDriverFor(lu.peripheralType);
    if (drv) await ensureModule(drv).catch((e: Error) => this.#o.log('warn', `modprobe ${drv}: ${e.message}`));
  }

  /** What the status line says about an exported LUN: its /dev node or LIO iSCSI URL, backstore and UIO. */
  async #linkLun(target: string, lun: number, lu: LogicalUnit): Promise<LinkLun> {
    const { ex, spec } = this.#exports.get(target)!;
    const s = this.#served.get(lu.name)!;
    const url = spec.kind === 'local' ? ((await localDeviceOf(ex, lun)) ?? `${ex.tpgPath}/lun/lun_${lun}`) : iscsiUrl(spec, lun);
    return { device: lu.name, target, lun, url, link: { export: spec.kind, backstore: s.backstore.path, uio: s.uio.info.devPath, reattached: s.reattached } };
  }

  /**
   * A new LUN on a running target: a backstore served like those made at start, then its LUN
   * symlink in the target's export. LIO raises 3F/0E REPORTED LUNS DATA HAS CHANGED itself, and
   * tcm_loop adds the SCSI device on the local host (a new /dev node).
   */
  async addLun(target: string, lun: number, lu: LogicalUnit): Promise<LinkLun> {
    const entry = this.#exports.get(target);
    if (!entry) throw new Error(`no target ${target}`);
    if (entry.ex.luns.some((l) => l.lun === lun)) throw new Error(`${target}: LUN ${lun} is already in use`);
    if (this.#served.has(lu.name)) throw new Error(`${lu.name} is already served`);
    await this.#attach(lu);
    try {
      await this.#loadInitiatorDriver(entry.spec, lu);
      entry.ex = await addExportLun(entry.ex, { lun, backstore: this.#served.get(lu.name)!.backstore });
    } catch (e) {
      const s = this.#served.get(lu.name)!;
      this.#served.delete(lu.name);
      s.server.stop();
      s.uio.close();
      await removeBackstore(s.backstore).catch(() => {});
      throw e;
    }
    return this.#linkLun(target, lun, lu);
  }

  async #attach(lu: LogicalUnit): Promise<void> {
    const spec = backstoreSpecFor(lu);
    const log = this.#o.log;
    const stale = await findBackstore(lu.name);
    if (stale) {
      const same = stale.enabled && stale.devConfig === devConfigOf(spec) && stale.sizeBytes === spec.sizeBytes && stale.blockSize === spec.blockSize;
      const uioInfo = stale.enabled ? listUio().find((i) => i.name.startsWith(stale.uioPrefix)) : undefined;
      if (same && uioInfo) {
        log('info', `${lu.name}: re-attaching to ${stale.path} left by an earlier run`);
        this.#served.set(lu.name, await this.#serve(lu, stale, uioInfo, true));
        return;
      }
      log('warn', `${lu.name}: replacing stale backstore ${stale.path} (${stale.devConfig || 'no dev_config'}, ${stale.sizeBytes ?? '?'} bytes)`);
      const links = await lunLinksTo(stale);
      if (uioInfo && links.length > 0) {
        // Serve the old ring with this LU while its exports go away: LUN removal sends
        // SYNCHRONIZE CACHE etc., which would otherwise wait out cmd_time_out per command.
        const tmp = await this.#serve(lu, stale, uioInfo, true);
        try {
          for (const l of links) await removeLunLink(l);
          await tmp.server.idle(10_000);
        } finally {
          tmp.server.stop();
          tmp.uio.close();
        }
      } else {
        if (stale.enabled) await backstoreAction(stale, 'reset_ring', 2).catch(() => {});
        for (const l of links) await removeLunLink(l);
      }
      await removeBackstore(stale);
    }
    const backstore = await createBackstore(spec);
    try {
      this.#served.set(lu.name, await this.#serve(lu, backstore, await findUio(backstore.uioPrefix), false));
    } catch (e) {
      await removeBackstore(backstore).catch(() => {});
      throw e;
    }
  }

  /**
   * Open, map and serve a backstore's UIO. reattach: the ring may hold commands of a dead
   * process: block_dev=1, reset_ring=1 (they fail BUSY, the initiator retries), serve, block_dev=0.
   */
  async #serve(lu: LogicalUnit, backstore: Backstore, uioInfo: UioInfo, reattach: boolean): Promise<Served> {
    const log = this.#o.log;
    let uio: UioDevice;
    try {
      uio = UioDevice.open(uioInfo);
    } catch (e) {
      if ((e as { code?: string }).code === 'EBUSY') throw new StartupError(`${lu.name}: backstore ${backstore.path} is being served by another process (${uioInfo.devPath} is busy)`);
      throw e;
    }
    try {
      if (reattach) {
        await backstoreAction(backstore, 'block_dev', 1);
        await backstoreAction(backstore, 'reset_ring', 1);
      }
      const server = new TcmuServer({
        lu,
        port: portOf(uio),
        nexus: nexusFor(lu.name),
        log,
        recover: (step) => backstoreAction(backstore, step === 'reset' ? 'reset_ring' : 'block_dev', step === 'unblock' ? 0 : 1),
      });
      const caps = server.ring.capabilities;
      log('debug', `${lu.name}: ${uio.info.devPath} map ${uio.info.map0Size} bytes, ring ${server.ring.cmdrSize}, caps ooo=${caps.outOfOrder} read_len=${caps.readLen} tmr=${caps.tmr}, ${server.ring.completionMode}`);
      server.start();
      if (reattach) await backstoreAction(backstore, 'block_dev', 0);
      return { lu, backstore, uio, server, reattached: reattach };
    } catch (e) {
      uio.close();
      throw e;
    }
  }

  stats(): Record<string, unknown> {
    return {
      link: 'tcmu',
      export: this.#o.export,
      devices: [...this.#served.values()].map((s) => ({ name: s.lu.name, uio: s.uio.info.devPath, ...s.server.describe() })),
    };
  }

  close(timeoutMs = 10_000): Promise<void> {
    this.#closing ??= (async () => {
      const errors: string[] = [];
      // 1. exports first, while we still serve (removal sends SYNCHRONIZE CACHE to us).
      const exports = [...this.#exports.values()].reverse();
      this.#exports.clear();
      for (const { ex } of exports) {
        await removeExport(ex).catch((e: Error) => errors.push(`export ${ex.wwnPath}: ${e.message}`));
      }
      // 2. let in-flight commands finish, then stop and unmap, then remove the backstores.
      for (const s of this.#served.values()) {
        if (!(await s.server.idle(timeoutMs))) errors.push(`${s.lu.name}: ${s.server.inFlight} commands still in flight; dropped`);
        s.server.stop();
        s.uio.close();
        await removeBackstore(s.backstore).catch((e: Error) => errors.push(`backstore ${s.backstore.path}: ${e.message}`));
      }
      this.#served.clear();
      if (errors.length) throw new Error(`tcmu link teardown: ${errors.join('; ')}`);
    })();
    return this.#closing;
  }
}
