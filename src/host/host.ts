// The handler host: creates logical units from the registry, groups them into SCSI targets, puts
// them on a link (embedded iSCSI or LIO tcmu), and takes it all down again in order (link first,
// then flush and close).
import type { DeviceConfig, HandlerHost } from '../handlers/contract.ts';
import type { LogicalUnit } from '../scsi/command.ts';
import { ScsiTarget } from '../scsi/target.ts';
import { IscsiServer } from '../links/iscsi/index.ts';
import type { Link, LinkContext, LinkLun } from '../links/link.ts';
import { chooseLink, probeKernel, type LinkProbe } from '../links/select.ts';
import { TcmuLink, type ExportKind } from '../links/tcmu/index.ts';
import type { ServeConfig } from './config.ts';
import { StartupError } from './errors.ts';
import type { Logger } from './log.ts';
import type { HandlerRegistry } from './registry.ts';
import { ControlServer, defaultControlPath, type ControlRequest } from './control.ts';
import { isMediaChanger } from '../handlers/cdrom/create.ts';

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
}

export interface HostOptions {
  probe?: LinkProbe;
  /** tcmu only: tcm_loop (a local /dev/sdX, the default) or LIO's iSCSI target. */
  export?: ExportKind;
  /** Control socket path (media changes at run time); default defaultControlPath(); false: none. */
  control?: string | false;
}

/** The embedded iSCSI target as a Link. */
class IscsiLink implements Link {
  readonly name = 'iscsi';
  readonly #server: IscsiServer;
  readonly #ctx: LinkContext;

  constructor(ctx: LinkContext) {
    this.#ctx = ctx;
    const targets = ctx.targets.map((t) => ({ iqn: t.iqn, alias: t.alias, port: new ScsiTarget(new Map(t.luns)) }));
    this.#server = new IscsiServer({ host: ctx.portal.host, port: ctx.portal.port, targets, log: ctx.log });
  }

  async start(): Promise<LinkLun[]> {
    const { portal } = this.#ctx;
    const where = await this.#server.listen().catch((e: Error) => {
      throw new StartupError(`cannot listen on ${portal.host}:${portal.port}: ${e.message}`);
    });
    const host = where.host.includes(':') ? `[${where.host}]` : where.host;
    return this.#ctx.targets.flatMap((t) =>
      [...t.luns].map(([lun, lu]) => ({ device: lu.name, target: t.iqn, lun, url: `iscsi://${host}:${where.port}/${t.iqn}/${lun}` })),
    );
  }

  stats(): Record<string, unknown> {
    return { ...this.#server.stats() };
  }

  close(timeoutMs: number): Promise<void> {
    return this.#server.close(timeoutMs);
  }
}

export class Host {
  readonly served: ServedLun[];
  readonly link: Link;
  private readonly units: LogicalUnit[];
  private readonly log: Logger;
  private closing?: Promise<void>;
  /** The control channel, when a device has media to change (see control.ts). */
  control?: ControlServer;

  private constructor(units: LogicalUnit[], link: Link, served: ServedLun[], log: Logger) {
    this.units = units;
    this.link = link;
    this.served = served;
    this.log = log;
  }

  static async start(cfg: ServeConfig, registry: HandlerRegistry, log: Logger, opts: HostOptions | LinkProbe = {}): Promise<Host> {
    const o: HostOptions = 'tcmu' in opts && 'scstUser' in opts ? { probe: opts } : (opts as HostOptions);
    const choice = chooseLink(cfg.link, o.probe ?? probeKernel());
    if (choice.note) log('warn', choice.note);
    if (o.export !== undefined && choice.link !== 'tcmu') {
      throw new StartupError(`--export ${o.export} applies to --link tcmu only (the link is ${choice.link})`);
    }
    const units = new Map<string, LogicalUnit>();
    try {
      for (const dev of cfg.devices) units.set(dev.name, await createUnit(dev, registry, log));
      const ctx: LinkContext = {
        targets: cfg.targets.map((t) => ({ iqn: t.iqn, alias: t.alias, luns: new Map(t.luns.map((l) => [l.lun, units.get(l.device)!])) })),
        portal: cfg.portal,
        log,
      };
      const link: Link = choice.link === 'tcmu' ? new TcmuLink({ ...ctx, export: o.export ?? 'local' }) : new IscsiLink(ctx);
      const luns = await link.start();
      const served = luns.map((l): ServedLun => {
        const dev = cfg.devices.find((d) => d.name === l.device)!;
        const s: ServedLun = { device: dev.name, type: dev.type, file: dev.file, target: l.target, lun: l.lun, url: l.url, via: link.name, details: units.get(dev.name)!.describe() };
        if (l.link) s.link = l.link;
        return s;
      });
      const host = new Host([...units.values()], link, served, log);
      // media changes need it; an explicit --control also serves status (page cache counters)
      if (o.control !== false && (host.units.some(isMediaChanger) || o.control !== undefined)) {
        const path = o.control ?? defaultControlPath();
        host.control = await ControlServer.listen(path, (req) => host.handleControl(req)).catch((e: Error) => {
          log('warn', `no control channel: ${e.message}`);
          return undefined;
        });
      }
      return host;
    } catch (e) {
      await Promise.allSettled([...units.values()].map((u) => u.close()));
      throw e;
    }
  }

  stats(): Record<string, unknown> {
    return { link: this.link.stats(), devices: this.units.map((u) => ({ name: u.name, ...u.describe() })) };
  }

  /** One control channel request: media changes and status. */
  async handleControl(req: ControlRequest): Promise<Record<string, unknown>> {
    if (req.cmd === 'status') return this.stats();
    if (req.cmd !== 'media') throw new Error(`unknown command ${JSON.stringify(req.cmd)} (media, status)`);
    const unit = this.units.find((u) => u.name === req.device);
    if (!unit) throw new Error(`no device ${JSON.stringify(req.device)} (devices: ${this.units.map((u) => u.name).join(', ')})`);
    if (!isMediaChanger(unit)) throw new Error(`${unit.name} is a ${unit.type}: it has no media to change`);
    const action = req.action;
    if (action !== 'load' && action !== 'eject' && action !== 'swap' && action !== 'status') throw new Error('action must be load, eject, swap or status');
    if (req.file !== undefined && typeof req.file !== 'string') throw new Error('file must be a string');
    return unit.media({ action, file: req.file as string | undefined, force: req.force === true });
  }

  /** Finishes or fails in-flight commands, takes the link down, then flushes and closes every device. */
  close(timeoutMs = 10_000): Promise<void> {
    this.closing ??= (async () => {
      try {
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

async function createUnit(dev: DeviceConfig, registry: HandlerRegistry, log: Logger): Promise<LogicalUnit> {
  const handler = await registry.load(dev.type);
  const host: HandlerHost = { log: (level, message) => log(level, `${dev.name}: ${message}`) };
  try {
    return await handler.create(dev, host);
  } catch (e) {
    throw new StartupError(`${dev.name}: ${(e as Error).message}`);
  }
}
