// The handler host: creates logical units from the registry, groups them into SCSI targets, puts
// them on a link (embedded iSCSI or LIO tcmu), and takes it all down again in order (link first,
// then flush and close).
import { logicalUnitProblem, type DeviceConfig, type HandlerHost } from '../handlers/contract.ts';
import type { LogicalUnit, ResizeOptions } from '../scsi/command.ts';
import { IscsiLink, type IscsiLinkOptions } from '../links/iscsi/link.ts';
import type { Link, LinkContext, LinkLun, LinkTarget } from '../links/link.ts';
import { chooseLink, probeKernel, type LinkProbe } from '../links/select.ts';
import { TcmuLink, type ExportKind } from '../links/tcmu/index.ts';
import { ScstUserLink, type OpenPort } from '../links/scst_user/index.ts';
import type { ServeConfig, TargetConfig } from './config.ts';
import { StartupError } from './errors.ts';
import type { Logger } from './log.ts';
import type { HandlerRegistry } from './registry.ts';
import { ControlServer, defaultControlPath, type ControlRequest } from './control.ts';
import { isMediaChanger } from '../handlers/cdrom/create.ts';
import { folderSetDevices, openFolderSet, type FolderSet } from './folder-sets.ts';
import { accessProblem, reloadProblem, type LunMapping } from './acl.ts';

export interface ServedLun {
  device: string;
  type: string;
  file?: string;
  target: string;
  lun: number;
  url: string;
  /** Which link serves it: 'iscsi' (embedded) or 'tcmu'. */
  via: string;
  details: Record<string, unknown>;
  link?: Record<string, unknown>;
  /** The ACL entry (initiator name or pattern) whose own LUN map this LUN belongs to. */
  acl?: string;
}

export interface HostOptions {
  probe?: LinkProbe;
  /** tcmu only: tcm_loop (a local /dev/sdX, the default) or LIO's iSCSI target. */
  export?: ExportKind;
  /** Control socket path (status, media changes at run time); default defaultControlPath(); false: none. */
  control?: string | false;
  /** Told about every LUN added while running (a new image in a folder of ISOs). */
  onServed?: (lun: ServedLun) => void;
  /** scst_user only: the DEV_USER_VERSION string to register with (default: found, see src/links/scst_user). */
  scstVersion?: string;
  /** scst_user only: how /dev/scst_user is opened (tests plug the kernel model in here). */
  scstUserPort?: OpenPort;
  /** iscsi only: serving part of the portal's targets in one of several threads (src/host/threads). */
  iscsi?: IscsiLinkOptions;
}

/** What the command line serves until a signal: one Host, or several threads' (src/host/threads). */
export interface Serving {
  readonly served: ServedLun[];
  readonly control?: ControlServer | undefined;
  /** Devices and link counters (fileio_tgt status, SIGUSR1). */
  status(): Promise<Record<string, unknown>>;
  /**
   * Devices re-read their backing size (SIGUSR2, fileio_tgt resize); resolves with those whose
   * capacity changed. A shrunk image is refused (logged) unless `allowShrink`; `devices` limits it.
   */
  resize(o?: HostResize): Promise<string[]>;
  /** New ACLs and CHAP from a reloaded config (SIGHUP); resolves with one line per closed session. */
  reloadAccess(cfg: ServeConfig): Promise<string[]>;
  close(timeoutMs?: number): Promise<void>;
}

export interface HostResize extends ResizeOptions {
  /** Only these devices (all when absent). */
  readonly devices?: readonly string[];
}

export interface ResizeReport {
  resized: string[];
  failed: Array<{ device: string; error: string }>;
}

export class Host implements Serving {
  readonly served: ServedLun[];
  readonly link: Link;
  private readonly units: LogicalUnit[];
  private readonly log: Logger;
  private closing?: Promise<void>;
  /** The control channel, when a device has media to change (see control.ts). */
  control?: ControlServer;
  /** Folders of images served as sets of drives (they grow at run time). */
  private sets: FolderSet[] = [];
  /** What it serves (access rules included) and its units by device name, for reloadAccess(). */
  private cfg: ServeConfig | undefined;
  private unitsByName: ReadonlyMap<string, LogicalUnit> = new Map();
  private exportKind: string | undefined;
  private onServed: ((lun: ServedLun) => void) | undefined;

