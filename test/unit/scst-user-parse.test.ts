// The scst_user link's PARSE reply (parse.ts): sized from the CDB, else from the initiator's
// expected values, else no data; always INFO_VALID, WRITE_MEDIUM for medium writes, never a
// direction without a length (the kernel refuses such a reply).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DATA_DIRECTION as D, OP_FLAGS, SCST_USER_SUBCODES, type ParseCmd } from '../../src/ffi/scst-user-abi.ts';
import { parseCommand } from '../../src/links/scst_user/parse.ts';

function cmd(cdb: number[], o: Partial<ParseCmd> = {}): ParseCmd {
  return {
    kind: 'parse', cmd_h: 1, subcode: SCST_USER_SUBCODES.SCST_USER_PARSE, sess_h: 1n, cdb: Uint8Array.from(cdb), cdb_len: cdb.length,
    lba: 0, data_len: 0, bufflen: 0, out_bufflen: 0, timeout: 60, op_flags: 0, queue_type: 1, data_direction: 0,
    expected_values_set: 0, expected_data_direction: 0, expected_transfer_len: 0, expected_out_transfer_len: 0, sn: 0, ...o,
  };
}
const parse = (c: ParseCmd, type: number, fixed?: number) => parseCommand(c, Buffer.from(c.cdb), type, { blockSize: 2048, fixedBlockLength: () => fixed });

test('from the CDB: direction and length, INFO_VALID always, WRITE_MEDIUM for writes, kernel flags kept', () => {
  const r = parse(cmd([0x46, 0x02, 0, 0, 0, 0, 0, 0x01, 0x00, 0], { op_flags: OP_FLAGS.SCST_SKIP_UA | OP_FLAGS.SCST_UNKNOWN_LENGTH, queue_type: 3 }), 5);
  assert.equal(r.source, 'cdb');
  assert.deepEqual(r.reply, { queue_type: 3, data_direction: D.SCST_DATA_READ, cdb_len: 0, lba: 0, data_len: 256, bufflen: 256, op_flags: OP_FLAGS.SCST_SKIP_UA | OP_FLAGS.SCST_INFO_VALID, out_bufflen: 0 });
  const w = parse(cmd([0x0a, 1, 0, 0, 3, 0]), 1, 512);
  assert.deepEqual([w.reply.data_direction, w.reply.bufflen, w.reply.op_flags], [D.SCST_DATA_WRITE, 1536, OP_FLAGS.SCST_INFO_VALID | OP_FLAGS.SCST_WRITE_MEDIUM]);
  const none = parse(cmd([0xa5, 0, 0, 0, 4, 1, 0, 1, 0, 0, 0, 0]), 8);
  assert.deepEqual([none.reply.data_direction, none.reply.bufflen], [D.SCST_DATA_NONE, 0]);
});

test('unknown opcodes: the expected values when the transport gave them, else no data', () => {
  const e = parse(cmd([0xd8, 0, 0, 0, 0, 0, 0, 0, 0, 0], { expected_values_set: 1, expected_data_direction: D.SCST_DATA_READ, expected_transfer_len: 2352 }), 5);
  assert.equal(e.source, 'expected');
  assert.deepEqual([e.reply.data_direction, e.reply.bufflen, e.reply.data_len], [D.SCST_DATA_READ, 2352, 2352]);
  const zero = parse(cmd([0xd8, 0, 0, 0, 0, 0, 0, 0, 0, 0], { expected_values_set: 1, expected_data_direction: D.SCST_DATA_WRITE, expected_transfer_len: 0 }), 5);
  assert.deepEqual([zero.reply.data_direction, zero.reply.bufflen], [D.SCST_DATA_NONE, 0], 'never a direction without a length');
  const n = parse(cmd([0xd8, 0, 0, 0, 0, 0, 0, 0, 0, 0], { lba: -5 }), 5);
  assert.equal(n.source, 'none');
  assert.deepEqual([n.reply.data_direction, n.reply.bufflen, n.reply.lba], [D.SCST_DATA_NONE, 0, 0], 'no negative numbers');
  // fixed-mode tape I/O without a known block length falls back on the expectation
  const f = parse(cmd([0x08, 1, 0, 0, 4, 0], { expected_values_set: 1, expected_data_direction: D.SCST_DATA_READ, expected_transfer_len: 4096 }), 1, 0);
  assert.deepEqual([f.source, f.reply.bufflen], ['expected', 4096]);
});
