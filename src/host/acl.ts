// Access control in the config: per-target CHAP and ACLs (initiator name or pattern -> its own LUN
// map, read-only per mapping), discovery CHAP, secrets from files, which ACL an initiator gets,
// and the rule that a network portal never serves an open target without CHAP by accident.
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CHAP_ALGORITHM_NAMES, MIN_SECRET_BYTES, type ChapAlgorithmName, type ChapCredentials, type ChapSecret } from '../links/iscsi/chap.ts';
import { ConfigError } from './errors.ts';

export type { ChapCredentials };

export interface LunMapping {
  lun: number;
  device: string;
  /** Writes through this mapping fail with 07/27/00 (the device itself may stay writable). */
  readOnly?: boolean;
}

export interface AclEntry {
  /** An exact iSCSI name (iqn., eui., naa.), lower case, or a pattern with "*" (any characters). */
  readonly initiator: string;
  /** Its own LUN map; absent: the target's "luns". */
  readonly luns?: readonly LunMapping[] | undefined;
  /** Overrides the target's CHAP for this initiator. */
  readonly chap?: ChapCredentials | undefined;
}

/** "any": every initiator (the explicit open form); a list: only those it names. */
export type Acls = 'any' | readonly AclEntry[];

/** The access fields of a target. */
export interface TargetAccess {
  readonly iqn: string;
  readonly luns: readonly LunMapping[];
  /** Absent: open to any initiator on a loopback portal only (the quick command-line form). */
  readonly acls?: Acls | undefined;
  readonly chap?: ChapCredentials | undefined;
}

