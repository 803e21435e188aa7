// The embedded iSCSI target: a TCP listener, the targets it serves, the session registry
// (TSIH, reinstatement by InitiatorName+ISID) and graceful shutdown.

import net from 'node:net';
import type { ScsiTargetPort } from '../../scsi/command.ts';
import { IscsiConnection, withTimeout } from './connection.ts';
import { newCounters, type ConnectionOptions, type Counters, type LogFn, type ServerContext, type SessionOwner, type TargetName } from './context.ts';
import { adoptForReads, socketFromFd, type SocketSource } from './socket-reads.ts';
import { close as closeFd } from '../../ffi/libc.ts';
import { DEFAULT_OFFER, type DigestName, type TargetOffer } from './keys.ts';
import type { IscsiSession, TargetEntry } from './session.ts';
import { LoginThrottle, revoked, type AccessRules, type ThrottleOptions } from './access.ts';
import type { ChapCredentials } from '../../host/acl.ts';

export interface IscsiTargetConfig {
  iqn: string;
  alias?: string | undefined;
  port: ScsiTargetPort;
  /** ACLs and CHAP (absent: any initiator, no authentication). */
  access?: AccessRules | undefined;
  /** The LUN view of each ACL entry that has its own map, by its initiator name or pattern. */
  views?: ReadonlyMap<string, ScsiTargetPort> | undefined;
}

export interface IscsiServerOptions {
  host: string;
  port: number;
  targets: IscsiTargetConfig[];
  log?: LogFn;
  /** Target portal group tag (default 1). */
  portalGroupTag?: number;
  /** CmdSN window per session (default 128). */
  queueDepth?: number;
  /** Idle ms before a NOP-In ping (default 20000; 0 = never). */
  nopInterval?: number;
  /** Ms to wait for the ping's answer (default 15000). */
  nopTimeout?: number;
  /** Ms allowed for the login phase (default 15000). */
  loginTimeout?: number;
  /** Largest write buffered (default 64 MiB). */
  maxWriteBytes?: number;
  /** Ms a TMF/logout waits for tasks at the port (default 30000). */
  taskWaitTimeout?: number;
  maxRecvDataSegmentLength?: number;
  maxBurstLength?: number;
  firstBurstLength?: number;
  initialR2T?: boolean;
  immediateData?: boolean;
  maxOutstandingR2T?: number;
  defaultTime2Wait?: number;
  defaultTime2Retain?: number;
  /** Acceptable header/data digests in order of preference (default None, CRC32C). */
  headerDigests?: DigestName[];
  dataDigests?: DigestName[];
  /** Targets of this portal served by other threads: listed by SendTargets, logins to them routed. */
  remoteTargets?: readonly TargetName[];
  /** Where a login to a remote target goes (see ServerContext.route). */
  route?: (targetName: string) => ((fd: number, received: Buffer) => boolean) | undefined;
  /** CHAP for discovery sessions. */
  discoveryChap?: ChapCredentials | undefined;
  /** The slow-down of repeated failed authentications per initiator name. */
  throttle?: ThrottleOptions;
}

export interface IscsiServerStats {
  listening: string | null;
  sessions: number;
  connections: number;
  tasksInFlight: number;
  counters: Counters;
  perSession: Array<{ tsih: number; initiator: string; isid: string; target: string | null; type: string; acl: string; auth: string; tasks: number }>;
}

