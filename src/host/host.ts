// The handler host: creates logical units from the registry, groups them into SCSI targets, puts
// them on a link, and takes it all down again in order (link first, then flush and close).
import type { DeviceConfig, HandlerHost } from '../handlers/contract.ts';
import type { LogicalUnit } from '../scsi/command.ts';
import { ScsiTarget } from '../scsi/target.ts';
import { IscsiServer } from '../links/iscsi/index.ts';
import { chooseLink, probeKernel, type LinkProbe } from '../links/select.ts';
import type { ServeConfig } from './config.ts';
import { StartupError } from './errors.ts';
import type { Logger } from './log.ts';
import type { HandlerRegistry } from './registry.ts';

export interface ServedLun {
  device: string;
  type: string;
  file?: string;
  target: string;
  lun: number;
  url: string;
  details: Record<string, unknown>;
}

export class Host {
  readonly served: ServedLun[];
  private readonly units: LogicalUnit[];
  private readonly server: IscsiServer;
  private readonly log: Logger;
  private closing?: Promise<void>;

  private constructor(units: LogicalUnit[], server: IscsiServer, served: ServedLun[], log: Logger) {
    this.units = units;
    this.server = server;
    this.served = served;
    this.log = log;
  }

  static async start(cfg: ServeConfig, registry: HandlerRegistry, log: Logger, probe: LinkProbe = probeKernel()): Promise<Host> {
    const choice = chooseLink(cfg.link, probe);
    if (choice.note) log('warn', choice.note);
    const units = new Map<string, LogicalUnit>();
    try {
      for (const dev of cfg.devices) units.set(dev.name, await createUnit(dev, registry, log));
      const targets = cfg.targets.map((t) => ({
        iqn: t.iqn,
        alias: t.alias,
        port: new ScsiTarget(new Map(t.luns.map((l) => [l.lun, units.get(l.device)!]))),
      }));
      const server = new IscsiServer({ host: cfg.portal.host, port: cfg.portal.port, targets, log });
      const where = await server.listen().catch((e: Error) => {
        throw new StartupError(`cannot listen on ${cfg.portal.host}:${cfg.portal.port}: ${e.message}`);
      });
      const host = where.host.includes(':') ? `[${where.host}]` : where.host;
      const served = cfg.targets.flatMap((t) =>
        t.luns.map((l): ServedLun => {
          const dev = cfg.devices.find((d) => d.name === l.device)!;
          return {
            device: dev.name,
            type: dev.type,
            file: dev.file,
            target: t.iqn,
            lun: l.lun,
            url: `iscsi://${host}:${where.port}/${t.iqn}/${l.lun}`,
            details: units.get(dev.name)!.describe(),
          };
        }),
      );
      return new Host([...units.values()], server, served, log);
    } catch (e) {
      await Promise.allSettled([...units.values()].map((u) => u.close()));
      throw e;
    }
  }

  stats(): Record<string, unknown> {
    return { link: this.server.stats(), devices: this.units.map((u) => ({ name: u.name, ...u.describe() })) };
  }

  /** Finishes or fails in-flight commands, closes sessions, then flushes and closes every device. */
  close(timeoutMs = 10_000): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.server.close(timeoutMs);
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