export const MAX_LUN = 16383; // flat space addressing
const IQN = /^iqn\.\d{4}-\d{2}\.[a-z0-9][a-z0-9.-]*(:[a-z0-9.:-]+)?$/;
const EUI = /^eui\.[0-9a-f]{16}$/;
const NAA = /^naa\.(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const PATTERN = /^[a-z0-9.:*-]+$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(raw: Record<string, unknown>, known: readonly string[], where: string, at: string): void {
  for (const key of Object.keys(raw)) if (!known.includes(key)) throw new ConfigError(where, `${at}.${key}`, `unknown field (known: ${known.join(', ')})`);
}

/** A LUN list: [{ lun, device, readOnly? }], LUN numbers unique, devices known. */
export function parseLunList(raw: unknown, where: string, at: string, devices: ReadonlySet<string>): LunMapping[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new ConfigError(where, at, 'must be a non-empty array of { lun, device, readOnly? }');
  const seen = new Set<number>();
  return raw.map((l: unknown, i: number): LunMapping => {
    const lat = `${at}[${i}]`;
    if (!isObject(l)) throw new ConfigError(where, lat, 'must be an object { lun, device, readOnly? }');
    onlyKeys(l, ['lun', 'device', 'readOnly'], where, lat);
    const lun = l.lun;
    if (typeof lun !== 'number' || !Number.isInteger(lun) || lun < 0 || lun > MAX_LUN) throw new ConfigError(where, `${lat}.lun`, `must be a whole number from 0 to ${MAX_LUN}`);
    if (seen.has(lun)) throw new ConfigError(where, `${lat}.lun`, `LUN ${lun} is used twice in this map`);
    seen.add(lun);
    if (typeof l.device !== 'string' || !devices.has(l.device)) throw new ConfigError(where, `${lat}.device`, `names no device in "devices" (${JSON.stringify(l.device)})`);
    if (l.readOnly !== undefined && typeof l.readOnly !== 'boolean') throw new ConfigError(where, `${lat}.readOnly`, 'must be true or false');
    return l.readOnly ? { lun, device: l.device, readOnly: true } : { lun, device: l.device };
  });
}

/**
 * A secrets file: readable by its owner only (like ssh's keys), owned by us or root; one secret,
 * a final newline dropped. A relative path is relative to the config file.
 */
function readSecretFile(raw: unknown, where: string, at: string): string {
  if (typeof raw !== 'string' || raw === '') throw new ConfigError(where, at, 'must be the path of a file holding the secret');
  const path = resolve(where === 'command line' ? '.' : dirname(where), raw);
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new ConfigError(where, at, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isFile()) throw new ConfigError(where, at, `${path} is not a file`);
  if ((st.mode & 0o077) !== 0) throw new ConfigError(where, at, `${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 ${path}`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) throw new ConfigError(where, at, `${path} belongs to uid ${st.uid}, not to us (${uid}) or root`);
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
}

function parseSecret(raw: Record<string, unknown>, where: string, at: string): ChapSecret {
  onlyKeys(raw, ['user', 'secret', 'secretFile'], where, at);
  const user = raw.user;
  // §12.1.3: CHAP_N is a text value; we keep it printable and short.
  if (typeof user !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(user)) throw new ConfigError(where, `${at}.user`, 'must be 1-255 printable characters without spaces');
  if ((raw.secret === undefined) === (raw.secretFile === undefined)) throw new ConfigError(where, at, 'needs exactly one of "secret" and "secretFile"');
  const secret = raw.secret !== undefined ? raw.secret : readSecretFile(raw.secretFile, where, `${at}.secretFile`);
  const field = raw.secret !== undefined ? `${at}.secret` : `${at}.secretFile`;
  if (typeof secret !== 'string') throw new ConfigError(where, field, 'must be a string');
  const bytes = Buffer.byteLength(secret);
  // RFC 7143 §9.2.1: fewer than 96 bits of secret is only acceptable under IPsec.
  if (bytes < MIN_SECRET_BYTES) throw new ConfigError(where, field, `a CHAP secret needs at least ${MIN_SECRET_BYTES} bytes (this one has ${bytes}); use 16 random bytes or more`);
  if (bytes > 255) throw new ConfigError(where, field, `a CHAP secret of ${bytes} bytes is too long (at most 255)`);
  return { user, secret };
}

/** "chap": { user, secret | secretFile, mutual?: { user, secret | secretFile }, algorithms?: [...] }. */
export function parseChap(raw: unknown, where: string, at: string): ChapCredentials {
  if (!isObject(raw)) throw new ConfigError(where, at, 'must be an object { user, secret | secretFile, mutual?, algorithms? }');
  const { mutual: rawMutual, algorithms: rawAlgs, ...own } = raw;
  const base = parseSecret(own, where, at);
  let mutual: ChapSecret | undefined;
  if (rawMutual !== undefined) {
    if (!isObject(rawMutual)) throw new ConfigError(where, `${at}.mutual`, 'must be an object { user, secret | secretFile }');
    mutual = parseSecret(rawMutual, where, `${at}.mutual`);
    // RFC 7143 §12.1.3: the two directions must not share a secret.
    if (mutual.secret === base.secret) throw new ConfigError(where, `${at}.mutual.secret`, 'must differ from the initiator\'s secret');
  }
  let algorithms: ChapAlgorithmName[] | undefined;
  if (rawAlgs !== undefined) {
    if (!Array.isArray(rawAlgs) || rawAlgs.length === 0 || rawAlgs.some((a) => !CHAP_ALGORITHM_NAMES.includes(a as ChapAlgorithmName))) {
      throw new ConfigError(where, `${at}.algorithms`, `must be a non-empty list of ${CHAP_ALGORITHM_NAMES.join(', ')}`);
    }
    algorithms = rawAlgs as ChapAlgorithmName[];
  }
  return { ...base, ...(mutual ? { mutual } : {}), ...(algorithms ? { algorithms } : {}) };
}

/** An ACL's "initiator": an exact iSCSI name, or a pattern where "*" stands for any characters. */
export function checkInitiatorPattern(v: unknown, where: string, at: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 223) throw new ConfigError(where, at, 'must be an iSCSI name (iqn., eui., naa.) or a pattern with "*"');
  const name = v.toLowerCase(); // iSCSI names compare case-insensitively (RFC 7143 §4.2.7.1)
  if (name.includes('*')) {
    if (!PATTERN.test(name)) throw new ConfigError(where, at, `pattern ${JSON.stringify(v)} may hold only letters, digits, ".", "-", ":" and "*"`);
    return name;
  }
  if (!IQN.test(name) && !EUI.test(name) && !NAA.test(name)) {
    throw new ConfigError(where, at, `${JSON.stringify(v)} is not an iSCSI name (iqn.YYYY-MM.reversed.domain[:suffix], eui.<16 hex>, naa.<16 or 32 hex>) or a pattern with "*"`);
  }
  return name;
}

