// The embedded iSCSI target on several threads (--threads): the targets are spread over them
// (planThreads), this thread listens on the portal, serves its own share and hands every
// connection that logs in to another thread's target over to that thread. Status, media changes,
// resizes and shutdown go to every thread; the control socket stays here.
import os from 'node:os';
import type { ServeConfig } from '../config.ts';
import { ControlServer, defaultControlPath, type ControlRequest } from '../control.ts';
import { Host, resizeRequest, type HostOptions, type HostResize, type ResizeReport, type ServedLun, type Serving } from '../host.ts';
import type { Logger } from '../log.ts';
import type { HandlerRegistry } from '../registry.ts';
import { chooseLink, probeKernel } from '../../links/select.ts';
import type { IscsiLink } from '../../links/iscsi/link.ts';
import { planThreads } from './plan.ts';
import { isLoopback, nameOnlyAcls, reloadProblem } from '../acl.ts';
import { TargetThread } from './target-thread.ts';

export interface ServeOptions extends HostOptions {
  /** Threads for the embedded iSCSI target: a number, or 'auto' (one per core, at most one per group of targets). */
  threads?: number | 'auto';
  /** The handler registry file (--handlers), for the other threads to open. */
  handlers?: string;
  verbose?: boolean;
}

/** Starts serving `cfg`: on one thread, or on several when the iSCSI target has targets to spread. */
export async function startServing(cfg: ServeConfig, registry: HandlerRegistry, log: Logger, o: ServeOptions = {}): Promise<Serving> {
  const byName = isLoopback(cfg.portal.host) ? [] : nameOnlyAcls(cfg.targets);
  if (byName.length) log('warn', `ACL entries without CHAP trust the initiator name alone (anyone on the network can claim it): ${byName.join(', ')}`);
  const wanted = o.threads === 'auto' || o.threads === undefined ? os.availableParallelism() : o.threads;
  if (wanted <= 1 || cfg.targets.length <= 1 || cfg.link === 'tcmu' || cfg.link === 'scst_user') return Host.start(cfg, registry, log, o);
  const choice = chooseLink(cfg.link, o.probe ?? probeKernel());
  if (choice.link !== 'iscsi') return Host.start(cfg, registry, log, o);
  const plan = planThreads(cfg, wanted);
  if (plan.length === 1) return Host.start(cfg, registry, log, o);
  if (choice.note) log('warn', choice.note);
  return HostGroup.start(cfg, plan, registry, log, o);
}

export class HostGroup implements Serving {
  control: ControlServer | undefined;
  private readonly local: Host;
  private readonly threads: TargetThread[];
  private readonly order: Map<string, number>;
  private cfg: ServeConfig;
  private closing: Promise<void> | undefined;

  private constructor(cfg: ServeConfig, local: Host, threads: TargetThread[]) {
    this.cfg = cfg;
    this.local = local;
    this.threads = threads;
    this.order = new Map(cfg.targets.map((t, i) => [t.iqn, i]));
  }

