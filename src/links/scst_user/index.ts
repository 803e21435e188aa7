// The scst_user link: every logical unit becomes an SCST user-space device (one /dev/scst_user
// fd each, see device-server.ts). SCST's target drivers (iSCSI-SCST, qla2x00t, ib_srpt,
// scst_local, ...) then reach it once the admin adds it to a target (scstadmin or sysfs; see
// README.md in this folder): unlike tcmu, this link does not create targets itself.
import { StartupError } from '../../host/errors.ts';
import type { LogicalUnit } from '../../scsi/command.ts';
import type { Link, LinkContext, LinkLun } from '../link.ts';
import { DeviceServer, type DeviceServerOptions } from './device-server.ts';
import { openScstUser, type OpenPort } from './port.ts';
import { parseTypeName, type MemoryReuse } from './registration.ts';
import { ScstSysfs } from './sysfs.ts';
import { DEFAULT_SYSFS_ROOT, chooseVersion, type VersionChoice } from './version-source.ts';

export { DeviceServer } from './device-server.ts';
export type { ScstUserPort, OpenPort } from './port.ts';

export interface ScstUserLinkOptions extends LinkContext {
  /** The DEV_USER_VERSION string to present (--scst-version); default: found as version-source.ts says. */
  readonly version?: string;
  /** Opens /dev/scst_user; tests pass the kernel model. */
  readonly openPort?: OpenPort;
  readonly includeDirs?: readonly string[];
  readonly sysfsRoot?: string;
  readonly memoryReuse?: MemoryReuse;
  readonly prealloc?: DeviceServerOptions['prealloc'];
  readonly restart?: DeviceServerOptions['restart'];
}

export class ScstUserLink implements Link {
  readonly name = 'scst_user';
  readonly #o: ScstUserLinkOptions;
  readonly #servers = new Map<string, DeviceServer>();
  readonly #unsubscribe: (() => void)[] = [];
  #closing?: Promise<void>;
  /** Chosen at start(); units added later register with the same strings. */
  #versions: VersionChoice = { candidates: [], origin: 'not started' };

  constructor(o: ScstUserLinkOptions) {
    this.#o = o;
  }

  get #sysfsRoot(): string {
    return this.#o.sysfsRoot ?? DEFAULT_SYSFS_ROOT;
  }

  async start(): Promise<LinkLun[]> {
    const o = this.#o;
    try {
      this.#versions = await chooseVersion({ override: o.version, includeDirs: o.includeDirs, sysfsRoot: o.sysfsRoot });
    } catch (e) {
      throw new StartupError(`--link scst_user: ${(e as Error).message}`);
    }
    const units = new Map<string, LogicalUnit>();
    for (const t of o.targets) for (const lu of t.luns.values()) units.set(lu.name, lu);
    try {
      for (const lu of units.values()) this.#register(lu);
    } catch (e) {
      await this.close(5_000).catch(() => undefined);
      throw new StartupError(`--link scst_user: ${(e as Error).message}`);
    }
    return [...this.#servers.values()].map((s) => this.#served(s));
  }

  /**
   * A unit added while running (a new image in a folder of ISOs): registered as one more SCST
   * user device; as for every device of this link, the admin maps it to a target.
   */
  async addLun(_target: string, _lun: number, lu: LogicalUnit): Promise<LinkLun> {
    if (this.#closing) throw new Error('the scst_user link is closing');
    if (this.#servers.has(lu.name)) throw new Error(`${lu.name} is already registered`);
    return this.#served(this.#register(lu));
  }

  #register(lu: LogicalUnit): DeviceServer {
    const o = this.#o;
    const server = new DeviceServer({
      lu,
      openPort: o.openPort ?? openScstUser(),
      versions: this.#versions,
      log: o.log,
      memoryReuse: o.memoryReuse,
      prealloc: o.prealloc,
      restart: o.restart,
      sysfs: new ScstSysfs(this.#sysfsRoot),
    });
    server.start();
    this.#servers.set(lu.name, server);
    if (lu.onCapacityChanged) this.#unsubscribe.push(lu.onCapacityChanged(() => server.capacityChanged()));
    o.log('debug', `${lu.name}: registered with SCST as a ${parseTypeName(server.registration.parseType)}-parse user device (${server.version})`);
    return server;
  }

  #served(s: DeviceServer): LinkLun {
    return {
      device: s.lu.name,
      target: '',
      lun: 0,
      url: `${this.#sysfsRoot}/devices/${s.lu.name}`,
      link: { handler: s.lu.name, parse: parseTypeName(s.registration.parseType), memoryReuse: s.registration.memoryReuse, version: s.version },
    };
  }

  /** The device server of a device (tests, status). */
  server(name: string): DeviceServer | undefined {
    return this.#servers.get(name);
  }

  stats(): Record<string, unknown> {
    return { link: 'scst_user', devices: [...this.#servers.values()].map((s) => s.describe()) };
  }

  close(timeoutMs = 10_000): Promise<void> {
    this.#closing ??= (async () => {
      for (const u of this.#unsubscribe.splice(0)) u();
      await Promise.all([...this.#servers.values()].map((s) => s.close(timeoutMs)));
      this.#servers.clear();
    })();
    return this.#closing;
  }
}
