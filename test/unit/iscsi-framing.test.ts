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

test('framing keeps no reference to pushed bytes: the chunk may be overwritten as soon as push returns', () => {
  const stream = Buffer.concat([wirePdu({ opcode: 0x05, itt: 1, data: Buffer.alloc(3000, 0x11) }), wirePdu({ opcode: 0x05, itt: 2, data: Buffer.alloc(700, 0x22) })]);
  const r = new PduReader({ maxDataSegmentLength: 8192 });
  r.parseAhead = true;
  const reused = Buffer.alloc(1000);
  for (let at = 0; at < stream.length; at += reused.length) {
    const n = stream.copy(reused, 0, at, at + reused.length);
    r.push(reused.subarray(0, n));
    reused.fill(0xee); // the socket reads the next bytes into the same memory
  }
  const a = r.next()!;
  const b = r.next()!;
  assert.equal(r.next(), null);
  assert.deepEqual([a.bhs.readUInt32BE(16), b.bhs.readUInt32BE(16)], [1, 2]);
  assert.ok(a.data.equals(Buffer.alloc(3000, 0x11)) && b.data.equals(Buffer.alloc(700, 0x22)));
  assert.equal(r.buffered, 0);
});

test('framing: a placement hook receives the data segment straight into its buffer; its home rides on the PDU', () => {
  const home = Buffer.alloc(4096);
  const r = new PduReader({ maxDataSegmentLength: 8192 });
  r.placeData = (bhs, length) => (bhs.readUInt32BE(16) === 1 ? { view: home.subarray(1024, 1024 + length), home } : undefined);
  r.push(Buffer.concat([wirePdu({ opcode: 0x05, itt: 1, data: Buffer.alloc(1000, 0x33) }), wirePdu({ opcode: 0x05, itt: 2, data: Buffer.alloc(8, 0x44) })]));
  const a = r.next()!;
  assert.equal(a.data.buffer, home.buffer);
  assert.equal(a.data.byteOffset, home.byteOffset + 1024);
  assert.strictEqual(a.dataHome, home);
  assert.ok(home.subarray(1024, 2024).every((x) => x === 0x33));
  const b = r.next()!;
  assert.notEqual(b.data.buffer, home.buffer, 'no placement: a buffer of its own');
  assert.equal(b.dataHome, undefined);
});

test('framing during login: PDUs after a complete one wait, so digests switched on for the next PDU apply to it', () => {
  const login = wirePdu({ opcode: 0x03, itt: 1, data: Buffer.from('a=b') });
  const ffp = wirePdu({ opcode: 0x01, itt: 2, hd: true, dd: true, data: Buffer.from('x') });
  const r = new PduReader({ maxDataSegmentLength: 8192 });
  r.push(Buffer.concat([login, ffp])); // both in one read
  assert.equal(r.next()!.bhs.readUInt32BE(16), 1);
  r.options.headerDigest = true; // the login response enabled digests
  r.options.dataDigest = true;
  r.parseAhead = true;
  const p = r.next()!;
  assert.equal(p.bhs.readUInt32BE(16), 2);
  assert.equal(p.data.toString(), 'x');
  assert.equal(p.dataDigestError, false);
  assert.equal(r.next(), null);
});
