// Unit attentions through the scst_user link against the kernel model's core: the LU hands the
// UAs SCST's core keeps itself to the core (never a 29h one: it BUGs the stock kernel), a UA the
// LU does return is copied by the core to the other sessions and so cleared from the LU's own
// queues for them (each session sees it once), and a LogicalUnit that still returns a 29h UA is
// answered BUSY instead of crashing the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LogicalUnit, ScsiCommand, ScsiResponse } from '../../src/scsi/command.ts';
import { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import { fixedSense } from '../../src/scsi/sense.ts';
import { diskConfig, openDisk, tempDir, tempImage } from '../helpers/scsi-harness.ts';
import { check, good, serve, session } from '../helpers/scst-user-harness.ts';

const TUR = { cdb: [0, 0, 0, 0, 0, 0], expected: { dir: 'none' as const, length: 0 } };

test('a UA the LU returns reaches every session exactly once (the core copies it; the LU drops its own copies)', async () => {
  const { dir, cleanup } = await tempDir();
  const lu = await openDisk(diskConfig({ file: await tempImage(dir, 1 << 20) }));
  const srv = await serve([lu]);
  try {
    assert.ok(lu instanceof ScsiLogicalUnit);
    const dev = srv.model.device('disk1');
    const [a, b, c] = [await session(dev), await session(dev), await session(dev)];
    for (const s of [a, b, c]) check(await dev.submit(s, TUR), '06/29/00');
    for (const s of [a, b, c]) good(await dev.submit(s, TUR));
    lu.ua.addAll({ asc: 0x3f, ascq: 0x03 }); // INQUIRY DATA HAS CHANGED, for every nexus
    for (const s of [b, a, c]) {
      check(await dev.submit(s, TUR), '06/3f/03');
      good(await dev.submit(s, TUR));
    }
    // MODE SELECT: the core sets 2A/01 for the others itself (scst_mode_select_checks); ours is not added.
    const sense = good(await dev.submit(a, { cdb: [0x5a, 0x08, 0x0a, 0, 0, 0, 0, 0, 252, 0], expected: { dir: 'read', length: 252 } }));
    const page = sense.subarray(8, 8 + 12);
    const param = Buffer.concat([Buffer.alloc(8), page]);
    param[8]! &= 0x7f; // PS is reserved in MODE SELECT
    param[10]! ^= 0x04; // control mode page: flip D_SENSE (descriptor sense for everyone after this)
    good(await dev.submit(a, { cdb: [0x55, 0x10, 0, 0, 0, 0, 0, 0, param.length, 0], dataOut: param }));
    for (const s of [b, c]) {
      check(await dev.submit(s, TUR), '06/2a/01');
      good(await dev.submit(s, TUR));
    }
    assert.deepEqual(srv.model.bugs, []);
  } finally {
    await srv.close();
    await cleanup();
  }
});

/** A LogicalUnit of someone else's making, without `ua`: it answers 06/29/00 to a new nexus. */
class ResetReporter implements LogicalUnit {
  readonly name = 'odd1';
  readonly type = 'disk';
  readonly peripheralType = 0;
  readonly seen = new Set<string>();
  async execute(cmd: ScsiCommand): Promise<ScsiResponse> {
    if (this.seen.has(cmd.nexus.id)) return { status: 0 };
    this.seen.add(cmd.nexus.id);
    return { status: 2, sense: fixedSense(6, { asc: 0x29, ascq: 0x00 }) };
  }
  async taskManagement(): Promise<void> {}
  nexusLost(): void {}
  describe(): Record<string, unknown> {
    return {};
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

test('a LogicalUnit that returns a 29h UA anyway gets BUSY, not a kernel BUG', async () => {
  const lu = new ResetReporter();
  const srv = await serve([lu]);
  try {
    const dev = srv.model.device('odd1');
    const s = await session(dev);
    check(await dev.submit(s, TUR), '06/29/00'); // the core's own
    const r = await dev.submit(s, TUR); // reaches the LU while dev_double_ua_possible is set
    assert.equal(r.status, 8, 'BUSY: the initiator sends it again');
    good(await dev.submit(s, TUR));
    assert.deepEqual(srv.model.bugs, []);
    assert.equal(srv.link.server('odd1')!.exec.stats.coreUasWithheld, 1);
    assert.ok(srv.logs.some((l) => /withheld UNIT ATTENTION 29\/00 from SCST's core/.test(l)));
  } finally {
    await srv.close();
  }
});
