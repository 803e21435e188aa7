// ScsiTarget.addLun: a LUN added while the target runs is routed and listed by REPORT LUNS, every
// I_T nexus that talked to the target gets UNIT ATTENTION 3F/0E REPORTED LUNS DATA HAS CHANGED,
// and REPORT LUNS clears it on every LU for that nexus only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScsiTarget } from '../../src/scsi/target.ts';
import { assertCheck, assertGood, clearUa, nexus, send, tempDir, tempImage, diskConfig, openDisk } from '../helpers/scsi-harness.ts';

const TUR = [0, 0, 0, 0, 0, 0];
const reportLuns = [0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0];
const lunsIn = (d: Buffer) => Array.from({ length: d.readUInt32BE(0) / 8 }, (_, i) => d.readUInt16BE(8 + i * 8) & 0x3fff);

test('addLun: new LUN routed and listed; 3F/0E on every nexus that talked; REPORT LUNS clears it for its nexus on all LUs', async () => {
  const { dir, cleanup } = await tempDir();
  const disk = async (name: string) => openDisk(diskConfig({ name, file: await tempImage(dir, 1 << 20, `${name}.img`) }));
  const [d0, d1, d2, d3] = [await disk('d0'), await disk('d1'), await disk('d2'), await disk('d3')];
  try {
    const target = new ScsiTarget(new Map([[0, d0], [1, d1]]));
    const a = nexus(1); // talks to LUN 0 and 1
    const b = nexus(2); // talks to LUN 1 only
    const c = nexus(3); // has not talked yet
    await clearUa(target, a, 0);
    await clearUa(target, a, 1);
    await clearUa(target, b, 1);
    assertCheck(await send(target, TUR, a, { lun: 5 }), 5, 0x25, 0x00);

    target.addLun(5, d2);
    assert.ok(target.hasLun(5));
    assert.throws(() => target.addLun(5, d2), /LUN 5 is already in use/);
    assert.throws(() => target.addLun(16384, d2), /outside/);

    // a: on both LUs it used; b: on LUN 1; the new LU itself starts with power-on
    assertCheck(await send(target, TUR, a, { lun: 0 }), 6, 0x3f, 0x0e);
    assertCheck(await send(target, TUR, b, { lun: 1 }), 6, 0x3f, 0x0e);
    assertCheck(await send(target, TUR, b, { lun: 5 }), 6, 0x29, 0x00);
    assertGood(await send(target, TUR, b, { lun: 5 }));
    // REPORT LUNS (served by the target, not subject to the UA) lists 5, and clears a's 3F/0E on LUN 1 too
    assert.deepEqual(lunsIn(assertGood(await send(target, reportLuns, a, { lun: 0 }))), [0, 1, 5]);
    assertGood(await send(target, TUR, a, { lun: 1 }));
    // c never talked: it gets the power-on UA, not 3F/0E
    assertCheck(await send(target, TUR, c, { lun: 0 }), 6, 0x29, 0x00);
    assertGood(await send(target, TUR, c, { lun: 0 }));
    // the new LU reads and writes like the others
    assertGood(await send(target, [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], b, { lun: 5, dataOut: Buffer.alloc(512, 7) }));
    assert.deepEqual(assertGood(await send(target, [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0], b, { lun: 5 })), Buffer.alloc(512, 7));
    // a second addition raises it again, and nexus loss reaches the new LU too
    target.nexusLost(b);
    target.addLun(7, d3);
    assertCheck(await send(target, TUR, a, { lun: 5 }), 6, 0x29, 0x00);
    assertCheck(await send(target, TUR, a, { lun: 0 }), 6, 0x3f, 0x0e);
  } finally {
    await Promise.all([d0, d1, d2, d3].map((d) => d.close()));
    await cleanup();
  }
});
