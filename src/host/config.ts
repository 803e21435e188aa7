// What to serve: devices, the targets that group them into LUNs, and where to listen. Built from
// the command line and/or a JSON --config file; every error names the file and the field.
import type { DeviceConfig } from '../handlers/contract.ts';
import { ConfigError } from './errors.ts';
import { MAX_LUN, parseAcls, parseChap, parseLunList, targetDevices, type Acls, type ChapCredentials, type LunMapping } from './acl.ts';

export { MAX_LUN, type LunMapping };

export const LINKS = ['auto', 'iscsi', 'tcmu', 'scst_user'] as const;
export type LinkName = (typeof LINKS)[number];

export interface Portal {
  host: string;
  port: number;
}

export interface TargetConfig {
  iqn: string;
  alias?: string;
  luns: LunMapping[];
  /** Who may log in and what each initiator sees (src/host/acl.ts); absent: anyone, loopback only. */
  acls?: Acls;
  /** CHAP every initiator of this target must pass (an ACL entry's own "chap" overrides it). */
  chap?: ChapCredentials;
}

export interface ServeConfig {
  portal: Portal;
  iqnPrefix: string;
  link: LinkName;
  devices: DeviceConfig[];
  targets: TargetConfig[];
  /** CHAP for discovery sessions (SendTargets); absent: discovery is open and lists what each initiator may use. */
  discoveryChap?: ChapCredentials;
  /** Targets open to any initiator without CHAP may listen off loopback (--allow-any-initiator). */
  allowAnyInitiator?: boolean;
}

export const DEFAULT_PORTAL = '127.0.0.1:3260';
export const DEFAULT_IQN_PREFIX = 'iqn.2026-11.org.fileio-tgt';

/** Fields of DeviceConfig every handler understands, with their JSON types ('size': bytes or "64M"). */
const DEVICE_FIELDS: Record<string, 'string' | 'number' | 'boolean' | 'object' | 'size'> = {
  name: 'string',
  type: 'string',
  file: 'string',
  blockSize: 'number',
  sizeBytes: 'number',
  readOnly: 'boolean',
  writeThrough: 'boolean',
  direct: 'boolean',
  nullio: 'boolean',
  nvCache: 'boolean',
  cacheSize: 'size',
  removable: 'boolean',
  thin: 'boolean',
  serial: 'string',
  vendor: 'string',
  product: 'string',
  revision: 'string',
  options: 'object',
};

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// RFC 3720 §3.2.6.3.1: iqn.yyyy-mm.reversed.domain[:anything]; lower case, no spaces.
const IQN = /^iqn\.\d{4}-\d{2}\.[a-z0-9][a-z0-9.-]*(:[a-z0-9.:-]+)?$/;
const EUI = /^eui\.[0-9A-F]{16}$/;

export function parsePortal(text: string, where: string, field: string): Portal {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) throw new ConfigError(where, field, `"${text}" is not HOST:PORT`);
  const host = m[1] ?? m[2];
  const port = m[3] === undefined ? 3260 : Number(m[3]);
  if (port > 65535) throw new ConfigError(where, field, `port ${port} is out of range (0-65535)`);
  return { host, port };
}

export function checkBlockSize(n: unknown, where: string, field: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 512 || n > 65536 || (n & (n - 1)) !== 0) {
    throw new ConfigError(where, field, `block size ${String(n)} must be a power of two from 512 to 65536`);
  }
  return n;
}

export function checkDeviceName(n: unknown, where: string, field: string): string {
  if (typeof n !== 'string' || !NAME.test(n)) {
    throw new ConfigError(where, field, `device name ${JSON.stringify(n)} must be 1-64 letters, digits, ".", "-" or "_", starting with a letter or digit`);
  }
  return n;
}

export function checkIqn(n: unknown, where: string, field: string): string {
  if (typeof n !== 'string' || !(IQN.test(n) || EUI.test(n)) || n.length > 223) {
    throw new ConfigError(where, field, `${JSON.stringify(n)} is not an iSCSI name (iqn.YYYY-MM.reversed.domain[:suffix], lower case, at most 223 bytes)`);
  }
  return n;
}

/** The target name given to a device that has no explicit target. */
export function defaultTargetIqn(prefix: string, device: string): string {
  // iSCSI names allow only lower-case letters, digits, '-', '.' and ':'.
  return `${prefix}:${device.toLowerCase().replaceAll('_', '-')}`;
}

