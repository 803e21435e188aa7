// READ DEFECT DATA(10/12) (SBC-4 §5.17, §5.18): a file-backed LU has no defects, so both lists are
// empty, valid, and reported in whatever address format the initiator asked for.
import { Op } from '../../scsi/constants.ts';
import { checkReserved, truncate, u16, u32 } from '../../scsi/cdb.ts';
import { invalidCdbField } from '../../scsi/sense.ts';
import { usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';

const F = 0xff;
/** DEFECT LIST FORMAT 111b is reserved; 110b (vendor specific) is accepted: the list is empty. */
const RESERVED_FORMAT = 0x07;

function flags(b: number, ctxByte: number): number {
  const format = b & 0x07;
  if (format === RESERVED_FORMAT) throw invalidCdbField(ctxByte, 2);
  return b & 0x1f; // PLISTV/GLISTV = what was requested (empty lists are valid), same format
}

function readDefectData10(ctx: CommandContext): Buffer {
  const cdb = ctx.cdb;
  checkReserved(cdb, 1, 0xff);
  checkReserved(cdb, 2, 0xe0);
  for (let i = 3; i <= 6; i++) checkReserved(cdb, i, 0xff);
  const h = Buffer.alloc(4);
  h[1] = flags(cdb[2]!, 2);
  // DEFECT LIST LENGTH 0
  return truncate(h, u16(cdb, 7));
}

function readDefectData12(ctx: CommandContext): Buffer {
  const cdb = ctx.cdb;
  checkReserved(cdb, 1, 0xe0);
  checkReserved(cdb, 10, 0xff);
  const h = Buffer.alloc(8);
  h[1] = flags(cdb[1]!, 1);
  // GENERATION CODE 0 (the lists never change), DEFECT LIST LENGTH 0; the ADDRESS DESCRIPTOR
  // INDEX cannot point past an empty list in a way that changes the (empty) answer
  return truncate(h, u32(cdb, 6));
}

export function defectDataCommands(): CommandEntry[] {
  return [
    {
      opcode: Op.READ_DEFECT_DATA_10,
      name: 'READ DEFECT DATA(10)',
      usage: usage(Op.READ_DEFECT_DATA_10, 0, 0x1f, 0, 0, 0, 0, F, F, 0x07),
      run: readDefectData10,
      medium: true,
    },
    {
      opcode: Op.READ_DEFECT_DATA_12,
      name: 'READ DEFECT DATA(12)',
      usage: usage(Op.READ_DEFECT_DATA_12, 0x1f, F, F, F, F, F, F, F, F, 0, 0x07),
      run: readDefectData12,
      medium: true,
    },
  ];
}
