// What we read and write in SCST's sysfs tree (/sys/kernel/scst_tgt) for a user-space device:
//  * where the device is exported (devices/NAME/exported/exportN -> .../luns/N), so that a
//    re-registration after the fd failed can put the LUNs back (closing the fd makes the kernel
//    delete every LUN of the device);
//  * a target's relative target port id (targets/DRIVER/TARGET/rel_tgt_id), which ATTACH_SESS
//    does not carry (SCST issue #364) but VPD 83h and RTPG report.
import { readFileSync, readdirSync } from 'node:fs';
import { readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DEFAULT_SYSFS_ROOT } from './version-source.ts';

export interface LunMapping {
  /** A luns directory: targets/DRIVER/TARGET/luns or .../ini_groups/GROUP/luns. */
  readonly lunsDir: string;
  readonly lun: number;
  readonly readOnly: boolean;
}

export class ScstSysfs {
  readonly root: string;
  readonly #relTgt = new Map<string, number>();

  constructor(root: string = DEFAULT_SYSFS_ROOT) {
    this.root = root;
  }

  /** Every LUN the device is exported as, right now (empty if the device or sysfs is absent). */
  async exportsOf(device: string): Promise<LunMapping[]> {
    const dir = join(this.root, 'devices', device, 'exported');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const out: LunMapping[] = [];
    for (const n of names) {
      try {
        const lunDir = resolve(dir, await readlink(join(dir, n)));
        const lun = Number(basename(lunDir));
        if (!Number.isInteger(lun) || lun < 0) continue;
        const ro = await readFile(join(lunDir, 'read_only'), 'utf8').catch(() => '0');
        out.push({ lunsDir: dirname(lunDir), lun, readOnly: ro.trim().startsWith('1') });
      } catch {
        // not a link, or gone meanwhile
      }
    }
    return out.sort((a, b) => a.lunsDir.localeCompare(b.lunsDir) || a.lun - b.lun);
  }

  /** Adds the LUNs back ("add NAME LUN [read_only=1]" to luns/mgmt). Returns one message per failure. */
  async restore(device: string, maps: readonly LunMapping[]): Promise<string[]> {
    const errors: string[] = [];
    for (const m of maps) {
      const line = `add ${device} ${m.lun}${m.readOnly ? ' read_only=1' : ''}\n`;
      await writeFile(join(m.lunsDir, 'mgmt'), line).catch((e: Error) => errors.push(`${join(m.lunsDir, 'mgmt')}: ${line.trim()}: ${e.message}`));
    }
    return errors;
  }

  /** rel_tgt_id of the target named `target` under any target driver; 1 when unknown. */
  relativeTargetPort(target: string): number {
    const known = this.#relTgt.get(target);
    if (known !== undefined) return known;
    let id = 1;
    try {
      for (const drv of readdirSync(join(this.root, 'targets'))) {
        try {
          const n = Number.parseInt(readFileSync(join(this.root, 'targets', drv, target, 'rel_tgt_id'), 'utf8'), 10);
          if (Number.isInteger(n) && n > 0 && n <= 0xffff) {
            id = n;
            break;
          }
        } catch {
          // not this driver's target
        }
      }
    } catch {
      // no SCST sysfs
    }
    this.#relTgt.set(target, id);
    return id;
  }
}
