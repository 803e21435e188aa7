// Kernel-side helpers of the scst_user model: user memory as copy_from_user/copy_to_user see it
// (an address range is usable only if /proc/self/maps maps it readable/writable, else EFAULT),
// and the struct images the kernel writes (scst_user_get_cmd payloads) or reads (replies, the
// MULTI header, dev_desc), by field name from the checked layout tables.
import { readFileSync } from 'node:fs';
import { viewOf } from '../../src/ffi/libc.ts';
import { GET_CMD_BYTES_WRITTEN, LAYOUTS, subcodeName, type FieldLayout, type LayoutName } from '../../src/ffi/scst-user-abi.ts';

interface Range {
  readonly start: bigint;
  readonly end: bigint;
  readonly read: boolean;
  readonly write: boolean;
}

/** The process's memory as the kernel would access it on the handler's behalf. */
export class UserMemory {
  #ranges: Range[] = [];

  #reload(): void {
    this.#ranges = readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [span, perms] = l.split(' ');
        const [a, b] = span!.split('-');
        return { start: BigInt(`0x${a}`), end: BigInt(`0x${b}`), read: perms![0] === 'r', write: perms![1] === 'w' };
      });
  }

  #ok(addr: bigint, len: number, write: boolean): boolean {
    if (addr === 0n || len < 0) return false;
    if (len === 0) return true;
    const end = addr + BigInt(len);
    const covered = () => {
      // Adjacent mappings may together cover the range.
      let at = addr;
      for (const r of this.#ranges) {
        if (r.start <= at && at < r.end && r.read && (!write || r.write)) {
          at = r.end;
          if (at >= end) return true;
        }
      }
      return false;
    };
    if (covered()) return true;
    this.#reload();
    return covered();
  }

  /** Whether the kernel could access [addr, addr+len) (pin it for writing, when write). */
  accessible(addr: bigint, len: number, write: boolean): boolean {
    return this.#ok(addr, len, write);
  }

  /** copy_from_user: a copy of len bytes, or undefined (EFAULT). */
  read(addr: bigint, len: number): Buffer | undefined {
    if (!this.#ok(addr, len, false)) return undefined;
    if (len === 0) return Buffer.alloc(0);
    return Buffer.from(Buffer.from(viewOf(addr, len)));
  }

  /** copy_to_user: false on EFAULT. */
  write(addr: bigint, data: Buffer): boolean {
    if (!this.#ok(addr, data.length, true)) return false;
    if (data.length > 0) Buffer.from(viewOf(addr, data.length)).set(data);
    return true;
  }
}

type Value = number | bigint | Buffer | string;

function put(b: Buffer, [off, size, kind]: FieldLayout, v: Value): void {
  switch (kind) {
    case 'u8': b.writeUInt8(Number(v) & 0xff, off); return;
    case 'u16': b.writeUInt16LE(Number(v) & 0xffff, off); return;
    case 'i16': b.writeInt16LE(Number(v), off); return;
    case 'u32': b.writeUInt32LE(Number(v) >>> 0, off); return;
    case 'i32': b.writeInt32LE(Number(v), off); return;
    case 'u64': case 'ptr': b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v as number | bigint)), off); return;
    case 'i64': b.writeBigInt64LE(BigInt(v as number | bigint), off); return;
    case 'bytes': (v as Buffer).copy(b, off, 0, Math.min(size, (v as Buffer).length)); return;
    case 'char': { b.fill(0, off, off + size); Buffer.from(String(v), 'latin1').copy(b, off, 0, size - 1); return; }
    default: throw new Error(`cannot write a ${kind}`);
  }
}

function get(b: Buffer, [off, size, kind]: FieldLayout): number | bigint | Buffer {
  switch (kind) {
    case 'u8': return b.readUInt8(off);
    case 'u16': return b.readUInt16LE(off);
    case 'i16': return b.readInt16LE(off);
    case 'u32': return b.readUInt32LE(off);
    case 'i32': return b.readInt32LE(off);
    case 'u64': case 'ptr': return b.readBigUInt64LE(off);
    case 'i64': return b.readBigInt64LE(off);
    default: return b.subarray(off, off + size);
  }
}

/** Writes fields of struct `layout` (names as in the layout table, e.g. "exec_cmd.pbuf") into b. */
export function writeStruct(b: Buffer, layout: LayoutName, values: Record<string, Value>): void {
  const fields = LAYOUTS[layout].fields as Record<string, FieldLayout>;
  for (const [k, v] of Object.entries(values)) {
    const f = fields[k];
    if (!f) throw new Error(`${layout} has no field ${k}`);
    put(b, f, v);
  }
}

export function readStruct(b: Buffer, layout: LayoutName, field: string): number | bigint | Buffer {
  const f = (LAYOUTS[layout].fields as Record<string, FieldLayout>)[field];
  if (!f) throw new Error(`${layout} has no field ${field}`);
  return get(b, f);
}
export const readNum = (b: Buffer, layout: LayoutName, field: string): number => Number(readStruct(b, layout, field));
export const readPtr = (b: Buffer, layout: LayoutName, field: string): bigint => BigInt(readStruct(b, layout, field) as bigint);

/**
 * The scst_user_get_cmd image the kernel prepares for a subcommand: header plus one union
 * member (`values` keyed by field name inside it), and the number of bytes it copies to the slot
 * (only those: the rest of the user's 544 bytes stays as it was).
 */
export function getCmdImage(cmd_h: number, subcode: number, member: string, values: Record<string, Value>): { image: Buffer; length: number } {
  const image = Buffer.alloc(LAYOUTS.scst_user_get_cmd.size);
  const prefixed: Record<string, Value> = { cmd_h, subcode };
  for (const [k, v] of Object.entries(values)) prefixed[`${member}.${k}`] = v;
  writeStruct(image, 'scst_user_get_cmd', prefixed);
  const name = subcodeName(subcode);
  return { image, length: name ? GET_CMD_BYTES_WRITTEN[name] : 8 + 16 };
}
