// The PARSE reply: direction, buffer length and flags of a command the kernel's generic parser
// did not handle (PARSE_EXCEPTION: unknown opcodes; PARSE_CALL: every command). Lengths come
// from the CDB (src/scsi/transfer.ts); an opcode whose length the CDB cannot tell falls back on
// what the initiator said it expects, and failing that moves no data, so the device server
// answers it (typically INVALID COMMAND OPERATION CODE). The kernel refuses a reply without
// INFO_VALID, with a direction but no length, or with negative numbers (scst_user.c dev_user_process_reply_parse).
import { DATA_DIRECTION, OP_FLAGS, type ParseCmd, type ParseReply } from '../../ffi/scst-user-abi.ts';
import { transferOf, type TransferContext, type TransferDirection } from '../../scsi/transfer.ts';

const DIR: Record<TransferDirection, number> = {
  none: DATA_DIRECTION.SCST_DATA_NONE,
  read: DATA_DIRECTION.SCST_DATA_READ,
  write: DATA_DIRECTION.SCST_DATA_WRITE,
};

const MAX_I32 = 0x7fffffff;

export interface ParseDecision {
  readonly reply: ParseReply;
  /** Where the length came from: the CDB, the initiator's expected values, or nothing known. */
  readonly source: 'cdb' | 'expected' | 'none';
}

export function parseCommand(c: ParseCmd, cdb: Buffer, peripheralType: number, ctx: TransferContext): ParseDecision {
  const t = transferOf(cdb, peripheralType, ctx);
  let direction = DATA_DIRECTION.SCST_DATA_NONE as number;
  let length = 0;
  let outLength = 0;
  let mediumWrite = false;
  let source: ParseDecision['source'] = 'none';
  if (t) {
    direction = DIR[t.direction];
    length = t.length;
    mediumWrite = t.mediumWrite;
    source = 'cdb';
  } else if (c.expected_values_set) {
    const d = c.expected_data_direction;
    if (d === DATA_DIRECTION.SCST_DATA_READ || d === DATA_DIRECTION.SCST_DATA_WRITE) {
      direction = d;
      length = Math.max(0, c.expected_transfer_len);
    } else if (d === DATA_DIRECTION.SCST_DATA_BIDI) {
      direction = d;
      length = Math.max(0, c.expected_transfer_len);
      outLength = Math.max(0, c.expected_out_transfer_len);
    }
    source = 'expected';
  }
  length = Math.min(length, MAX_I32);
  if (length === 0) {
    direction = DATA_DIRECTION.SCST_DATA_NONE;
    outLength = 0;
  }
  let flags = (c.op_flags | OP_FLAGS.SCST_INFO_VALID) & ~OP_FLAGS.SCST_UNKNOWN_LENGTH;
  if (mediumWrite) flags |= OP_FLAGS.SCST_WRITE_MEDIUM;
  return {
    source,
    reply: {
      queue_type: c.queue_type,
      data_direction: direction,
      cdb_len: 0, // keep the kernel's
      lba: Math.max(0, c.lba),
      data_len: length,
      bufflen: length,
      op_flags: flags >>> 0,
      out_bufflen: outLength,
    },
  };
}