/** "acls": "any" | [{ initiator, luns?, chap? }]. */
export function parseAcls(raw: unknown, where: string, at: string, devices: ReadonlySet<string>): Acls {
  if (raw === 'any') return 'any';
  if (!Array.isArray(raw) || raw.length === 0) throw new ConfigError(where, at, 'must be "any" or a non-empty array of { initiator, luns?, chap? }');
  const seen = new Set<string>();
  return raw.map((e: unknown, i: number): AclEntry => {
    const eat = `${at}[${i}]`;
    if (!isObject(e)) throw new ConfigError(where, eat, 'must be an object { initiator, luns?, chap? }');
    onlyKeys(e, ['initiator', 'luns', 'chap'], where, eat);
    const initiator = checkInitiatorPattern(e.initiator, where, `${eat}.initiator`);
    if (seen.has(initiator)) throw new ConfigError(where, `${eat}.initiator`, `${initiator} has two ACL entries in this target`);
    seen.add(initiator);
    return {
      initiator,
      ...(e.luns !== undefined ? { luns: parseLunList(e.luns, where, `${eat}.luns`, devices) } : {}),
      ...(e.chap !== undefined ? { chap: parseChap(e.chap, where, `${eat}.chap`) } : {}),
    };
  });
}

/** Whether `name` (lower case) matches the ACL pattern (exact, or "*" = any run of characters). */
export function patternMatches(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const parts = pattern.split('*');
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (!name.startsWith(first) || name.length < first.length + last.length || !name.endsWith(last)) return false;
  let at = first.length;
  const end = name.length - last.length;
  for (const mid of parts.slice(1, -1)) {
    const k = name.indexOf(mid, at);
    if (k < 0 || k + mid.length > end) return false;
    at = k + mid.length;
  }
  return true;
}

/**
 * The ACL entry an initiator gets: its exact name first, else the matching pattern with the most
 * literal characters (the most specific), the earlier one on a tie. Undefined: not allowed.
 */
export function matchAcl(acls: readonly AclEntry[], initiatorName: string): AclEntry | undefined {
  const name = initiatorName.toLowerCase();
  const exact = acls.find((a) => a.initiator === name);
  if (exact) return exact;
  let best: AclEntry | undefined;
  for (const a of acls) {
    if (!a.initiator.includes('*') || !patternMatches(a.initiator, name)) continue;
    if (!best || literalLength(a.initiator) > literalLength(best.initiator)) best = a;
  }
  return best;
}

function literalLength(pattern: string): number {
  return pattern.replaceAll('*', '').length;
}

/** Every device a target serves to someone: its own LUNs and its ACLs' LUNs. */
export function targetDevices(t: Pick<TargetAccess, 'luns' | 'acls'>): string[] {
  const names = new Set(t.luns.map((l) => l.device));
  if (Array.isArray(t.acls)) for (const a of t.acls) for (const l of a.luns ?? []) names.add(l.device);
  return [...names];
}