  private constructor(units: LogicalUnit[], link: Link, served: ServedLun[], log: Logger) {
    this.units = units;
    this.link = link;
    this.served = served;
    this.log = log;
  }

  static async start(cfg: ServeConfig, registry: HandlerRegistry, log: Logger, opts: HostOptions | LinkProbe = {}): Promise<Host> {
    const o: HostOptions = 'tcmu' in opts && 'scstUser' in opts ? { probe: opts } : (opts as HostOptions);
    // access control first: a link that would not enforce the config is refused before anything opens
    const early = cfg.link === 'auto' ? undefined : accessProblem(cfg, cfg.link, o.export ?? 'local');
    if (early) throw new StartupError(early);
    const choice = chooseLink(cfg.link, o.probe ?? probeKernel());
    if (choice.note) log('warn', choice.note);
    if (o.export !== undefined && choice.link !== 'tcmu') {
      throw new StartupError(`--export ${o.export} applies to --link tcmu only (the link is ${choice.link})`);
    }
    const refused = accessProblem(cfg, choice.link, o.export ?? 'local');
    if (refused) throw new StartupError(refused);
    const units = new Map<string, LogicalUnit>();
    const sets = new Map<string, FolderSet>();
    try {
      const folders = new Set((await folderSetDevices(cfg.devices)).map((d) => d.name));
      for (const dev of cfg.devices) {
        if (!folders.has(dev.name)) {
          units.set(dev.name, await createUnit(dev, registry, log, units));
          continue;
        }
        const folderSet = await openFolderSet(dev, cfg.targets, log);
        sets.set(dev.name, folderSet);
        // an empty folder serves no LUN yet, so no "serving" line would say it is there
        if (folderSet.set.drives.size === 0) log('info', `${dev.name}: no images in ${dev.file} yet; ${folderSet.target} serves each *.iso/*.img copied in as a new LUN`);
        for (const lu of folderSet.set.drives.values()) {
          if (units.has(lu.name)) throw new StartupError(`${dev.name}: drive name ${lu.name} is already a device name`);
          units.set(lu.name, lu);
        }
      }
      const lunsOf = (t: ServeConfig['targets'][number]): Map<number, LogicalUnit> => {
        const set = t.luns.length ? sets.get(t.luns[0]!.device) : undefined;
        return set ? new Map([...set.set.drives].sort((x, y) => x[0] - y[0])) : new Map(t.luns.map((l) => [l.lun, units.get(l.device)!]));
      };
      const ctx: LinkContext = {
        targets: cfg.targets.map((t) => ({ alias: t.alias, luns: lunsOf(t), readOnly: readOnlyLuns(t.luns), ...accessOf(t, units) })),
        portal: cfg.portal,
        log,
        discoveryChap: cfg.discoveryChap,
      };
      const link: Link =
        choice.link === 'tcmu'
          ? new TcmuLink({ ...ctx, export: o.export ?? 'local' })
          : choice.link === 'scst_user'
            ? new ScstUserLink({ ...ctx, version: o.scstVersion, openPort: o.scstUserPort })
            : new IscsiLink(ctx, o.iscsi);
      const luns = await link.start();
      const served = luns.map((l) => servedLun(l, units.get(l.device)!, link.name, cfg.devices.find((d) => d.name === l.device)));
      const host = new Host([...units.values()], link, served, log);
      host.onServed = o.onServed;
      host.sets = [...sets.values()];
      host.cfg = cfg;
      host.unitsByName = units;
      host.exportKind = o.export ?? 'local';
      for (const { set, target } of host.sets) set.start({ addLun: async (lun, lu) => void (await host.addLun(target, lun, lu)) });
      // every device type gets it (status for all, media changes for drives): one rule to remember
      if (o.control !== false) {
        const path = o.control ?? defaultControlPath();
        host.control = await ControlServer.listen(path, (req) => host.handleControl(req)).catch((e: Error) => {
          log('warn', `no control channel: ${e.message}`);
          return undefined;
        });
      }
      return host;
    } catch (e) {
      // async callbacks: a close() that throws at once must not hide the error being reported
      await Promise.allSettled([...sets.values()].map(async (s) => s.set.close()));
      await Promise.allSettled([...units.values()].map(async (u) => u.close()));
      throw e;
    }
  }

