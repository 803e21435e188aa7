// Test helpers: raw CDBs against a LogicalUnit, temp images, sense assertions.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScsiResponse } from '../../src/scsi/command.ts';
import { deviceDefaults } from '../../src/host/config.ts';
import { dataBytes } from '../../src/scsi/data-in.ts';
import type { DeviceConfig } from '../../src/handlers/contract.ts';
import { createDiskUnit, openStore } from '../../src/handlers/disk/create.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';

// the raw-CDB helpers handler authors get from fileio_tgt/testing
export { testNexus as nexus, testCommand as command, sendCdb as send, clearUnitAttention as clearUa, type SendOptions } from '../../src/testing.ts';

export interface SenseView {
  key: number;
  asc: number;
  ascq: number;
  /** Sense-key-specific bytes (fixed format bytes 15..17). */
  sks: number[];
  information?: number;
}

export function fixedView(sense: Buffer): SenseView {
  assert.equal(sense[0]! & 0x7f, 0x70, 'fixed format sense');
  return {
    key: sense[2]! & 0x0f,
    asc: sense[12]!,
    ascq: sense[13]!,
    sks: [sense[15]!, sense[16]!, sense[17]!],
    information: sense[0]! & 0x80 ? sense.readUInt32BE(3) : undefined,
  };
}

/** Asserts CHECK CONDITION with key/asc/ascq (fixed sense) and, if given, the field pointer. */
export function assertCheck(r: ScsiResponse, key: number, asc: number, ascq: number, field?: { cdb: boolean; byte: number; bit?: number }): SenseView {
  assert.equal(r.status, 2, `expected CHECK CONDITION, got status ${r.status}`);
  assert.ok(r.sense, 'sense present');
  const v = fixedView(r.sense);
  assert.deepEqual([v.key, v.asc, v.ascq], [key, asc, ascq], `sense ${v.key.toString(16)}/${v.asc.toString(16)}/${v.ascq.toString(16)}`);
  if (field) {
    const b0 = 0x80 | (field.cdb ? 0x40 : 0) | (field.bit !== undefined ? 0x08 | field.bit : 0);
    assert.deepEqual(v.sks, [b0, field.byte >> 8, field.byte & 0xff], 'field pointer');
  }
  return v;
}

export function assertGood(r: ScsiResponse): Buffer {
  if (r.status !== 0 && r.sense) {
    const v = fixedView(r.sense);
    assert.fail(`expected GOOD, got ${r.status} sense ${v.key.toString(16)}/${v.asc.toString(16)}/${v.ascq.toString(16)}`);
  }
  assert.equal(r.status, 0);
  return dataBytes(r.data);
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fileio-tgt-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function tempImage(dir: string, size: number, name = 'disk.img'): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, Buffer.alloc(size));
  return p;
}

export function diskConfig(o: Partial<DeviceConfig> = {}): DeviceConfig {
  return { ...deviceDefaults('disk1', 'disk'), ...o };
}

export const logs: string[] = [];
export const testLog = (level: string, message: string): void => {
  logs.push(`${level}: ${message}`);
};

/** Opens a disk LU over a config (file or nullio). */
export async function openDisk(cfg: DeviceConfig): Promise<ScsiLogicalUnit> {
  const store = await openStore(cfg);
  return createDiskUnit(cfg, store, testLog);
}

/** Big-endian CDB helpers. */
export function cdb10(op: number, lba: number, blocks: number, byte1 = 0): number[] {
  return [op, byte1, (lba >>> 24) & 0xff, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, (blocks >> 8) & 0xff, blocks & 0xff, 0];
}
export function cdb12(op: number, lba: number, blocks: number, byte1 = 0): number[] {
  const b = Buffer.alloc(12);
  b[0] = op;
  b[1] = byte1;
  b.writeUInt32BE(lba, 2);
  b.writeUInt32BE(blocks, 6);
  return [...b];
}
export function cdb16(op: number, lba: bigint, blocks: number, byte1 = 0): number[] {
  const b = Buffer.alloc(16);
  b[0] = op;
  b[1] = byte1;
  b.writeBigUInt64BE(lba, 2);
  b.writeUInt32BE(blocks, 10);
  return [...b];
}
export function cdb6(op: number, lba: number, blocks: number): number[] {
  return [op, (lba >> 16) & 0x1f, (lba >> 8) & 0xff, lba & 0xff, blocks & 0xff, 0];
}
