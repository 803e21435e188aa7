// REPORT SUPPORTED OPERATION CODES (SPC-5 §6.35), generated from the LU's command table.
import { checkReserved, truncate, u16, u32 } from './cdb.ts';
import { invalidCdbField } from './sense.ts';
import type { CommandContext, CommandEntry } from './table.ts';

/** Used when an entry does not state its timeouts: 1 s nominal, 30 s recommended. */
const DEFAULT_TIMEOUT = { nominal: 1, recommended: 30 } as const;

function timeoutsDescriptor(e: CommandEntry): Buffer {
  const t = e.timeout ?? DEFAULT_TIMEOUT;
  const b = Buffer.alloc(12);
  b.writeUInt16BE(10, 0);
  b.writeUInt32BE(t.nominal, 4);
  b.writeUInt32BE(t.recommended, 8);
  return b;
}

export function reportSupportedOperationCodes(ctx: CommandContext): Buffer {
  const { cdb, lu } = ctx;
  checkReserved(cdb, 2, 0x78);
  const rctd = (cdb[2]! & 0x80) !== 0;
  const options = cdb[2]! & 0x07;
  const op = cdb[3]!;
  const sa = u16(cdb, 4);
  const alloc = u32(cdb, 6);
  const table = lu.table;

  if (options === 0) {
    if (op !== 0) throw invalidCdbField(3);
    if (sa !== 0) throw invalidCdbField(4);
    const descs = table.entries().map((e) => {
      const d = Buffer.alloc(8);
      d[0] = e.opcode;
      d.writeUInt16BE(e.serviceAction ?? 0, 2);
      d[5] = (rctd ? 0x02 : 0) | (e.serviceAction !== undefined ? 0x01 : 0);
      d.writeUInt16BE(e.usage.length, 6);
      return rctd ? Buffer.concat([d, timeoutsDescriptor(e)]) : d;
    });
    const body = Buffer.concat(descs);
    const h = Buffer.alloc(4);
    h.writeUInt32BE(body.length, 0);
    return truncate(Buffer.concat([h, body]), alloc);
  }

  const hasSa = table.hasServiceActions(op);
  let entry: CommandEntry | undefined;
  switch (options) {
    case 1: // opcode only; opcodes with service actions are an error
      if (hasSa) throw invalidCdbField(2, 2);
      if (sa !== 0) throw invalidCdbField(4);
      entry = table.find(op);
      break;
    case 2: // opcode + service action; opcodes without service actions are an error
      if (!hasSa) throw invalidCdbField(2, 2);
      entry = table.find(op, sa);
      break;
    case 3: // opcode + service action if it has them
      entry = hasSa ? table.find(op, sa) : table.find(op);
      break;
    default:
      throw invalidCdbField(2, 2);
  }
  const h = Buffer.alloc(4);
  if (!entry) {
    h[1] = 0x01; // SUPPORT 001b: not supported
    return truncate(h, alloc);
  }
  h[1] = (rctd ? 0x80 : 0) | 0x03; // SUPPORT 011b: supported as the standard says
  h.writeUInt16BE(entry.usage.length, 2);
  const parts: Buffer[] = [h, Buffer.from(entry.usage)];
  if (rctd) parts.push(timeoutsDescriptor(entry));
  return truncate(Buffer.concat(parts), alloc);
}
