// The model's stand-in for SCST's generic parsers (scst_lib.c scst_*_generic_parse): direction,
// buffer length and op_flags of the opcodes it knows, per device type. Written independently of
// src/scsi/transfer.ts so that the link's PARSE answers are checked against something else.
// The CD/DVD and changer tables are deliberately small: with PARSE_EXCEPTION everything else
// reaches the handler as PARSE, which is what the tests want to exercise.
import { DATA_DIRECTION as D, OP_FLAGS } from '../../src/ffi/scst-user-abi.ts';

export interface Parsed {
  readonly dir: number;
  readonly bufflen: number;
  readonly lba: number;
  readonly opFlags: number;
}

const be = (cdb: Buffer, off: number, n: number): number => (cdb.length >= off + n ? cdb.readUIntBE(off, n) : 0);
const WM = OP_FLAGS.SCST_WRITE_MEDIUM;

type P = (cdb: Buffer, bs: number) => Omit<Parsed, 'opFlags'> & { flags?: number };
const none: P = () => ({ dir: D.SCST_DATA_NONE, bufflen: 0, lba: 0 });
const inAt = (off: number, n: number): P => (c) => ({ dir: D.SCST_DATA_READ, bufflen: be(c, off, n), lba: 0 });
const outAt = (off: number, n: number): P => (c) => ({ dir: D.SCST_DATA_WRITE, bufflen: be(c, off, n), lba: 0 });
const rw = (write: boolean, lbaOff: number, lbaN: number, lenOff: number, lenN: number, six = false): P => (c, bs) => {
  let n = be(c, lenOff, lenN);
  if (six && n === 0) n = 256;
  const lba = six ? be(c, 1, 3) & 0x1fffff : be(c, lbaOff, lbaN);
  return { dir: write ? D.SCST_DATA_WRITE : D.SCST_DATA_READ, bufflen: n * bs, lba, flags: write ? WM : 0 };
};
const verify = (lenOff: number, lenN: number): P => (c, bs) => {
  const bytchk = (c[1]! >> 1) & 3;
  return bytchk === 0 ? none(c, bs) : { dir: D.SCST_DATA_WRITE, bufflen: (bytchk === 3 ? 1 : be(c, lenOff, lenN)) * bs, lba: be(c, 2, 4) };
};

const COMMON: Record<number, P> = { 0x00: none, 0x12: inAt(3, 2), 0x03: inAt(4, 1) };

const DISK: Record<number, P> = {
  ...COMMON,
  0x08: rw(false, 1, 3, 4, 1, true), 0x0a: rw(true, 1, 3, 4, 1, true),
  0x28: rw(false, 2, 4, 7, 2), 0x2a: rw(true, 2, 4, 7, 2),
  0x88: rw(false, 6, 4, 10, 4), 0x8a: rw(true, 6, 4, 10, 4),
  0x2f: verify(7, 2), 0x8f: verify(10, 4),
  0x35: none, 0x91: none, 0x1b: none, 0x1e: none,
  0x25: () => ({ dir: D.SCST_DATA_READ, bufflen: 8, lba: 0 }), 0x9e: inAt(10, 4),
  0x1a: inAt(4, 1), 0x5a: inAt(7, 2), 0x15: outAt(4, 1), 0x55: outAt(7, 2),
  0x4d: inAt(7, 2), 0xa3: inAt(6, 4),
  0x41: (_c, bs) => ({ dir: D.SCST_DATA_WRITE, bufflen: bs, lba: 0, flags: WM }),
  0x42: (c) => ({ ...outAt(7, 2)(c, 0), flags: WM }),
};
const CDROM: Record<number, P> = { ...COMMON, 0x28: rw(false, 2, 4, 7, 2), 0x25: () => ({ dir: D.SCST_DATA_READ, bufflen: 8, lba: 0 }) };
const CHANGER: Record<number, P> = { ...COMMON };

/** The model's generic parse of a CDB for a device type, or undefined (not an opcode it knows). */
export function modelParse(cdb: Buffer, type: number, blockSize: number): Parsed | undefined {
  const table = type === 0 ? DISK : type === 5 ? CDROM : type === 8 ? CHANGER : COMMON;
  const p = table[cdb[0]!];
  if (!p) return undefined;
  const r = p(cdb, blockSize);
  const dir = r.bufflen === 0 ? D.SCST_DATA_NONE : r.dir;
  return { dir, bufflen: r.bufflen, lba: r.lba, opFlags: OP_FLAGS.SCST_INFO_VALID | (r.flags ?? 0) };
}