  static async start(cfg: ServeConfig, plan: ServeConfig[], registry: HandlerRegistry, log: Logger, o: ServeOptions): Promise<HostGroup> {
    const [mine, ...others] = plan as [ServeConfig, ...ServeConfig[]];
    // the other threads first: their devices open (or fail) before anything listens
    const started = await Promise.allSettled(
      others.map((c, i) => TargetThread.start(i + 1, { cfg: { ...c, link: 'iscsi' }, handlers: o.handlers, verbose: !!o.verbose }, log)),
    );
    const threads = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.allSettled(threads.map((t) => t.close(1000)));
      throw failed.reason;
    }
    const owner = new Map<string, TargetThread>();
    for (const t of threads) for (const iqn of t.targets) owner.set(iqn.toLowerCase(), t);
    let local: Host;
    try {
      local = await Host.start({ ...mine, link: 'iscsi' }, registry, log, {
        ...o,
        control: false,
        iscsi: {
          remoteTargets: others.flatMap((c) => c.targets.map((t) => ({ iqn: t.iqn, alias: t.alias, access: { acls: t.acls, chap: t.chap } }))),
          route: (name) => {
            const t = owner.get(name.toLowerCase());
            return t && ((fd, received) => t.handOver(fd, received));
          },
        },
      });
    } catch (e) {
      await Promise.allSettled(threads.map((t) => t.close(1000)));
      throw e;
    }
    const base = (local.link as IscsiLink).base;
    for (const t of threads) {
      t.setBase(base);
      t.onServed = o.onServed;
    }
    const group = new HostGroup(cfg, local, threads);
    log('info', `iscsi targets on ${plan.length} threads: ${plan.map((p) => p.targets.map((t) => t.iqn).join(' ')).join(' | ')}`);
    if (o.control !== false) {
      const path = o.control ?? defaultControlPath();
      group.control = await ControlServer.listen(path, (req) => group.handleControl(req)).catch((e: Error) => {
        log('warn', `no control channel: ${e.message}`);
        return undefined;
      });
    }
    return group;
  }

  /** Every LUN served, in the order of the targets in the configuration. */
  get served(): ServedLun[] {
    const all = [...this.local.served, ...this.threads.flatMap((t) => t.served)];
    const rank = (s: ServedLun): number => this.order.get(s.target) ?? this.order.size;
    return all.sort((a, b) => rank(a) - rank(b) || a.lun - b.lun);
  }

  async status(): Promise<Record<string, unknown>> {
    const mine = this.local.stats() as { link: Record<string, unknown>; devices: unknown[] };
    const theirs = await Promise.all(
      this.threads.map((t) =>
        t.request({ cmd: 'status' }).then(
          (r) => r as { link: Record<string, unknown>; devices: unknown[] },
          (e: Error) => ({ link: { error: e.message }, devices: [] }),
        ),
      ),
    );
    return {
      link: { ...mine.link, threads: [{ targets: this.localTargets(), ...mine.link }, ...theirs.map((r, i) => ({ targets: this.threads[i]!.targets, ...r.link }))] },
      devices: [...mine.devices, ...theirs.flatMap((r) => r.devices)],
    };
  }

  async handleControl(req: ControlRequest): Promise<Record<string, unknown>> {
    if (req.cmd === 'status') return this.status();
    if (req.cmd === 'resize') return { ...(await this.resizeReport(resizeRequest(req))) };
    const device = typeof req.device === 'string' ? req.device : '';
    if (req.cmd !== 'media' || this.local.hasDevice(device)) return this.local.handleControl(req);
    const t = this.threads.find((x) => x.hasDevice(device));
    if (!t) throw new Error(`no device ${JSON.stringify(req.device)} (devices: ${[...new Set(this.served.map((s) => s.device))].join(', ')})`);
    return (await t.request(req)) as Record<string, unknown>;
  }

  /** New ACLs and CHAP (SIGHUP): every thread checks and applies its targets' share. */
  async reloadAccess(cfg: ServeConfig): Promise<string[]> {
    const problem = reloadProblem(this.cfg, cfg);
    if (problem) throw new Error(problem);
    const share = (iqns: readonly string[]): ServeConfig => ({ ...cfg, targets: cfg.targets.filter((t) => iqns.includes(t.iqn)) });
    const mine = this.localTargets();
    const all = await Promise.all([this.local.reloadAccess(share(mine)), ...this.threads.map((t) => t.request({ cmd: 'access', cfg: share(t.targets) }) as Promise<string[]>)]);
    const remote = cfg.targets.filter((t) => !mine.includes(t.iqn)).map((t) => ({ iqn: t.iqn, alias: t.alias, access: { acls: t.acls, chap: t.chap } }));
    (this.local.link as IscsiLink).setRemoteTargets(remote);
    this.cfg = cfg;
    return all.flat();
  }

  async resize(o: HostResize = {}): Promise<string[]> {
    return (await this.resizeReport(o)).resized;
  }

  private async resizeReport(o: HostResize): Promise<ResizeReport> {
    const names = new Set(this.served.map((s) => s.device));
    const unknown = o.devices?.find((d) => !names.has(d));
    if (unknown !== undefined) throw new Error(`no device ${JSON.stringify(unknown)} (devices: ${[...names].join(', ')})`);
    const mine = (devices: string[]) => o.devices?.filter((d) => devices.includes(d));
    const local = this.local.resizeReport({ ...o, devices: o.devices && mine(this.local.served.map((s) => s.device)) });
    const theirs = this.threads.map((t) =>
      t.request({ cmd: 'resize', devices: o.devices && mine(t.served.map((s) => s.device)), shrink: o.allowShrink === true }).then(
        (r) => r as ResizeReport,
        (): ResizeReport => ({ resized: [], failed: [] }),
      ),
    );
    const all = await Promise.all([local, ...theirs]);
    return { resized: all.flatMap((r) => r.resized), failed: all.flatMap((r) => r.failed) };
  }

  close(timeoutMs = 10_000): Promise<void> {
    this.closing ??= (async () => {
      await this.control?.close();
      const results = await Promise.allSettled([this.local.close(timeoutMs), ...this.threads.map((t) => t.close(timeoutMs))]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.closing;
  }

  private localTargets(): string[] {
    return [...new Set(this.local.served.map((s) => s.target))];
  }
}