function checkRange(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${name} must be an integer in ${lo}..${hi} (got ${v})`);
  return v;
}

export class IscsiServer {
  private readonly opts: IscsiServerOptions;
  private readonly ctx: ServerContext;
  private readonly targetMap = new Map<string, TargetEntry>();
  private readonly sessionsByTsih = new Map<number, { session: IscsiSession; owner: SessionOwner }>();
  private readonly sessionsByKey = new Map<string, IscsiSession>();
  private readonly connections = new Set<IscsiConnection>();
  private readonly teardowns = new Set<Promise<void>>();
  private server: net.Server | undefined;
  private address: { host: string; port: number } | undefined;
  private nextTsih = 1;
  private discoveryChap: ChapCredentials | undefined;
  private remoteTargets: readonly TargetName[];
  private closing = false;
  private closed: Promise<void> | undefined;
  readonly counters: Counters = newCounters();

  constructor(opts: IscsiServerOptions) {
    this.opts = opts;
    this.discoveryChap = opts.discoveryChap;
    this.remoteTargets = opts.remoteTargets ?? [];
    for (const t of opts.targets) {
      const k = t.iqn.toLowerCase();
      if (this.targetMap.has(k)) throw new Error(`target ${t.iqn} is configured twice`);
      this.targetMap.set(k, { iqn: t.iqn, alias: t.alias, port: t.port, access: t.access, views: t.views });
    }
    const offer: TargetOffer = {
      maxRecvDataSegmentLength: checkRange('maxRecvDataSegmentLength', opts.maxRecvDataSegmentLength ?? DEFAULT_OFFER.maxRecvDataSegmentLength, 512, 0xffffff),
      maxBurstLength: checkRange('maxBurstLength', opts.maxBurstLength ?? DEFAULT_OFFER.maxBurstLength, 512, 0xffffff),
      firstBurstLength: checkRange('firstBurstLength', opts.firstBurstLength ?? DEFAULT_OFFER.firstBurstLength, 512, 0xffffff),
      initialR2T: opts.initialR2T ?? DEFAULT_OFFER.initialR2T,
      immediateData: opts.immediateData ?? DEFAULT_OFFER.immediateData,
      maxOutstandingR2T: checkRange('maxOutstandingR2T', opts.maxOutstandingR2T ?? DEFAULT_OFFER.maxOutstandingR2T, 1, 65535),
      defaultTime2Wait: checkRange('defaultTime2Wait', opts.defaultTime2Wait ?? DEFAULT_OFFER.defaultTime2Wait, 0, 3600),
      defaultTime2Retain: checkRange('defaultTime2Retain', opts.defaultTime2Retain ?? DEFAULT_OFFER.defaultTime2Retain, 0, 3600),
      errorRecoveryLevel: 0,
      headerDigests: opts.headerDigests ?? DEFAULT_OFFER.headerDigests,
      dataDigests: opts.dataDigests ?? DEFAULT_OFFER.dataDigests,
    };
    const options: ConnectionOptions = {
      offer,
      portalGroupTag: checkRange('portalGroupTag', opts.portalGroupTag ?? 1, 1, 65535),
      queueDepth: checkRange('queueDepth', opts.queueDepth ?? 128, 1, 65536),
      nopInterval: opts.nopInterval ?? 20_000,
      nopTimeout: opts.nopTimeout ?? 15_000,
      loginTimeout: opts.loginTimeout ?? 15_000,
      maxWriteBytes: opts.maxWriteBytes ?? 64 * 1024 * 1024,
      taskWaitTimeout: opts.taskWaitTimeout ?? 30_000,
      writeHighWater: 64 * 1024 * 1024,
    };
    const log: LogFn = opts.log ?? (() => {});
    const self = this;
    this.ctx = {
      options,
      counters: this.counters,
      get closing() {
        return self.closing;
      },
      get discoveryChap() {
        return self.discoveryChap;
      },
      throttle: new LoginThrottle(opts.throttle),
      log: (level, msg) => {
        try {
          log(level, msg);
        } catch {
          /* a failing logger must not break the target */
        }
      },
      findTarget: (name) => this.targetMap.get(name.toLowerCase()),
      targets: () => [...this.targetMap.values(), ...this.remoteTargets],
      route: opts.route,
      sessionsOf: (target) => [...this.sessionsByTsih.values()].map((x) => x.session).filter((s) => s.target === target && !s.closed),
      sessionByTsih: (tsih) => this.sessionsByTsih.get(tsih)?.session,
      sessionByKey: (key) => this.sessionsByKey.get(key),
      allocTsih: () => {
        for (;;) {
          const t = this.nextTsih;
          this.nextTsih = this.nextTsih >= 0xffff ? 1 : this.nextTsih + 1;
          if (!this.sessionsByTsih.has(t)) return t;
        }
      },
      addSession: (session, owner) => {
        this.sessionsByTsih.set(session.tsih, { session, owner });
        this.sessionsByKey.set(session.key, session);
      },
      sessionEnded: (session, pending) => this.sessionEnded(session, pending),
      terminateSession: async (session, reason) => {
        const e = this.sessionsByTsih.get(session.tsih);
        if (!e || e.session !== session) return;
        e.owner.drop(reason);
        await e.owner.closedPromise;
        // Wait for its nexus-loss handling too, so that a new session starts clean.
        await Promise.all([...this.teardowns]);
      },
    };
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(): Promise<{ host: string; port: number }> {
    if (this.server) return Promise.reject(new Error('already listening'));
    const { host, port } = this.opts;
    return new Promise((resolve, reject) => {
      // paused: a connection re-wraps its socket before the first read (socket-reads.ts)
      const srv = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.onConnection(socket));
      const onError = (e: NodeJS.ErrnoException) => {
        this.server = undefined;
        if (e.code === 'EADDRINUSE') reject(new Error(`${host}:${port} is already in use`));
        else if (e.code === 'EACCES') reject(new Error(`permission denied to listen on ${host}:${port}`));
        else if (e.code === 'EADDRNOTAVAIL') reject(new Error(`${host} is not an address of this machine`));
        else reject(new Error(`cannot listen on ${host}:${port}: ${e.message}`));
      };
      srv.once('error', onError);
      srv.listen({ host, port }, () => {
        srv.off('error', onError);
        srv.on('error', (e) => this.ctx.log('error', `iscsi listener: ${e.message}`));
        const a = srv.address() as net.AddressInfo;
        this.address = { host: a.address, port: a.port };
        const remote = this.opts.remoteTargets?.length ?? 0;
        this.ctx.log('info', `iscsi target listening on ${a.address}:${a.port} (${this.targetMap.size} target(s)${remote ? ` here, ${remote} on other threads` : ''})`);
        resolve({ ...this.address });
      });
      this.server = srv;
    });
  }

  /**
   * Stops accepting, lets in-flight commands finish (up to timeoutMs, then aborts them),
   * closes every session and resolves once all sockets are closed and nexusLost was called.
   */
  close(timeoutMs = 10_000): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      const deadline = Date.now() + Math.max(0, timeoutMs);
      const srv = this.server;
      const stopped = srv ? new Promise<void>((r) => srv.close(() => r())) : Promise.resolve();
      await Promise.all([...this.connections].map((c) => c.shutdown(deadline)));
      await withTimeout(stopped, 1000);
      await withTimeout(Promise.all([...this.teardowns]), Math.max(1000, deadline - Date.now() + 1000));
      this.server = undefined;
      this.ctx.log('info', 'iscsi target stopped');
    })();
    return this.closed;
  }

  /**
   * New access rules for a target (a reloaded config): new logins follow them at once; a live
   * session they no longer admit as it was admitted is closed, its tasks finished (up to
   * `graceMs`) or aborted. Resolves with one line per closed session.
   */
  async updateAccess(iqn: string, access: AccessRules, views: ReadonlyMap<string, ScsiTargetPort>, graceMs = 5000): Promise<string[]> {
    const entry = this.targetMap.get(iqn.toLowerCase());
    if (!entry) throw new Error(`no target ${iqn}`);
    entry.access = access;
    entry.views = views;
    const closing: Array<Promise<void>> = [];
    const lines: string[] = [];
    for (const { session, owner } of [...this.sessionsByTsih.values()]) {
      if (session.target !== entry || session.closed) continue;
      const why = revoked(session, access, (acl) => views.get(acl) ?? entry.port);
      if (!why) continue;
      const line = `closing session ${session.tsih} of ${session.initiatorName} to ${entry.iqn}: ${why}`;
      this.ctx.log('warn', `iscsi ${line}`);
      lines.push(line);
      closing.push(owner.shutdown(Date.now() + graceMs));
    }
    await Promise.all(closing);
    return lines;
  }

  /** CHAP for discovery sessions from now on. */
  setDiscoveryChap(chap: ChapCredentials | undefined): void {
    this.discoveryChap = chap;
  }

  /** The other threads' targets (with their access rules), for SendTargets. */
  setRemoteTargets(targets: readonly TargetName[]): void {
    this.remoteTargets = targets;
  }

  stats(): IscsiServerStats {
    const sessions = [...this.sessionsByTsih.values()].map((x) => x.session);
    return {
      listening: this.address ? `${this.address.host}:${this.address.port}` : null,
      sessions: sessions.length,
      connections: this.connections.size,
      tasksInFlight: sessions.reduce((n, s) => n + s.tasks.size, 0),
      counters: { ...this.counters },
      perSession: sessions.map((s) => ({
        tsih: s.tsih,
        initiator: s.initiatorName,
        isid: s.isid.toString('hex'),
        target: s.target?.iqn ?? null,
        type: s.type,
        acl: s.acl,
        auth: s.auth,
        tasks: s.tasks.size,
      })),
    };
  }

  /**
   * Serves a connection another thread accepted and handed over (fd: a descriptor of its own for
   * the socket; received: the bytes that thread read from it).
   */
  adopt(fd: number, received: Buffer): void {
    const conn = this.addConnection((onBytes) => socketFromFd(fd, onBytes), () => closeFd(fd));
    conn?.receive(received);
  }

  private onConnection(socket: net.Socket): void {
    this.addConnection((onBytes) => adoptForReads(socket, onBytes).socket, () => socket.destroy());
  }

  private addConnection(source: SocketSource, discard: () => void): IscsiConnection | undefined {
    try {
      if (this.closing) {
        discard();
        return undefined;
      }
      this.counters.connectionsTotal++;
      const conn = new IscsiConnection(source, this.ctx);
      this.connections.add(conn);
      conn.log('debug', 'connected');
      void conn.closedPromise.then(() => {
        this.connections.delete(conn);
        conn.log('debug', conn.handedOver ? 'handed over to another thread' : 'disconnected');
      });
      return conn;
    } catch (e) {
      this.ctx.log('error', `iscsi: cannot set up a connection: ${(e as Error).message}`);
      discard();
      return undefined;
    }
  }

  private sessionEnded(session: IscsiSession, pending: Promise<void>[]): void {
    const e = this.sessionsByTsih.get(session.tsih);
    if (e && e.session === session) this.sessionsByTsih.delete(session.tsih);
    if (this.sessionsByKey.get(session.key) === session) this.sessionsByKey.delete(session.key);
    const nexus = session.nexus;
    const port = session.port; // the initiator's view: the units its nexus reached
    const p: Promise<void> = withTimeout(Promise.all(pending), this.ctx.options.taskWaitTimeout).then(() => {
      if (nexus && port) {
        try {
          port.nexusLost(nexus);
        } catch (err) {
          this.ctx.log('error', `nexusLost(${nexus.id}) threw: ${(err as Error).message}`);
        }
      }
      this.ctx.log('debug', `iscsi session ${session.tsih} (${session.initiatorName}) closed`);
    });
    this.teardowns.add(p);
    void p.finally(() => this.teardowns.delete(p));
  }
}
