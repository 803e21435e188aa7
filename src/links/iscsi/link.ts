// The embedded iSCSI target as a Link: one IscsiServer over the host's targets. It listens on
// the portal, or, in a thread serving some of the targets (src/host/threads), takes connections
// the listening thread hands over and builds its LUN URLs from that thread's address.
import { ScsiTarget } from '../../scsi/target.ts';
import type { LogicalUnit } from '../../scsi/command.ts';
import { StartupError } from '../../host/errors.ts';
import type { Link, LinkContext, LinkLun, LinkTarget, LinkView } from '../link.ts';
import type { ChapCredentials } from '../../host/acl.ts';
import type { TargetName } from './context.ts';
import { IscsiServer } from './server.ts';

export interface IscsiLinkOptions {
  /** iscsi://host:port of the thread that listens; set in a thread that does not listen itself. */
  base?: string;
  /** The portal's targets served by other threads (SendTargets lists them, logins are routed). */
  remoteTargets?: readonly TargetName[];
  /** Where a login to a remote target goes (IscsiServerOptions.route). */
  route?: (targetName: string) => ((fd: number, received: Buffer) => boolean) | undefined;
}

export class IscsiLink implements Link {
  readonly name = 'iscsi';
  readonly #server: IscsiServer;
  readonly #ctx: LinkContext;
  readonly #opts: IscsiLinkOptions;
  readonly #ports = new Map<string, ScsiTarget>();
  /** Per target: each ACL entry's own LUN map and the port that serves it. */
  readonly #views = new Map<string, Map<string, { spec: LinkView; port: ScsiTarget }>>();
  /** iscsi://host:port once listening. */
  #base = '';

  constructor(ctx: LinkContext, opts: IscsiLinkOptions = {}) {
    this.#ctx = ctx;
    this.#opts = opts;
    const targets = ctx.targets.map((t) => {
      const port = new ScsiTarget(new Map(t.luns), { readOnly: t.readOnly });
      this.#ports.set(t.iqn, port);
      // each ACL entry with a LUN map of its own sees the same units through a target of its own
      const views = this.#viewsOf(t);
      return { iqn: t.iqn, alias: t.alias, port, access: { acls: t.acls, chap: t.chap }, views };
    });
    this.#server = new IscsiServer({
      host: ctx.portal.host,
      port: ctx.portal.port,
      targets,
      log: ctx.log,
      remoteTargets: opts.remoteTargets,
      route: opts.route,
      discoveryChap: ctx.discoveryChap,
    });
  }

  async start(): Promise<LinkLun[]> {
    const { portal } = this.#ctx;
    if (this.#opts.base !== undefined) this.#base = this.#opts.base;
    else {
      const where = await this.#server.listen().catch((e: Error) => {
        throw new StartupError(`cannot listen on ${portal.host}:${portal.port}: ${e.message}`);
      });
      this.#base = `iscsi://${where.host.includes(':') ? `[${where.host}]` : where.host}:${where.port}`;
    }
    return this.#ctx.targets.flatMap((t) => [
      ...[...t.luns].map(([lun, lu]) => ({ device: lu.name, target: t.iqn, lun, url: `${this.#base}/${t.iqn}/${lun}` })),
      ...(t.views ?? []).flatMap((v) => [...v.luns].map(([lun, lu]) => ({ device: lu.name, target: t.iqn, lun, url: `${this.#base}/${t.iqn}/${lun}`, acl: v.acl }))),
    ]);
  }

  /** iscsi://host:port of the portal (after start). */
  get base(): string {
    return this.#base;
  }

  /** A connection the listening thread accepted for one of our targets. */
  adopt(fd: number, received: Buffer): void {
    this.#server.adopt(fd, received);
  }

  async addLun(target: string, lun: number, lu: LogicalUnit): Promise<LinkLun> {
    const port = this.#ports.get(target);
    if (!port) throw new Error(`no target ${target}`);
    port.addLun(lun, lu);
    return { device: lu.name, target, lun, url: `${this.#base}/${target}/${lun}` };
  }

  /** Each ACL entry's port: the previous one when its LUN map is the same (its sessions go on). */
  #viewsOf(t: LinkTarget): Map<string, ScsiTarget> {
    const old = this.#views.get(t.iqn);
    const next = new Map<string, { spec: LinkView; port: ScsiTarget }>();
    for (const v of t.views ?? []) {
      const prev = old?.get(v.acl);
      next.set(v.acl, prev && sameView(prev.spec, v) ? prev : { spec: v, port: new ScsiTarget(new Map(v.luns), { readOnly: v.readOnly }) });
    }
    this.#views.set(t.iqn, next);
    return new Map([...next].map(([acl, x]) => [acl, x.port]));
  }

  async updateAccess(targets: readonly LinkTarget[], discoveryChap: ChapCredentials | undefined): Promise<string[]> {
    this.#server.setDiscoveryChap(discoveryChap);
    const lines = await Promise.all(targets.map((t) => this.#server.updateAccess(t.iqn, { acls: t.acls, chap: t.chap }, this.#viewsOf(t))));
    return lines.flat();
  }

  /** The other threads' targets and their access rules (SendTargets lists them by the rules). */
  setRemoteTargets(targets: readonly TargetName[]): void {
    this.#server.setRemoteTargets(targets);
  }

  stats(): Record<string, unknown> {
    return { ...this.#server.stats() };
  }

  close(timeoutMs: number): Promise<void> {
    return this.#server.close(timeoutMs);
  }
}

function sameView(a: LinkView, b: LinkView): boolean {
  if (a.luns.size !== b.luns.size || a.readOnly.size !== b.readOnly.size) return false;
  for (const [lun, lu] of a.luns) if (b.luns.get(lun) !== lu || a.readOnly.has(lun) !== b.readOnly.has(lun)) return false;
  return true;
}
