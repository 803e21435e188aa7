// LIO's access control for --link tcmu --export iscsi. Without "acls" (or with "any") the TPG
// stays in demo mode (any initiator gets the TPG's LUNs), with the target's CHAP in tpgt_N/auth
// when there is one. With a list, every entry becomes a node ACL: tpgt_N/acls/<initiator>/lun_<M>
// linked to the TPG LUN of its device, write_protect per mapping, and its CHAP in
// acls/<initiator>/auth (userid, password, userid_mutual, password_mutual); generate_node_acls=0,
// so LIO refuses every other initiator. Which configs LIO can express: lioAccessProblem (acl.ts).
import { mkdir, readdir, readlink, rmdir, symlink, unlink, writeFile } from 'node:fs/promises';
import type { Acls, ChapCredentials, LunMapping } from '../../host/acl.ts';

export interface LioAccess {
  readonly acls?: Acls | undefined;
  readonly chap?: ChapCredentials | undefined;
  /** The target's own LUNs: device name -> TPG LUN number and whether it is mapped read-only. */
  readonly luns: ReadonlyArray<LunMapping>;
}

async function writeAuth(dir: string, c: ChapCredentials | undefined): Promise<void> {
  // LIO keeps what was written before: empty values clear a previous run's credentials
  await writeFile(`${dir}/userid`, c?.user ?? '');
  await writeFile(`${dir}/password`, c?.secret ?? '');
  await writeFile(`${dir}/userid_mutual`, c?.mutual?.user ?? '');
  await writeFile(`${dir}/password_mutual`, c?.mutual?.secret ?? '');
}

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** Removes every node ACL of the TPG (their mapped LUN links first: LIO refuses otherwise). */
export async function removeAcls(tpgPath: string): Promise<void> {
  for (const acl of await list(`${tpgPath}/acls`)) {
    const dir = `${tpgPath}/acls/${acl}`;
    for (const m of (await list(dir)).filter((e) => /^lun_\d+$/.test(e))) {
      for (const e of await list(`${dir}/${m}`)) {
        const link = `${dir}/${m}/${e}`;
        if (await readlink(link).then(() => true, () => false)) await unlink(link);
      }
      await rmdir(`${dir}/${m}`);
    }
    await rmdir(dir);
  }
}

/** Writes the TPG's access control; runs after its LUNs exist and before it is enabled. */
export async function applyLioAccess(tpgPath: string, a: LioAccess): Promise<void> {
  const attrib = (name: string, v: string) => writeFile(`${tpgPath}/attrib/${name}`, v);
  await removeAcls(tpgPath); // an earlier run's ACLs: the config in force now decides
  if (a.acls === undefined || a.acls === 'any') {
    // demo mode: ACLs generated for any initiator, writable, CHAP when the target has one
    await attrib('generate_node_acls', '1');
    await attrib('cache_dynamic_acls', '1');
    await attrib('demo_mode_write_protect', '0');
    await writeAuth(`${tpgPath}/auth`, a.chap);
    await attrib('authentication', a.chap ? '1' : '0');
    return;
  }
  const tpgLun = new Map(a.luns.map((l) => [l.device, l.lun]));
  const withChap = a.acls.some((e) => e.chap ?? a.chap);
  await attrib('generate_node_acls', '0');
  await attrib('cache_dynamic_acls', '0');
  await writeAuth(`${tpgPath}/auth`, undefined);
  await attrib('authentication', withChap ? '1' : '0');
  for (const e of a.acls) {
    const dir = `${tpgPath}/acls/${e.initiator}`;
    await mkdir(dir);
    for (const m of e.luns ?? a.luns) {
      const mapped = `${dir}/lun_${m.lun}`;
      await mkdir(mapped);
      await symlink(`${tpgPath}/lun/lun_${tpgLun.get(m.device)!}`, `${mapped}/mapped`);
      await writeFile(`${mapped}/write_protect`, m.readOnly ? '1' : '0');
    }
    await writeAuth(`${dir}/auth`, e.chap ?? a.chap);
  }
}