  /** Serves one more LUN on a running target (the link must support it); reports it like those served at start. */
  async addLun(target: string, lun: number, lu: LogicalUnit): Promise<ServedLun> {
    if (this.closing) throw new Error('shutting down');
    if (!this.link.addLun) throw new Error(`the ${this.link.name} link cannot add LUNs while running; restart to serve ${lu.name}`);
    if (this.units.some((u) => u.name === lu.name)) throw new Error(`device name ${lu.name} is already used`);
    const l = await this.link.addLun(target, lun, lu);
    this.units.push(lu);
    const s = servedLun(l, lu, this.link.name, undefined);
    this.served.push(s);
    this.log('info', `${lu.name}: new LUN ${lun} of ${target} -> ${l.url}`);
    this.onServed?.(s);
    return s;
  }

  /**
   * New ACLs and CHAP from a reloaded config (SIGHUP): checked like at start, then new logins
   * follow them and sessions they no longer admit are closed. Devices, targets and the targets'
   * own LUNs stay (a change there is refused). Resolves with one line per closed session.
   */
  async reloadAccess(next: ServeConfig): Promise<string[]> {
    const cfg = this.cfg!;
    const problem = reloadProblem(cfg, next) ?? accessProblem(next, this.link.name, this.exportKind);
    if (problem) throw new Error(problem);
    if (!this.link.updateAccess) throw new Error(`the ${this.link.name} link cannot change access control while running`);
    const lines = await this.link.updateAccess(
      next.targets.map((t) => ({ luns: new Map(), ...accessOf(t, this.unitsByName) })),
      next.discoveryChap,
    );
    this.cfg = next;
    return lines;
  }

  stats(): Record<string, unknown> {
    return { link: this.link.stats(), devices: this.units.map((u) => ({ name: u.name, ...u.describe() })) };
  }

  /** stats() as the Serving interface has it. */
  status(): Promise<Record<string, unknown>> {
    return Promise.resolve(this.stats());
  }

  hasDevice(name: string): boolean {
    return this.units.some((u) => u.name === name);
  }

  /** One control channel request: media changes, status, resize. */
  async handleControl(req: ControlRequest): Promise<Record<string, unknown>> {
    if (req.cmd === 'status') return this.stats();
    if (req.cmd === 'resize') return { ...(await this.resizeReport(resizeRequest(req))) };
    if (req.cmd !== 'media') throw new Error(`unknown command ${JSON.stringify(req.cmd)} (media, status, resize)`);
    const unit = this.units.find((u) => u.name === req.device);
    if (!unit) throw new Error(`no device ${JSON.stringify(req.device)} (devices: ${this.units.map((u) => u.name).join(', ')})`);
    const action = req.action;
    // every drive can say what it holds; only cdrom drives have media to change from here
    if (!isMediaChanger(unit)) {
      if (action === 'status') return { device: unit.name, type: unit.type, ...unit.describe() };
      throw new Error(`${unit.name} is a ${unit.type} drive: fileio_tgt media ${String(action)} changes the discs of cdrom drives (a tape is loaded and unloaded by its initiator or a library's changer)`);
    }
    if (action !== 'load' && action !== 'eject' && action !== 'swap' && action !== 'status') throw new Error('action must be load, eject, swap or status');
    if (req.file !== undefined && typeof req.file !== 'string') throw new Error('file must be a string');
    return unit.media({ action, file: req.file as string | undefined, force: req.force === true });
  }

  /**
   * Devices re-read their backing size (SIGUSR2, after an image was grown): those whose capacity
   * changed raise CAPACITY DATA HAS CHANGED (and tell the kernel, for scst_user).
   */
  async resize(o: HostResize = {}): Promise<string[]> {
    return (await this.resizeReport(o)).resized;
  }

