// Load time of a full cartridge of small blocks: writes a cleanly unloaded cartridge of N records
// (default 10 million 512-byte blocks, a filemark every 100000) straight into the file format,
// then times Cartridge.open + close (read-write, as a drive loads it) and a read-only open (tape
// info), a LOCATE-style read of the last block, and the memory the open cartridge holds.
//   node dist/bench/tape-load.js [--blocks N] [--size BYTES] [--dir DIR] [--keep] [--reuse FILE]
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { Cartridge, CartFlag, DATA_START, RECORD_HEADER, RecordKind, SLOT_SIZE, encodeHeader, encodeRecordHeader } from '../src/media/cartridge.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function build(path: string, blocks: number, size: number): Promise<void> {
  const header = await Cartridge.create(path, { barcode: 'BENCH0L9', capacity: 18e12 });
  const fd = openSync(path, 'r+');
  const chunk = Buffer.alloc(8 << 20);
  let used = 0;
  let off = DATA_START;
  const payload = Buffer.alloc(size, 0x5a);
  let seq = 0;
  const flush = () => {
    writeSync(fd, chunk, 0, used, off);
    off += used;
    used = 0;
  };
  for (let i = 0; i < blocks; i++) {
    const mark = i > 0 && i % 100000 === 0;
    if (used + RECORD_HEADER + size > chunk.length) flush();
    if (mark) {
      encodeRecordHeader(RecordKind.FILEMARK, 0, seq++, 0, 0, 0, 0).copy(chunk, used);
      used += RECORD_HEADER;
      if (used + RECORD_HEADER + size > chunk.length) flush();
    }
    payload.writeUInt32LE(i, 0);
    encodeRecordHeader(RecordKind.DATA, 0, seq++, size, size, 0, crc32c(payload)).copy(chunk, used);
    payload.copy(chunk, used + RECORD_HEADER);
    used += RECORD_HEADER + size;
  }
  flush();
  // a clean unload: verified end = EOD, not mounted
  const h = { ...header, generation: header.generation + 1, verifiedEnd: off, flags: header.flags & ~CartFlag.MOUNTED };
  const slot = Buffer.alloc(SLOT_SIZE);
  encodeHeader(h).copy(slot);
  writeSync(fd, slot, 0, SLOT_SIZE, (h.generation % 2) * SLOT_SIZE);
  closeSync(fd);
}

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t = process.hrtime.bigint();
  const r = await f();
  console.log(`${label}: ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms`);
  return r;
}

async function main(): Promise<void> {
  const blocks = Number(arg('--blocks') ?? 10_000_000);
  const size = Number(arg('--size') ?? 512);
  const reuse = arg('--reuse');
  const dir = reuse ? undefined : await mkdtemp(join(arg('--dir') ?? tmpdir(), 'tape-load-'));
  const path = reuse ?? join(dir!, 'BENCH0L9');
  try {
    if (!reuse) await timed(`build ${blocks} x ${size}-byte blocks`, () => build(path, blocks, size));
    // first open after the build (the old format rebuilds here; the new one stores the index at close)
    let c = await timed('open #1 (read-write)', () => Cartridge.open(path));
    console.log(`objects ${c.count}, ${c.used} bytes used`);
    await timed('close #1', () => c.close());
    const rss0 = process.memoryUsage().rss;
    c = await timed('open #2 (read-write, after a clean unload)', () => Cartridge.open(path));
    console.log(`rss after open: +${((process.memoryUsage().rss - rss0) / 1e6).toFixed(0)} MB`);
    const last = c.count - 1;
    await timed(`read of object ${last}`, () => c.read(last));
    await timed(`read of object ${Math.floor(last / 2)}`, () => c.read(Math.floor(last / 2)));
    await timed('close #2', () => c.close());
    const r = await timed('open read-only (tape info)', () => Cartridge.open(path, { readOnly: true }));
    await r.close();
  } finally {
    if (dir && !process.argv.includes('--keep')) await rm(dir, { recursive: true, force: true });
    else console.log(`kept ${path}`);
  }
}

await main();
