// The cartridge header (README.md: Header slots): two 32 KiB slots written alternately, each
// with a generation and a CRC32C, so a torn header write always leaves the previous one; the
// body holds capacity, verified end, load count, flags, density, epoch, labels and the host's
// MAM attributes. Everything is little-endian.
import type { FileHandle } from 'node:fs/promises';
import { crc32c } from '@node-rs/crc32';

export const HEADER_MAGIC = 'FTGTCART';
export const FORMAT_VERSION = 1;
export const SLOT_SIZE = 32 * 1024;
export const DATA_START = 2 * SLOT_SIZE;

/** MOUNTED: set while a drive has the cartridge open for writing; still set at open = not closed cleanly. */
export const CartFlag = { WORM: 1, WRITE_PROTECT: 2, CLEANING: 4, MOUNTED: 0x100 } as const;

/** MAM attribute formats (SPC-4 §7.4.1): 00b binary, 01b ASCII, 10b text. */
export interface Attribute {
  readonly format: number;
  readonly value: Buffer;
}

export interface CartridgeHeader {
  capacity: number;
  verifiedEnd: number;
  loadCount: number;
  createdAt: number;
  flags: number;
  density: number;
  epoch: number;
  barcode: string;
  serial: string;
  manufacturer: string;
  attributes: Map<number, Attribute>;
  generation: number;
}

export function ascii(s: string, len: number): Buffer {
  return Buffer.from(s.slice(0, len).padEnd(len, ' '), 'latin1');
}
function unascii(b: Buffer): string {
  return b.toString('latin1').replace(/[ \0]+$/, '');
}

export function encodeHeader(h: CartridgeHeader): Buffer {
  const attrs: Buffer[] = [];
  for (const [id, a] of [...h.attributes].sort((x, y) => x[0] - y[0])) {
    const b = Buffer.alloc(6);
    b.writeUInt16LE(id, 0);
    b[2] = a.format;
    b.writeUInt16LE(a.value.length, 4);
    attrs.push(b, a.value);
  }
  const body = Buffer.alloc(124);
  body.writeBigUInt64LE(BigInt(h.capacity), 0);
  body.writeBigUInt64LE(BigInt(h.verifiedEnd), 8);
  body.writeBigUInt64LE(BigInt(h.loadCount), 16);
  body.writeBigUInt64LE(BigInt(h.createdAt), 24);
  body.writeUInt32LE(h.flags, 32);
  body[36] = h.density;
  body.writeUInt32LE(DATA_START, 40);
  body.writeUInt32LE(h.epoch, 44);
  ascii(h.barcode, 32).copy(body, 48);
  ascii(h.serial, 32).copy(body, 80);
  ascii(h.manufacturer, 8).copy(body, 112);
  body.writeUInt32LE(h.attributes.size, 120);
  const all = Buffer.concat([body, ...attrs]);
  if (all.length + 32 > SLOT_SIZE) throw new Error('cartridge header too large (MAM attributes exceed 32 KiB)');
  const head = Buffer.alloc(32);
  head.write(HEADER_MAGIC, 0, 'latin1');
  head.writeUInt32LE(FORMAT_VERSION, 8);
  head.writeUInt32LE(all.length, 12);
  head.writeBigUInt64LE(BigInt(h.generation), 16);
  head.writeUInt32LE(crc32c(all, crc32c(head.subarray(0, 24))), 24);
  return Buffer.concat([head, all]);
}

/** Decodes one header slot; undefined when it is not a valid header. */
export function decodeHeader(slot: Buffer): CartridgeHeader | undefined {
  if (slot.length < 32 || slot.toString('latin1', 0, 8) !== HEADER_MAGIC) return undefined;
  if (slot.readUInt32LE(8) !== FORMAT_VERSION) return undefined;
  const len = slot.readUInt32LE(12);
  if (len < 124 || 32 + len > slot.length) return undefined;
  const body = slot.subarray(32, 32 + len);
  if (crc32c(body, crc32c(slot.subarray(0, 24))) !== slot.readUInt32LE(24)) return undefined;
  const attributes = new Map<number, Attribute>();
  let off = 124;
  const n = body.readUInt32LE(120);
  for (let i = 0; i < n; i++) {
    if (off + 6 > body.length) return undefined;
    const id = body.readUInt16LE(off);
    const format = body[off + 2]!;
    const l = body.readUInt16LE(off + 4);
    if (off + 6 + l > body.length) return undefined;
    attributes.set(id, { format, value: Buffer.from(body.subarray(off + 6, off + 6 + l)) });
    off += 6 + l;
  }
  return {
    generation: Number(slot.readBigUInt64LE(16)),
    capacity: Number(body.readBigUInt64LE(0)),
    verifiedEnd: Number(body.readBigUInt64LE(8)),
    loadCount: Number(body.readBigUInt64LE(16)),
    createdAt: Number(body.readBigUInt64LE(24)),
    flags: body.readUInt32LE(32),
    density: body[36]!,
    epoch: body.readUInt32LE(44),
    barcode: unascii(body.subarray(48, 80)),
    serial: unascii(body.subarray(80, 112)),
    manufacturer: unascii(body.subarray(112, 120)),
    attributes,
  };
}

/** Record flags (README.md: Records): the payload is raw DEFLATE; the payload is an encryption envelope (crypto.ts). */

export async function readHeader(fh: FileHandle): Promise<CartridgeHeader | undefined> {
  const buf = Buffer.alloc(DATA_START);
  const { bytesRead } = await fh.read(buf, 0, DATA_START, 0);
  const a = bytesRead >= SLOT_SIZE ? decodeHeader(buf.subarray(0, SLOT_SIZE)) : decodeHeader(buf.subarray(0, bytesRead));
  const b = bytesRead >= DATA_START ? decodeHeader(buf.subarray(SLOT_SIZE, DATA_START)) : undefined;
  if (a && b) return a.generation >= b.generation ? a : b;
  return a ?? b;
}
