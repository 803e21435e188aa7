// The tcmu link's run-time LUN add, the part that needs no kernel: addExportLun makes
// tpgt_1/lun/lun_N with a symlink to the backstore in an export's TPG (here a temp folder laid out
// like configfs), adopts a link an earlier run left, replaces a link to something else, and
// refuses a LUN the export already has. (Creating the backstore and serving its UIO need
// target_core_user: that path runs only in the VM.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { addExportLun, type Backstore, type Export } from '../../src/links/tcmu/configfs.ts';
import { tempDir } from '../helpers/scsi-harness.ts';

test('addExportLun: lun_N symlinked to the backstore; adopted, replaced, refused when taken', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const core = join(dir, 'core', 'user_42');
    const backstore = (name: string): Backstore => ({ hba: 42, name, path: join(core, name), devConfig: `fileio_tgt/cdrom;${name}`, uioPrefix: `tcm-user/42/${name}/` });
    const [first, added, other] = [backstore('dvds-a'), backstore('dvds-c'), backstore('someone-else')];
    for (const b of [first, added, other]) await mkdir(b.path, { recursive: true });
    const tpgPath = join(dir, 'loopback', 'naa.5001405abc', 'tpgt_1');
    await mkdir(join(tpgPath, 'lun', 'lun_0'), { recursive: true });
    await symlink(first.path, join(tpgPath, 'lun', 'lun_0', first.name));
    let ex: Export = { kind: 'local', wwnPath: join(dir, 'loopback', 'naa.5001405abc'), tpgPath, luns: [{ lun: 0, path: join(tpgPath, 'lun', 'lun_0'), link: join(tpgPath, 'lun', 'lun_0', first.name) }] };

    ex = await addExportLun(ex, { lun: 2, backstore: added });
    assert.deepEqual(ex.luns.map((l) => l.lun), [0, 2]);
    assert.equal(await readlink(join(tpgPath, 'lun', 'lun_2', 'dvds-c')), added.path);
    assert.equal(ex.luns[1]!.link, join(tpgPath, 'lun', 'lun_2', 'dvds-c'));
    await assert.rejects(addExportLun(ex, { lun: 2, backstore: other }), /LUN 2 is already exported/);

    // lun_5 left pointing at another backstore: replaced; lun_6 already ours (an earlier run): adopted
    await mkdir(join(tpgPath, 'lun', 'lun_5'));
    await symlink(other.path, join(tpgPath, 'lun', 'lun_5', 'old'));
    ex = await addExportLun(ex, { lun: 5, backstore: added });
    assert.deepEqual(await readdir(join(tpgPath, 'lun', 'lun_5')), ['dvds-c']);
    await mkdir(join(tpgPath, 'lun', 'lun_6'));
    await symlink(first.path, join(tpgPath, 'lun', 'lun_6', 'kept-name'));
    ex = await addExportLun(ex, { lun: 6, backstore: first });
    assert.equal(ex.luns.at(-1)!.link, join(tpgPath, 'lun', 'lun_6', 'kept-name'));
    assert.deepEqual(await readdir(join(tpgPath, 'lun', 'lun_6')), ['kept-name']);
  } finally {
    await cleanup();
  }
});