/** The LUN map an ACL entry sees (its own, else the target's). */
export function lunsOf(t: Pick<TargetAccess, 'luns'>, acl: AclEntry | undefined): readonly LunMapping[] {
  return acl?.luns ?? t.luns;
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '').replace(/^::ffff:/, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** How a target is open: to any initiator without CHAP, or with no "acls" at all; undefined when neither. */
export function openness(t: TargetAccess): 'no-acls' | 'any-without-chap' | undefined {
  if (t.acls === undefined) return 'no-acls';
  if (t.chap) return undefined;
  if (t.acls === 'any' || t.acls.some((a) => a.initiator === '*' && !a.chap)) return 'any-without-chap';
  return undefined;
}

/**
 * The refusal (one line) for targets a network portal would serve to anyone without CHAP, unless
 * the user allowed it on purpose (--allow-any-initiator); undefined when all is well.
 */
export function exposureProblem(host: string, targets: readonly TargetAccess[], allowAny: boolean): string | undefined {
  if (allowAny || isLoopback(host)) return undefined;
  const open = targets.filter((t) => openness(t) !== undefined);
  if (open.length === 0) return undefined;
  const names = open.map((t) => t.iqn).join(', ');
  return (
    `${host} is reachable from the network and ${open.length === 1 ? 'target' : 'targets'} ${names} would accept any initiator without CHAP: ` +
    'give each target "acls" and/or "chap" in --config, or pass --allow-any-initiator to serve them open on purpose'
  );
}

/**
 * Whether the config's access control can be served by this link: the embedded iSCSI target
 * enforces ACLs and CHAP itself; a kernel link would ignore them, so it refuses to start (one
 * line). Then the network rule above. Undefined when all is well.
 */
export function accessProblem(
  cfg: { portal: { host: string }; targets: readonly TargetAccess[]; discoveryChap?: ChapCredentials | undefined; allowAnyInitiator?: boolean | undefined },
  link: string,
  exportKind: string | undefined,
): string | undefined {
  const guarded = cfg.targets.filter((t) => t.acls !== undefined || t.chap !== undefined).map((t) => t.iqn);
  const lio = link === 'tcmu' && exportKind === 'iscsi';
  if (link !== 'iscsi' && !lio && (guarded.length > 0 || cfg.discoveryChap)) {
    const what = guarded.length ? `targets ${guarded.join(', ')} have "acls" or "chap"` : '"discovery" has "chap"';
    return link === 'scst_user'
      ? `${what}, but with --link scst_user SCST's target driver decides who logs in: put the initiators in SCST initiator groups (ini_groups, see src/links/scst_user/ACCESS.md) and drop them from the config, or use --link iscsi`
      : `${what}, but --link ${link} --export ${exportKind ?? 'local'} serves no network: drop them, or use --export iscsi or --link iscsi`;
  }
  if (lio) {
    if (cfg.discoveryChap) return '"discovery" has "chap": LIO discovery authentication is machine-wide (iscsi/discovery_auth); set it with targetcli, or use --link iscsi';
    for (const t of cfg.targets) {
      const p = lioAccessProblem(t);
      if (p) return p;
    }
  }
  // only links that listen on the portal: the embedded target, and LIO's iSCSI export
  if (link === 'scst_user' || (link === 'tcmu' && exportKind !== 'iscsi')) return undefined;
  return exposureProblem(cfg.portal.host, cfg.targets, cfg.allowAnyInitiator === true);
}

/**
 * What a reload (SIGHUP) may not change: the devices, the targets and their own "luns"; ACL
 * entries may map only devices their target served already. Undefined when the reload may go on.
 */
export function reloadProblem(
  old: { devices: ReadonlyArray<{ name: string }>; targets: readonly TargetAccess[] },
  next: { devices: ReadonlyArray<{ name: string }>; targets: readonly TargetAccess[] },
): string | undefined {
  // (a thread's share of the config holds some of the devices: each must be there unchanged)
  const now = new Map(next.devices.map((d) => [d.name, JSON.stringify(d)]));
  if (old.devices.some((d) => now.get(d.name) !== JSON.stringify(d))) return 'the devices changed: restart to serve other devices';
  const before = new Map(old.targets.map((t) => [t.iqn, t]));
  if (old.targets.length !== next.targets.length || next.targets.some((t) => !before.has(t.iqn))) return 'the set of targets changed: restart to add or remove targets';
  for (const t of next.targets) {
    const o = before.get(t.iqn)!;
    if (JSON.stringify(o.luns) !== JSON.stringify(t.luns)) return `the "luns" of ${t.iqn} changed: restart to change them`;
    const served = new Set(targetDevices(o));
    const added = targetDevices(t).filter((d) => !served.has(d));
    if (added.length) return `ACL entries of ${t.iqn} map ${added.join(', ')}, which that target did not serve: restart to add them`;
  }
  return undefined;
}

/** What LIO's node ACLs cannot express (--link tcmu --export iscsi), in one line; undefined when it can. */
export function lioAccessProblem(t: TargetAccess): string | undefined {
  const entries = t.acls === undefined || t.acls === 'any' ? [] : t.acls;
  if (entries.length === 0 && t.luns.some((l) => l.readOnly)) return `${t.iqn}: LIO's demo mode cannot write-protect one LUN: give "acls" entries, or make the device readOnly`;
  const own = new Set(t.luns.map((l) => l.device));
  for (const e of entries) {
    if (e.initiator.includes('*')) return `${t.iqn}: LIO's ACLs name exact initiators; "${e.initiator}" is a pattern (use --link iscsi for patterns)`;
    const other = (e.luns ?? []).find((l) => !own.has(l.device));
    if (other) return `${t.iqn}: with LIO, ACL entry ${e.initiator} may map only devices of the target's "luns" (${other.device} is not one)`;
  }
  if ([t.chap, ...entries.map((e) => e.chap)].some((c) => c?.algorithms)) return `${t.iqn}: LIO offers every CHAP algorithm the kernel has: drop "algorithms" with --link tcmu`;
  if (!t.chap && entries.some((e) => e.chap) && entries.some((e) => !e.chap)) return `${t.iqn}: LIO's CHAP is on or off per target: give every ACL entry CHAP, or the target one`;
  return undefined;
}

/** ACL entries that let an initiator in on its (unauthenticated) name alone: worth a warning off loopback. */
export function nameOnlyAcls(targets: readonly TargetAccess[]): string[] {
  const out: string[] = [];
  for (const t of targets) {
    if (!Array.isArray(t.acls) || t.chap) continue;
    for (const a of t.acls) if (!a.chap) out.push(`${t.iqn} <- ${a.initiator}`);
  }
  return out;
}

/** The effective view per target and initiator (--list-acls): ACL, auth, LUN -> device (ro). Never a secret. */
export function describeAccess(targets: readonly TargetAccess[], discoveryChap: ChapCredentials | undefined, host: string): string[] {
  const lines: string[] = [];
  const auth = (c: ChapCredentials | undefined): string => (c ? `CHAP user ${c.user}${c.mutual ? `, mutual as ${c.mutual.user}` : ''}${c.algorithms ? ` (${c.algorithms.join(', ')})` : ''}` : 'no CHAP');
  const map = (luns: readonly LunMapping[]): string => luns.map((l) => `${l.lun}=${l.device}${l.readOnly ? '(ro)' : ''}`).join(' ');
  lines.push(`discovery: ${auth(discoveryChap)}`);
  for (const t of targets) {
    lines.push(`${t.iqn}: ${t.acls === undefined ? (isLoopback(host) ? 'any initiator (loopback portal, no "acls")' : 'no "acls": refused on a network portal') : t.acls === 'any' ? 'any initiator' : `${t.acls.length} ACL ${t.acls.length === 1 ? 'entry' : 'entries'}`}, ${auth(t.chap)}`);
    if (!Array.isArray(t.acls)) {
      lines.push(`  * -> ${map(t.luns)}`);
      continue;
    }
    for (const a of t.acls) lines.push(`  ${a.initiator} -> ${map(lunsOf(t, a)) || '(no LUNs)'}; ${a.chap ? auth(a.chap) : t.chap ? 'target CHAP' : 'no CHAP'}`);
  }
  return lines;
}