  /** resize(), with the devices that refused (each also logged) for the control channel's client. */
  async resizeReport(o: HostResize = {}): Promise<ResizeReport> {
    const report: ResizeReport = { resized: [], failed: [] };
    const unknown = o.devices?.find((d) => !this.hasDevice(d));
    if (unknown !== undefined) throw new Error(`no device ${JSON.stringify(unknown)} (devices: ${this.units.map((u) => u.name).join(', ')})`);
    for (const u of this.units) {
      if (!u.resize || (o.devices && !o.devices.includes(u.name))) continue;
      try {
        if (await u.resize({ allowShrink: o.allowShrink === true })) report.resized.push(u.name);
      } catch (e) {
        this.log('error', `${u.name}: ${(e as Error).message}`);
        report.failed.push({ device: u.name, error: (e as Error).message });
      }
    }
    return report;
  }

  /** Finishes or fails in-flight commands, takes the link down, then flushes and closes every device. */
  close(timeoutMs = 10_000): Promise<void> {
    this.closing ??= (async () => {
      try {
        await Promise.allSettled(this.sets.map((s) => s.set.close()));
        await this.control?.close();
        await this.link.close(timeoutMs);
      } finally {
        const results = await Promise.allSettled(this.units.map((u) => u.close()));
        for (const [i, r] of results.entries()) {
          if (r.status === 'rejected') this.log('error', `${this.units[i].name}: close failed: ${(r.reason as Error).message}`);
        }
        if (results.some((r) => r.status === 'rejected')) throw new Error('some devices failed to flush and close');
      }
    })();
    return this.closing;
  }
}

/** The options of a control channel "resize" request ({ cmd, devices?: [names], shrink?: true }). */
export function resizeRequest(req: ControlRequest): HostResize {
  const devices = req.devices;
  if (devices !== undefined && !(Array.isArray(devices) && devices.every((d) => typeof d === 'string'))) throw new Error('devices must be an array of device names');
  return { devices: devices as string[] | undefined, allowShrink: req.shrink === true };
}

function readOnlyLuns(luns: readonly LunMapping[]): Set<number> {
  return new Set(luns.filter((l) => l.readOnly).map((l) => l.lun));
}

/** A target's access rules for its link: ACLs, CHAP, and each ACL entry's own LUN map. */
function accessOf(t: TargetConfig, units: ReadonlyMap<string, LogicalUnit>): Pick<LinkTarget, 'iqn' | 'acls' | 'chap' | 'views'> {
  const entries = t.acls !== undefined && t.acls !== 'any' ? t.acls : [];
  return {
    iqn: t.iqn,
    acls: t.acls,
    chap: t.chap,
    views: entries.flatMap((a) => (a.luns ? [{ acl: a.initiator, luns: new Map(a.luns.map((l) => [l.lun, units.get(l.device)!])), readOnly: readOnlyLuns(a.luns) }] : [])),
  };
}

function servedLun(l: LinkLun, lu: LogicalUnit, via: string, dev: DeviceConfig | undefined): ServedLun {
  const details = lu.describe();
  const file = dev?.file ?? (typeof details.backing === 'string' ? details.backing : undefined);
  const s: ServedLun = { device: lu.name, type: dev?.type ?? lu.type, file, target: l.target, lun: l.lun, url: l.url, via, details };
  if (l.link) s.link = l.link;
  if (l.acl) s.acl = l.acl;
  return s;
}

async function createUnit(dev: DeviceConfig, registry: HandlerRegistry, log: Logger, units: ReadonlyMap<string, LogicalUnit>): Promise<LogicalUnit> {
  const handler = await registry.load(dev.type);
  const host: HandlerHost = { log: (level, message) => log(level, `${dev.name}: ${message}`), unit: (name) => units.get(name) };
  let unit: LogicalUnit;
  try {
    unit = await handler.create(dev, host);
  } catch (e) {
    throw new StartupError(`${dev.name}: ${(e as Error).message}`);
  }
  const problem = logicalUnitProblem(unit);
  if (problem) {
    const close = (unit as Partial<LogicalUnit> | null)?.close;
    if (typeof close === 'function') await Promise.resolve().then(() => close.call(unit)).catch(() => undefined);
    throw new StartupError(`${dev.name}: the ${dev.type} handler's create() ${problem}`);
  }
  return unit;
}
