// What a handler's create() returns is checked before anything listens: an incomplete object is
// one line naming the missing member, never a TypeError from the clean-up after the link started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deviceDefaults, completeTargets, type ServeConfig } from '../../src/host/config.ts';
import { StartupError } from '../../src/host/errors.ts';
import { Host } from '../../src/host/host.ts';
import { HandlerRegistry } from '../../src/host/registry.ts';
import { logicalUnitProblem } from '../../src/handlers/contract.ts';
import { tempDir } from '../helpers/scsi-harness.ts';

const NO_KERNEL = { tcmu: false, scstUser: false, scstUserUsable: false };

async function startWith(moduleText: string, nullSize = 1 << 20): Promise<{ error: unknown; logs: string[] }> {
  const { dir, cleanup } = await tempDir();
  const logs: string[] = [];
  try {
    await writeFile(join(dir, 'proto.mjs'), moduleText);
    await writeFile(join(dir, 'handlers.json'), JSON.stringify({ handlers: { proto: { module: './proto.mjs' } } }));
    const registry = await HandlerRegistry.open(join(dir, 'handlers.json'));
    const devices = [{ ...deviceDefaults('p1', 'proto'), file: '-' }, { ...deviceDefaults('n1', 'nullio'), sizeBytes: nullSize }];
    const cfg: ServeConfig = { portal: { host: '127.0.0.1', port: 0 }, iqnPrefix: 'iqn.2026-11.org.test', link: 'iscsi', devices, targets: completeTargets(devices, [], 'iqn.2026-11.org.test', 'test') };
    const host = await Host.start(cfg, registry, (_level, m) => logs.push(m), { probe: NO_KERNEL, control: false }).catch((e: unknown) => e);
    if (host instanceof Host) {
      await host.close();
      return { error: undefined, logs };
    }
    return { error: host, logs };
  } finally {
    await cleanup();
  }
}

test('create() returning an object without close() is refused before anything listens', async () => {
  const { error, logs } = await startWith('export default { description: "x", async create(c) { return { name: c.name, type: "proto", peripheralType: 3, execute() {}, taskManagement() {}, nexusLost() {}, describe() { return {}; }, flush() {} }; } };');
  assert.ok(error instanceof StartupError, `a StartupError, not ${String(error)}`);
  assert.match((error as Error).message, /^p1: the proto handler's create\(\) returned an object without close\(\) \(a LogicalUnit has name, type, peripheralType, execute\(\), .*ScsiLogicalUnit/);
  assert.deepEqual(logs.filter((m) => /listening/.test(m)), [], 'nothing listened');
});

test('create() returning nothing, or a member of the wrong kind, is named', async () => {
  const nothing = await startWith('export default { description: "x", async create() {} };');
  assert.equal((nothing.error as Error).message, "p1: the proto handler's create() returned undefined, not a LogicalUnit object");
  assert.equal(logicalUnitProblem({ name: 'a', type: 'b', peripheralType: '3' }), 'returned an object whose peripheralType is a string, not a number');
});

test('a unit whose close() throws at once does not hide the error being reported', async () => {
  // p1 starts, n1 (1000 bytes: not a multiple of 512) fails; the clean-up closes p1, which throws
  const { error } = await startWith(
    'export default { description: "x", async create(c) { return { name: c.name, type: "proto", peripheralType: 3, execute() {}, taskManagement() {}, nexusLost() {}, describe() { return {}; }, flush() {}, close() { throw new Error("boom"); } }; } };',
    1000,
  );
  assert.ok(error instanceof StartupError, String(error));
  assert.match((error as Error).message, /^n1: .*size 1000 bytes is not a positive multiple of the 512-byte block size/);
});
