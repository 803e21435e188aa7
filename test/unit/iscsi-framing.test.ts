import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FramingError, frameOut, PduReader } from '../../src/links/iscsi/framing.ts';
import { crc32cJs } from '../../src/links/iscsi/digest.ts';

/** A wire PDU built by hand: BHS with lengths, AHS, digests little-endian, data padded. */
function wirePdu(opts: { opcode: number; itt: number; ahs?: Buffer; data?: Buffer; hd?: boolean; dd?: boolean; badHd?: boolean; badDd?: boolean }): Buffer {
  const bhs = Buffer.alloc(48);
  bhs[0] = opts.opcode;
  bhs[1] = 0x80;
  const ahs = opts.ahs ?? Buffer.alloc(0);
  const data = opts.data ?? Buffer.alloc(0);
  bhs[4] = ahs.length / 4;
  bhs[5] = data.length >> 16;
  bhs[6] = (data.length >> 8) & 0xff;
  bhs[7] = data.length & 0xff;
  bhs.writeUInt32BE(opts.itt, 16);
  const parts: Buffer[] = [bhs, ahs];
  if (opts.hd) {
    const d = Buffer.alloc(4);
    d.writeUInt32LE((crc32cJs(Buffer.concat([bhs, ahs])) ^ (opts.badHd ? 1 : 0)) >>> 0);
    parts.push(d);
  }
  if (data.length) {
    const padded = Buffer.alloc((data.length + 3) & ~3);
    data.copy(padded);
    parts.push(padded);
    if (opts.dd) {
      const d = Buffer.alloc(4);
      d.writeUInt32LE((crc32cJs(padded) ^ (opts.badDd ? 1 : 0)) >>> 0);
      parts.push(d);
    }
  }
  return Buffer.concat(parts);
}

function collect(reader: PduReader, chunks: Buffer[]) {
  const out = [];
  for (const c of chunks) {
    reader.push(c);
    for (let p = reader.next(); p; p = reader.next()) out.push(p);
  }
  return out;
}

for (const digests of [false, true]) {
  test(`framing: split at every byte boundary (digests ${digests})`, () => {
    const stream = Buffer.concat([
      wirePdu({ opcode: 0x00, itt: 1, data: Buffer.from('hello'), hd: digests, dd: digests }),
      wirePdu({ opcode: 0x01, itt: 2, ahs: Buffer.from([0, 5, 2, 0, 0, 0, 0, 9]), hd: digests, dd: digests }),
      wirePdu({ opcode: 0x05, itt: 3, data: Buffer.alloc(1000, 7), hd: digests, dd: digests }),
    ]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = new PduReader({ headerDigest: digests, dataDigest: digests, maxDataSegmentLength: 8192 });
      const pdus = collect(r, [stream.subarray(0, cut), stream.subarray(cut)]);
      assert.equal(pdus.length, 3, `cut ${cut}`);
      assert.equal(pdus[0]!.data.toString(), 'hello');
      assert.equal(pdus[1]!.ahs.length, 8);
      assert.equal(pdus[1]!.data.length, 0);
      assert.equal(pdus[2]!.data.length, 1000);
      assert.equal(pdus[2]!.bhs.readUInt32BE(16), 3);
      assert.ok(pdus.every((p) => !p.dataDigestError));
      assert.equal(r.buffered, 0);
    }
    // One byte at a time.
    const r = new PduReader({ headerDigest: digests, dataDigest: digests });
    const singles = [];
    for (let i = 0; i < stream.length; i++) singles.push(stream.subarray(i, i + 1));
    assert.equal(collect(r, singles).length, 3);
  });
}

test('framing: data segment above MaxRecvDataSegmentLength is refused before buffering', () => {
  const r = new PduReader({ maxDataSegmentLength: 512 });
  const bhs = wirePdu({ opcode: 0x05, itt: 1, data: Buffer.alloc(1024) }).subarray(0, 48);
  r.push(bhs);
  assert.throws(() => r.next(), (e: unknown) => e instanceof FramingError && e.kind === 'data-too-long' && e.header!.equals(bhs));
  assert.throws(() => r.next(), FramingError, 'sticky');
});

test('framing: header digest mismatch is fatal, data digest mismatch is flagged', () => {
  const r = new PduReader({ headerDigest: true, dataDigest: true });
  r.push(wirePdu({ opcode: 0, itt: 1, data: Buffer.from('x'), hd: true, dd: true, badDd: true }));
  const p = r.next();
  assert.equal(p!.dataDigestError, true);
  r.push(wirePdu({ opcode: 0, itt: 2, hd: true, badHd: true }));
  assert.throws(() => r.next(), (e: unknown) => e instanceof FramingError && e.kind === 'header-digest');
});

test('frameOut produces the same bytes as the hand-built layout', () => {
  const data = Buffer.from('hello');
  const ref = wirePdu({ opcode: 0x20, itt: 9, data, hd: true, dd: true });
  const bhs = Buffer.from(ref.subarray(0, 48));
  const bufs = frameOut({ bhs, data }, { headerDigest: true, dataDigest: true });
  assert.deepEqual(Buffer.concat(bufs), ref);
  assert.strictEqual(bufs[2], data, 'data segment is not copied');
  const plain = frameOut({ bhs, data }, { headerDigest: false, dataDigest: false });
  assert.deepEqual(Buffer.concat(plain), wirePdu({ opcode: 0x20, itt: 9, data }));
});
