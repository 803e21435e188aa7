import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HandlerRegistry, defaultRegistryPath, parseRegistry } from '../../src/host/registry.ts';

test('the built-in registry lists disk and nullio, and their modules honour the contract', async () => {
  const reg = await HandlerRegistry.openOnly(defaultRegistryPath());
  assert.deepEqual(reg.types().slice(0, 2), ['disk', 'nullio']);
  for (const type of ['disk', 'nullio']) {
    const mod = await reg.load(type);
    assert.equal(typeof mod.create, 'function');
    assert.equal(typeof mod.description, 'string');
  }
});

test('--handlers FILE adds its types to the built-in ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fileio-reg-'));
  await writeFile(join(dir, 'proto.mjs'), 'export default { description: "a prototype", async create(cfg) { return { name: cfg.name }; } };');
  await writeFile(join(dir, 'handlers.json'), JSON.stringify({ handlers: { proto: { module: './proto.mjs', description: 'p' } } }));
  const reg = await HandlerRegistry.open(join(dir, 'handlers.json'));
  assert.deepEqual(reg.types(), ['disk', 'nullio', 'tape', 'changer', 'cdrom', 'proto']);
  const mod = await reg.load('proto');
  assert.equal(mod.description, 'a prototype');
  assert.equal(typeof (await reg.load('disk')).create, 'function', 'the built-ins stay');
  const only = await HandlerRegistry.openOnly(join(dir, 'handlers.json'));
  await assert.rejects(only.load('disk'), /handlers\.disk: no handler type "disk" \(known: proto\)/);
});

test('a --handlers type with a built-in name is an error naming the file and the type', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fileio-reg-'));
  const file = join(dir, 'handlers.json');
  await writeFile(file, JSON.stringify({ handlers: { disk: { module: './mydisk.mjs' } } }));
  await assert.rejects(HandlerRegistry.open(file), (e: Error) => {
    assert.equal(e.message, `${file}: handlers.disk: "disk" is a built-in handler type; give yours another name`);
    return true;
  });
});

test('a module that does not export a handler is refused with the field named', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fileio-reg-'));
  await writeFile(join(dir, 'bad.mjs'), 'export const x = 1;');
  await writeFile(join(dir, 'handlers.json'), JSON.stringify({ handlers: { bad: { module: './bad.mjs' } } }));
  const reg = await HandlerRegistry.openOnly(join(dir, 'handlers.json'));
  await assert.rejects(reg.load('bad'), /handlers\.json: handlers\.bad\.module: .*must default-export/);
});

test('registry validation names the field', () => {
  assert.throws(() => parseRegistry('{"handlers": {"Disk!": {"module": "x"}}}', 'h.json'), /h\.json: handlers\.Disk!: type names are/);
  assert.throws(() => parseRegistry('{"handlers": {"d": {"module": ""}}}', 'h.json'), /h\.json: handlers\.d\.module: must be a non-empty path/);
  assert.throws(() => parseRegistry('{"handlers": {"d": {"module": "x", "mod": 1}}}', 'h.json'), /h\.json: handlers\.d\.mod: unknown field/);
  assert.throws(() => parseRegistry('[]', 'h.json'), /h\.json: must be a JSON object/);
});