/** Parses sizes like 4096, 10G, 1TiB, 512M (binary multiples). */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)\s*([KMGTP]?)(?:i?B)?$/i.exec(text.trim());
  if (!m) return undefined;
  const shift = { '': 0, K: 10, M: 20, G: 30, T: 40, P: 50 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T' | 'P'];
  const n = Number(m[1]) * 2 ** shift;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Page cache sizes: a whole number of 4 KiB pages, 0 (no cache) or at least this much. */
export const MIN_CACHE_BYTES = 64 << 10;
const CACHE_PAGE = 4096;

/** A --cache-size / cacheSize value (bytes, or a size such as "256M") as a number of bytes. */
export function checkCacheSize(v: unknown, where: string, field: string): number {
  const n = typeof v === 'string' ? parseSize(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new ConfigError(where, field, `${JSON.stringify(v)} is not a size (bytes, or a number with K, M, G: "256M")`);
  }
  if (n !== 0 && n < MIN_CACHE_BYTES) throw new ConfigError(where, field, `a page cache of ${n} bytes is too small (0 for none, or at least ${MIN_CACHE_BYTES / 1024}K)`);
  if (n % CACHE_PAGE !== 0) throw new ConfigError(where, field, `${n} bytes is not a whole number of ${CACHE_PAGE}-byte pages`);
  return n;
}

export function deviceDefaults(name: string, type: string): DeviceConfig {
  return {
    name,
    type,
    blockSize: 512,
    readOnly: false,
    writeThrough: false,
    direct: false,
    nullio: false,
    nvCache: false,
    removable: false,
    thin: false,
  };
}

/** Validates one device object from a config file. */
export function parseDevice(raw: unknown, where: string, at: string, knownTypes: readonly string[]): DeviceConfig {
  if (!isObject(raw)) throw new ConfigError(where, at, 'must be an object');
  for (const [key, value] of Object.entries(raw)) {
    const kind = DEVICE_FIELDS[key];
    if (!kind) throw new ConfigError(where, `${at}.${key}`, `unknown field (known: ${Object.keys(DEVICE_FIELDS).join(', ')})`);
    const actual = Array.isArray(value) ? 'array' : typeof value;
    if (kind === 'size') {
      if (actual !== 'number' && actual !== 'string') throw new ConfigError(where, `${at}.${key}`, `must be a size (bytes or "256M"), not ${value === null ? 'null' : actual}`);
      continue;
    }
    if (actual !== kind || value === null) throw new ConfigError(where, `${at}.${key}`, `must be a ${kind}, not ${value === null ? 'null' : actual}`);
  }
  const name = checkDeviceName(raw.name, where, `${at}.name`);
  const type = (raw.type as string | undefined) ?? 'disk';
  if (!knownTypes.includes(type)) throw new ConfigError(where, `${at}.type`, `unknown handler type "${type}" (known: ${knownTypes.join(', ')})`);
  const dev: DeviceConfig = { ...deviceDefaults(name, type), ...(raw as Partial<DeviceConfig>), name, type };
  checkBlockSize(dev.blockSize, where, `${at}.blockSize`);
  if (raw.cacheSize !== undefined) dev.cacheSize = checkCacheSize(raw.cacheSize, where, `${at}.cacheSize`);
  if (dev.sizeBytes !== undefined && (!Number.isSafeInteger(dev.sizeBytes) || dev.sizeBytes <= 0)) {
    throw new ConfigError(where, `${at}.sizeBytes`, 'must be a positive whole number of bytes');
  }
  if (dev.file === undefined && dev.sizeBytes === undefined) {
    throw new ConfigError(where, `${at}.file`, 'is required (or sizeBytes for a device without backing file)');
  }
  return dev;
}

const TARGET_FIELDS = ['iqn', 'alias', 'luns', 'acls', 'chap'];

function parseTarget(raw: unknown, where: string, at: string, devices: Set<string>): TargetConfig {
  if (!isObject(raw)) throw new ConfigError(where, at, 'must be an object with "iqn" and "luns" (or "acls" with LUN maps)');
  for (const key of Object.keys(raw)) {
    if (!TARGET_FIELDS.includes(key)) throw new ConfigError(where, `${at}.${key}`, `unknown field (known: ${TARGET_FIELDS.join(', ')})`);
  }
  const iqn = checkIqn(raw.iqn, where, `${at}.iqn`);
  if (raw.alias !== undefined && typeof raw.alias !== 'string') throw new ConfigError(where, `${at}.alias`, 'must be a string');
  const acls = raw.acls === undefined ? undefined : parseAcls(raw.acls, where, `${at}.acls`, devices);
  const chap = raw.chap === undefined ? undefined : parseChap(raw.chap, where, `${at}.chap`);
  // Every ACL entry with a LUN map of its own: the target needs none.
  const ownMaps = Array.isArray(acls) && acls.every((a) => a.luns);
  const luns = raw.luns === undefined && ownMaps ? [] : parseLunList(raw.luns, where, `${at}.luns`, devices);
  return { iqn, alias: raw.alias as string | undefined, luns, ...(acls ? { acls } : {}), ...(chap ? { chap } : {}) };
}

/** A --config document: { portal?, iqnPrefix?, link?, devices: [...], targets?: [...] }. */
export interface FileConfig {
  portal?: Portal;
  iqnPrefix?: string;
  link?: LinkName;
  devices: DeviceConfig[];
  targets: TargetConfig[];
  discoveryChap?: ChapCredentials;
}

export function parseConfigFile(text: string, where: string, knownTypes: readonly string[]): FileConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(where, '', `not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw new ConfigError(where, '', 'must be a JSON object');
  for (const key of Object.keys(doc)) {
    if (!['$comment', 'portal', 'iqnPrefix', 'link', 'devices', 'targets', 'libraries', 'discovery'].includes(key)) {
      throw new ConfigError(where, key, 'unknown field (known: portal, iqnPrefix, link, devices, targets, libraries, discovery)');
    }
  }
  const out: FileConfig = { devices: [], targets: [] };
  if (doc.discovery !== undefined) {
    if (!isObject(doc.discovery)) throw new ConfigError(where, 'discovery', 'must be an object { chap }');
    for (const key of Object.keys(doc.discovery)) if (key !== 'chap') throw new ConfigError(where, `discovery.${key}`, 'unknown field (known: chap)');
    if (doc.discovery.chap !== undefined) out.discoveryChap = parseChap(doc.discovery.chap, where, 'discovery.chap');
  }
  if (doc.portal !== undefined) {
    if (typeof doc.portal !== 'string') throw new ConfigError(where, 'portal', 'must be a "HOST:PORT" string');
    out.portal = parsePortal(doc.portal, where, 'portal');
  }
  if (doc.iqnPrefix !== undefined) out.iqnPrefix = checkIqn(doc.iqnPrefix, where, 'iqnPrefix');
  if (doc.link !== undefined) {
    if (!LINKS.includes(doc.link as LinkName)) throw new ConfigError(where, 'link', `must be one of ${LINKS.join(', ')}`);
    out.link = doc.link as LinkName;
  }
  const libraries = doc.libraries === undefined ? undefined : parseLibraries(doc.libraries, where, out.iqnPrefix ?? DEFAULT_IQN_PREFIX, knownTypes);
  if (doc.devices !== undefined || !libraries) {
    if (!Array.isArray(doc.devices) || (doc.devices.length === 0 && !libraries)) throw new ConfigError(where, 'devices', 'must be a non-empty array');
  }
  const names = new Set<string>();
  ((doc.devices ?? []) as unknown[]).forEach((d: unknown, i: number) => {
    const dev = parseDevice(d, where, `devices[${i}]`, knownTypes);
    if (names.has(dev.name)) throw new ConfigError(where, `devices[${i}].name`, `device name "${dev.name}" is used twice`);
    names.add(dev.name);
    out.devices.push(dev);
  });
  for (const lib of libraries ?? []) {
    for (const dev of lib.devices) {
      if (names.has(dev.name)) throw new ConfigError(where, `libraries.${lib.name}`, `device name "${dev.name}" is used twice`);
      names.add(dev.name);
      out.devices.push(dev);
    }
  }
  if (doc.targets !== undefined) {
    if (!Array.isArray(doc.targets)) throw new ConfigError(where, 'targets', 'must be an array');
    const iqns = new Set<string>();
    doc.targets.forEach((t: unknown, i: number) => {
      const target = parseTarget(t, where, `targets[${i}]`, names);
      if (iqns.has(target.iqn)) throw new ConfigError(where, `targets[${i}].iqn`, `target "${target.iqn}" is defined twice`);
      iqns.add(target.iqn);
      out.targets.push(target);
    });
  }
  for (const lib of libraries ?? []) {
    if (out.targets.some((t) => t.iqn === lib.target.iqn)) throw new ConfigError(where, `libraries.${lib.name}`, `target "${lib.target.iqn}" is defined twice`);
    out.targets.push(lib.target);
  }
  return out;
}

/**
 * "libraries": [{ name, media?: "tape" | "optical", cartridges: FOLDER (tape) | images: FOLDER
 * (optical), drives: 2 | ["name", ...], slots: 20, mailSlots: 1, generation?: 1-9 (tape),
 * state?: FILE, iqn?: IQN, vendor?, product? }] — a tape library (tape drives and a changer over a
 * folder of cartridge files) or an optical jukebox (cdrom drives and a changer over a folder of
 * disc images). Drives are created empty; the library is one target: the changer at LUN 0, the
 * drives at LUN 1, 2, ...
 */
function parseLibraries(raw: unknown, where: string, iqnPrefix: string, knownTypes: readonly string[]): Array<{ name: string; devices: DeviceConfig[]; target: TargetConfig }> {
  if (!Array.isArray(raw)) throw new ConfigError(where, 'libraries', 'must be an array of { name, cartridges, drives, slots, mailSlots }');
  return raw.map((l: unknown, i: number) => {
    const at = `libraries[${i}]`;
    if (!isObject(l)) throw new ConfigError(where, at, 'must be an object');
    const media = l.media ?? 'tape';
    if (media !== 'tape' && media !== 'optical') throw new ConfigError(where, `${at}.media`, 'must be "tape" or "optical"');
    const driveType = media === 'tape' ? 'tape' : 'cdrom';
    const folderKey = media === 'tape' ? 'cartridges' : 'images';
    if (!knownTypes.includes(driveType) || !knownTypes.includes('changer')) throw new ConfigError(where, at, `needs the "${driveType}" and "changer" handler types`);
    const known = ['name', 'media', folderKey, 'drives', 'slots', 'mailSlots', ...(media === 'tape' ? ['generation'] : []), 'state', 'iqn', 'vendor', 'product'];
    for (const key of Object.keys(l)) if (!known.includes(key)) throw new ConfigError(where, `${at}.${key}`, `unknown field for a ${media} library (known: ${known.join(', ')})`);
    const name = checkDeviceName(l.name, where, `${at}.name`);
    const folder = l[folderKey];
    if (typeof folder !== 'string' || folder === '') throw new ConfigError(where, `${at}.${folderKey}`, `must be the path of a folder of ${media === 'tape' ? 'cartridge files' : 'disc images (*.iso, *.img)'}`);
    const count = (key: string, fallback: number, max: number): number => {
      const v = l[key];
      if (v === undefined) return fallback;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new ConfigError(where, `${at}.${key}`, `must be a whole number from 0 to ${max}`);
      return v;
    };
    let driveNames: string[];
    if (Array.isArray(l.drives)) driveNames = l.drives.map((d: unknown, k: number) => checkDeviceName(d, where, `${at}.drives[${k}]`));
    else driveNames = Array.from({ length: count('drives', 1, 64) }, (_, k) => `${name}-drive${k}`);
    const generation = l.generation === undefined ? undefined : count('generation', 9, 9);
    const drives: DeviceConfig[] = driveNames.map((d) => ({ ...deviceDefaults(d, driveType), file: '-', removable: true, ...(generation ? { options: { generation } } : {}) }));
    const options: Record<string, unknown> = { ...(media === 'optical' ? { media } : {}), drives: driveNames, slots: count('slots', 20, 1024), mailSlots: count('mailSlots', 1, 239) };
    if (l.state !== undefined) {
      if (typeof l.state !== 'string') throw new ConfigError(where, `${at}.state`, 'must be a file path');
      options.state = l.state;
    }
    const changer: DeviceConfig = { ...deviceDefaults(name, 'changer'), file: folder, removable: true, options };
    if (typeof l.vendor === 'string') changer.vendor = l.vendor;
    if (typeof l.product === 'string') changer.product = l.product;
    const iqn = l.iqn !== undefined ? checkIqn(l.iqn, where, `${at}.iqn`) : checkIqn(defaultTargetIqn(iqnPrefix, name), where, `${at}.name`);
    const target: TargetConfig = { iqn, luns: [{ lun: 0, device: name }, ...driveNames.map((d, k) => ({ lun: k + 1, device: d }))] };
    return { name, devices: [...drives, changer], target };
  });
}

/** Gives each device that no target maps its own target, LUN 0, named after the device. */
export function completeTargets(devices: DeviceConfig[], targets: TargetConfig[], iqnPrefix: string, where: string): TargetConfig[] {
  const mapped = new Set(targets.flatMap(targetDevices));
  const out = [...targets];
  const iqns = new Set(targets.map((t) => t.iqn));
  for (const dev of devices) {
    if (mapped.has(dev.name)) continue;
    const iqn = checkIqn(defaultTargetIqn(iqnPrefix, dev.name), where, `device ${dev.name}`);
    if (iqns.has(iqn)) throw new ConfigError(where, `device ${dev.name}`, `its default target name ${iqn} is already taken`);
    iqns.add(iqn);
    out.push({ iqn, luns: [{ lun: 0, device: dev.name }] });
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
