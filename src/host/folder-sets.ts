// cdrom devices whose FILE is a folder: each becomes a set of drives (src/handlers/cdrom/drive-set.ts),
// one LUN per image, served as the whole target that maps the device (by default PREFIX:NAME).
import { stat } from 'node:fs/promises';
import type { DeviceConfig } from '../handlers/contract.ts';
import { CdromDriveSet } from '../handlers/cdrom/drive-set.ts';
import type { TargetConfig } from './config.ts';
import { StartupError } from './errors.ts';
import { targetDevices } from './acl.ts';
import type { Logger } from './log.ts';

export interface FolderSet {
  readonly set: CdromDriveSet;
  /** IQN of the target the set fills. */
  readonly target: string;
}

async function isFolder(path: string | undefined): Promise<boolean> {
  return path !== undefined && (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

/** The cdrom devices of `devices` that name a folder. */
export async function folderSetDevices(devices: readonly DeviceConfig[]): Promise<DeviceConfig[]> {
  const out: DeviceConfig[] = [];
  for (const d of devices) if (d.type === 'cdrom' && (await isFolder(d.file))) out.push(d);
  return out;
}

/** The target a set fills: the one target that maps it, and maps nothing else. */
export function folderSetTarget(dev: DeviceConfig, targets: readonly TargetConfig[]): string {
  const mapping = targets.filter((t) => targetDevices(t).includes(dev.name));
  if (mapping.length !== 1) throw new StartupError(`${dev.name}: a folder of images (${dev.file}) must be mapped by exactly one target, not ${mapping.length}`);
  const t = mapping[0]!;
  if (Array.isArray(t.acls) && t.acls.some((a) => a.luns)) throw new StartupError(`${dev.name}: a folder of images (${dev.file}) fills its target ${t.iqn}: its ACL entries see the target's LUNs and have no "luns" of their own`);
  if (t.luns.length !== 1) throw new StartupError(`${dev.name}: a folder of images (${dev.file}) fills its target ${t.iqn} (one LUN per image); map no other LUN there`);
  return t.iqn;
}

/** Opens the set: reads its folder and makes a drive for every image there now. */
export async function openFolderSet(dev: DeviceConfig, targets: readonly TargetConfig[], log: Logger): Promise<FolderSet> {
  const target = folderSetTarget(dev, targets);
  try {
    const set = await CdromDriveSet.open({ config: dev, log: (level, message) => log(level, `${dev.name}: ${message}`) });
    return { set, target };
  } catch (e) {
    throw new StartupError(`${dev.name}: ${(e as Error).message}`);
  }
}
