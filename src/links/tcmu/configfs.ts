// LIO configfs management for the tcmu link: user backstores (core/user_N/NAME), tcm_loop
// exports (a local /dev/sdX) and LIO iSCSI exports. Layout: drivers/target/target_core_configfs.c, tcm_loop.c, iscsi_target_configfs.c.
//
// Every write or symlink that can block in the kernel (enable, LUN symlink -> scsi_add_device,
// LUN unlink -> SYNCHRONIZE CACHE to us, rmdir) goes through fs/promises, i.e. the libuv
// threadpool, so the event loop keeps serving the ring meanwhile (a configfs write can block in the kernel while it waits for the device).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, readlink, rmdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { applyLioAccess, removeAcls, type LioAccess } from './lio-acl.ts';

export const CONFIGFS = '/sys/kernel/config';
export const TARGET = `${CONFIGFS}/target`;
/** The dev_config subtype that marks a backstore as ours. */
export const SUBTYPE = 'fileio_tgt';
/** HBA index used for new backstores (core/user_<N>); stale ones are found under any N. */
export const DEFAULT_HBA = 42;

export type ExportKind = 'local' | 'iscsi';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((res, rej) =>
    execFile(cmd, args, { timeout: 60_000 }, (e, _o, stderr) => (e ? rej(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || e.message}`)) : res())),
  );
}

/** modprobe the module unless /sys/module/<name> already exists. */
export async function ensureModule(name: string): Promise<void> {
  if (existsSync(`/sys/module/${name}`)) return;
  await run('modprobe', [name]);
}

/** target_core_user loaded and configfs mounted with LIO's target directory. */
export async function ensureTcmuReady(): Promise<void> {
  await ensureModule('target_core_user');
  if (!existsSync(TARGET)) {
    if (!existsSync(`${CONFIGFS}`)) throw new Error(`${CONFIGFS} does not exist (is configfs available?)`);
    await run('mount', ['-t', 'configfs', 'configfs', CONFIGFS]);
  }
  if (!existsSync(`${TARGET}/core`)) throw new Error(`${TARGET}/core is missing after loading target_core_user`);
}

async function tryRead(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).replace(/\n$/, '');
  } catch {
    return undefined;
  }
}

async function tryList(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch {
    return [];
  }
}

async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
}

async function rmdirIfPresent(path: string): Promise<void> {
  try {
    await rmdir(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

// ---- backstores -----------------------------------------------------------------------------

export interface BackstoreSpec {
  name: string;
  /** What goes after "fileio_tgt/" in dev_config (handler type and file). */
  config: string;
  sizeBytes: number;
  blockSize: number;
  /** Largest command in blocks (hw_max_sectors). */
  maxSectors: number;
  dataAreaMb: number;
  cmdTimeOut: number;
}

export interface Backstore {
  readonly hba: number;
  readonly name: string;
  readonly path: string;
  /** dev_config as written: "fileio_tgt/<config>" (at most 255 bytes). */
  readonly devConfig: string;
  /** The prefix of the UIO name: "tcm-user/<hba>/<name>/". */
  readonly uioPrefix: string;
}

export function devConfigOf(spec: BackstoreSpec): string {
  const s = `${SUBTYPE}/${spec.config}`;
  return Buffer.byteLength(s) > 255 ? Buffer.from(s).subarray(0, 255).toString('utf8') : s;
}

function backstoreAt(hba: number, name: string, devConfig: string): Backstore {
  return { hba, name, path: `${TARGET}/core/user_${hba}/${name}`, devConfig, uioPrefix: `tcm-user/${hba}/${name}/` };
}

export interface StaleBackstore extends Backstore {
  readonly enabled: boolean;
  readonly sizeBytes: number | undefined;
  readonly blockSize: number | undefined;
}

/** A backstore called `name` left in any core/user_N (by an earlier run, or by someone else). */
export async function findBackstore(name: string): Promise<StaleBackstore | undefined> {
  for (const hbaDir of await tryList(`${TARGET}/core`)) {
    const m = /^user_(\d+)$/.exec(hbaDir);
    if (!m) continue;
    const path = `${TARGET}/core/${hbaDir}/${name}`;
    if (!existsSync(path)) continue;
    const devConfig = (await tryRead(`${path}/attrib/dev_config`)) ?? '';
    const info = (await tryRead(`${path}/info`)) ?? '';
    const enabled = /Status: (ACTIVATED|DEACTIVATED)/.exec(info)?.[1] === 'ACTIVATED' || (await tryRead(`${path}/enable`)) === '1';
    const size = /(?:^|\s)Size: (\d+)/.exec(info)?.[1]; // not SectorSize:
    const bs = await tryRead(`${path}/attrib/hw_block_size`);
    return { ...backstoreAt(Number(m[1]), name, devConfig), enabled, sizeBytes: size === undefined ? undefined : Number(size), blockSize: bs === undefined ? undefined : Number(bs) };
  }
  return undefined;
}

/** mkdir + control + attributes + enable. The caller serves the UIO right after. */
export async function createBackstore(spec: BackstoreSpec, hba = DEFAULT_HBA): Promise<Backstore> {
  const b = backstoreAt(hba, spec.name, devConfigOf(spec));
  await ensureDir(b.path);
  try {
    // One control write; unknown keys are ignored by the kernel, so nothing here is optional-risky.
    await writeFile(
      `${b.path}/control`,
      `dev_size=${spec.sizeBytes},hw_block_size=${spec.blockSize},hw_max_sectors=${spec.maxSectors},max_data_area_mb=${spec.dataAreaMb},nl_reply_supported=-1`,
    );
    // attrib/dev_config takes ',' too; no trailing newline (dev_config_store copies verbatim).
    await writeFile(`${b.path}/attrib/dev_config`, b.devConfig);
    await writeFile(`${b.path}/attrib/cmd_time_out`, String(spec.cmdTimeOut));
    await writeFile(`${b.path}/attrib/tmr_notification`, '1').catch(() => {}); // older kernels lack it
    await writeFile(`${b.path}/enable`, '1');
  } catch (e) {
    await rmdirIfPresent(b.path).catch(() => {});
    throw e;
  }
  return b;
}

/** Write an action/ attribute (block_dev, reset_ring). */
export async function backstoreAction(b: Backstore, action: 'block_dev' | 'reset_ring', value: number): Promise<void> {
  await writeFile(`${b.path}/action/${action}`, String(value));
}

/** rmdir the backstore (its exports must be gone), then the HBA dir if it is empty. */
export async function removeBackstore(b: Backstore): Promise<void> {
  await rmdirIfPresent(b.path);
  const hbaDir = `${TARGET}/core/user_${b.hba}`;
  if ((await tryList(hbaDir)).filter((e) => e !== 'hba_info' && e !== 'hba_mode').length === 0) {
    await rmdirIfPresent(hbaDir).catch(() => {});
  }
}

/** Every LUN symlink (in any fabric) that points at the backstore directory. */
export async function lunLinksTo(b: Backstore): Promise<string[]> {
  const want = resolve(b.path);
  const found: string[] = [];
  for (const fabric of ['loopback', 'iscsi']) {
    for (const wwn of await tryList(`${TARGET}/${fabric}`)) {
      for (const tpg of (await tryList(`${TARGET}/${fabric}/${wwn}`)).filter((t) => t.startsWith('tpgt_'))) {
        const lunDir = `${TARGET}/${fabric}/${wwn}/${tpg}/lun`;
        for (const lun of await tryList(lunDir)) {
          for (const entry of await tryList(`${lunDir}/${lun}`)) {
            const p = `${lunDir}/${lun}/${entry}`;
            try {
              const t = await readlink(p);
              if (resolve(`${lunDir}/${lun}`, t) === want) found.push(p);
            } catch {
              // not a symlink
            }
          }
        }
      }
    }
  }
  return found;
}

// ---- exports --------------------------------------------------------------------------------

/** A stable NAA-5 style WWN (LIO's OUI 00-14-05) from a name, for tcm_loop ports. */
export function naaFor(name: string, role: 'target' | 'initiator'): string {
  const h = createHash('sha256').update(`${role}:${name}`).digest('hex').slice(0, 9);
  return `naa.5001405${h}`;
}

export interface ExportLun {
  lun: number;
  backstore: Backstore;
}

export interface ExportSpec {
  kind: ExportKind;
  /** Target name: the IQN for iscsi; also the seed of the tcm_loop WWN. */
  iqn: string;
  luns: ExportLun[];
  /** LIO iSCSI portal (host, port). */
  portal?: { host: string; port: number };
  /** iscsi: who may log in (absent: demo mode, any initiator); its luns name the TPG's LUNs by device. */
  access?: LioAccess;
}

export interface Export {
  readonly kind: ExportKind;
  readonly wwnPath: string;
  readonly tpgPath: string;
  readonly luns: readonly { lun: number; path: string; link: string }[];
  readonly npPath?: string;
}

export function exportPaths(spec: ExportSpec): { wwnPath: string; tpgPath: string } {
  const wwnPath = spec.kind === 'local' ? `${TARGET}/loopback/${naaFor(spec.iqn, 'target')}` : `${TARGET}/iscsi/${spec.iqn}`;
  return { wwnPath, tpgPath: `${wwnPath}/tpgt_1` };
}

function portalDir(p: { host: string; port: number }): string {
  return p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`;
}

/**
 * Creates (or adopts, when an earlier run left it) the export. The LUN symlinks run on the
 * threadpool: tcm_loop's scsi_add_device sends INQUIRY etc. to us synchronously.
 */
export async function createExport(spec: ExportSpec): Promise<Export> {
  await ensureModule(spec.kind === 'local' ? 'tcm_loop' : 'iscsi_target_mod');
  const { wwnPath, tpgPath } = exportPaths(spec);
  const luns: { lun: number; path: string; link: string }[] = [];
  await ensureDir(tpgPath);
  let npPath: string | undefined;
  if (spec.kind === 'local') {
    const nexus = await tryRead(`${tpgPath}/nexus`);
    if (!nexus) await writeFile(`${tpgPath}/nexus`, naaFor(spec.iqn, 'initiator'));
  }
  for (const l of spec.luns) luns.push(await linkLun(tpgPath, l));
  if (spec.kind === 'iscsi') {
    const portal = spec.portal ?? { host: '127.0.0.1', port: 3260 };
    npPath = `${tpgPath}/np/${portalDir(portal)}`;
    if (!existsSync(npPath)) await mkdir(npPath);
    // demo mode (any initiator), or the config's node ACLs and CHAP (lio-acl.ts)
    await applyLioAccess(tpgPath, { acls: spec.access?.acls, chap: spec.access?.chap, luns: spec.access?.luns ?? [] });
    await writeFile(`${tpgPath}/enable`, '1');
  }
  return { kind: spec.kind, wwnPath, tpgPath, luns, npPath };
}

/**
 * Makes tpg/lun/lun_N point at the backstore: adopts a link an earlier run left, replaces a link
 * to anything else. With tcm_loop the kernel adds the SCSI device (and probes it) on symlink.
 */
async function linkLun(tpgPath: string, l: ExportLun): Promise<{ lun: number; path: string; link: string }> {
  const path = `${tpgPath}/lun/lun_${l.lun}`;
  await ensureDir(path);
  let link: string | undefined;
  for (const e of await tryList(path)) {
    try {
      const t = resolve(path, await readlink(`${path}/${e}`));
      if (t === resolve(l.backstore.path)) link = `${path}/${e}`;
      else await unlink(`${path}/${e}`); // a LUN of something else: replace it
    } catch {
      // attribute files
    }
  }
  if (link === undefined) {
    link = `${path}/${l.backstore.name}`;
    await symlink(l.backstore.path, link);
  }
  return { lun: l.lun, path, link };
}

/** One more LUN in a running export (a new image in a folder of ISOs); returns the export with it. */
export async function addExportLun(ex: Export, l: ExportLun): Promise<Export> {
  if (ex.luns.some((x) => x.lun === l.lun)) throw new Error(`${ex.tpgPath}: LUN ${l.lun} is already exported`);
  const added = await linkLun(ex.tpgPath, l);
  return { ...ex, luns: [...ex.luns, added] };
}

/** Tears the export down in reverse order. LUN unlinks may send commands to us: keep serving. */
export async function removeExport(ex: Export): Promise<void> {
  if (ex.kind === 'iscsi') {
    await writeFile(`${ex.tpgPath}/enable`, '0').catch(() => {});
    await removeAcls(ex.tpgPath); // their mapped LUNs hold the TPG's
  }
  for (const l of ex.luns) {
    await unlink(l.link).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await rmdirIfPresent(l.path);
  }
  // Only take the TPG and WWN down when no other LUN is left in them.
  if ((await tryList(`${ex.tpgPath}/lun`)).length > 0) return;
  if (ex.npPath) await rmdirIfPresent(ex.npPath);
  for (const acl of await tryList(`${ex.tpgPath}/acls`)) await rmdirIfPresent(`${ex.tpgPath}/acls/${acl}`).catch(() => {});
  await rmdirIfPresent(ex.tpgPath);
  await rmdirIfPresent(ex.wwnPath);
}

/** Unlinks one stale LUN symlink and its lun_N directory, and the TPG/WWN when empty. */
export async function removeLunLink(link: string): Promise<void> {
  const lunPath = resolve(link, '..');
  const tpgPath = resolve(lunPath, '../..');
  // node ACLs that map this LUN keep it: a re-created export writes them again
  if (tpgPath.includes('/iscsi/')) await removeAcls(tpgPath).catch(() => {});
  await unlink(link).catch(() => {});
  await rmdirIfPresent(lunPath).catch(() => {});
  if ((await tryList(`${tpgPath}/lun`)).length === 0) {
    if (tpgPath.includes('/iscsi/')) {
      await writeFile(`${tpgPath}/enable`, '0').catch(() => {});
      for (const np of await tryList(`${tpgPath}/np`)) await rmdirIfPresent(`${tpgPath}/np/${np}`).catch(() => {});
      await removeAcls(tpgPath).catch(() => {});
    }
    await rmdirIfPresent(tpgPath).catch(() => {});
    await rmdirIfPresent(resolve(tpgPath, '..')).catch(() => {});
  }
}

/**
 * The local device node of a tcm_loop LUN: reads tpgt_1/address ("H:0:T") and waits for
 * /sys/bus/scsi/devices/H:0:T:L to get a block (or tape / generic) child. undefined on timeout.
 */
export async function localDeviceOf(ex: Export, lun: number, timeoutMs = 15_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const addr = await tryRead(`${ex.tpgPath}/address`);
    if (addr) {
      const sdev = `/sys/bus/scsi/devices/${addr}:${lun}`;
      for (const cls of ['block', 'scsi_tape', 'scsi_changer']) {
        const names = await tryList(join(sdev, cls));
        if (names.length > 0) return `/dev/${names.sort()[0]}`;
      }
    }
    await sleep(100);
  }
  return undefined;
}

/** The configured name of the LIO iSCSI target and portal, for status lines. */
export function iscsiUrl(ex: ExportSpec, lun: number): string {
  const p = ex.portal ?? { host: '127.0.0.1', port: 3260 };
  const host = p.host.includes(':') ? `[${p.host}]` : p.host;
  return `iscsi://${host}:${p.port}/${ex.iqn}/${lun}`;
}

/** The highest-level driver for a peripheral type, loaded before a local export. */
export function initiatorDriverFor(peripheralType: number): string | undefined {
  return ({ 0: 'sd_mod', 5: 'sr_mod', 1: 'st', 8: 'ch' } as Record<number, string>)[peripheralType];
}

/** For tests and diagnostics: read a configfs attribute synchronously. */
export function readAttr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').replace(/\n$/, '');
  } catch {
    return undefined;
  }
}
