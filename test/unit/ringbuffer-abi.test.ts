// Pins the TCMU ABI numbers to the uapi header's layout and checks the ring against hand-laid bytes
// (literal offsets here, deliberately not the constants under test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CMD_ENTRY_MIN_SIZE,
  CmdReq,
  CmdRsp,
  EntryHdr,
  Iovec,
  MAILBOX_HEAD_INDEX,
  MAILBOX_TAIL_INDEX,
  Mailbox,
  MailboxFlag,
  TCMU_MAILBOX_VERSION,
  TCMU_OP_ALIGN_SIZE,
  TCMU_OP_MASK,
  TCMU_SENSE_BUFFERSIZE,
  TcmuOp,
  TcmuTmrType,
  TmrEntry,
  UFlag,
  cmdBaseSize,
  cmdEntrySize,
  entryLen,
  entryOp,
  makeLenOp,
  scsiCommandSize,
  tmrEntrySize,
} from '../../src/ringbuffer/abi.ts';
import { TcmuRing, TcmuRingError } from '../../src/ringbuffer/ring.ts';

test('mailbox offsets match struct tcmu_mailbox on x86_64', () => {
  assert.equal(Mailbox.VERSION, 0);
  assert.equal(Mailbox.FLAGS, 2);
  assert.equal(Mailbox.CMDR_OFF, 4);
  assert.equal(Mailbox.CMDR_SIZE, 8);
  assert.equal(Mailbox.CMD_HEAD, 12);
  assert.equal(Mailbox.CMD_TAIL, 64); // __aligned__(64): its own cache line, not 16
  assert.equal(Mailbox.SIZE, 128);
  assert.equal(MAILBOX_HEAD_INDEX, 3);
  assert.equal(MAILBOX_TAIL_INDEX, 16);
  assert.equal(TCMU_MAILBOX_VERSION, 2);
});

test('entry header, req, rsp, iovec and TMR offsets', () => {
  assert.deepEqual({ ...EntryHdr }, { LEN_OP: 0, CMD_ID: 4, KFLAGS: 6, UFLAGS: 7, SIZE: 8 });
  assert.equal(CmdReq.IOV_CNT, 8);
  assert.equal(CmdReq.IOV_BIDI_CNT, 12);
  assert.equal(CmdReq.IOV_DIF_CNT, 16);
  assert.equal(CmdReq.CDB_OFF, 24, 'inner req struct is not packed: 4 bytes of padding before cdb_off');
  assert.equal(CmdReq.IOV, 48);
  assert.deepEqual({ ...Iovec }, { BASE: 0, LEN: 8, SIZE: 16 });
  assert.equal(CmdRsp.SCSI_STATUS, 8);
  assert.equal(CmdRsp.READ_LEN, 12);
  assert.equal(CmdRsp.SENSE, 16);
  assert.equal(TCMU_SENSE_BUFFERSIZE, 96);
  assert.equal(CMD_ENTRY_MIN_SIZE, 112);
  assert.deepEqual({ ...TmrEntry }, { TMR_TYPE: 8, CMD_CNT: 12, CMD_IDS: 32, SIZE: 32 });
});

test('opcodes, flags and len_op encoding', () => {
  assert.deepEqual({ ...TcmuOp }, { PAD: 0, CMD: 1, TMR: 2 });
  assert.equal(TCMU_OP_MASK, 7);
  assert.equal(TCMU_OP_ALIGN_SIZE, 8);
  assert.deepEqual({ ...MailboxFlag }, { CAP_OOOC: 1, CAP_READ_LEN: 2, CAP_TMR: 4, CAP_KEEP_BUF: 8 });
  assert.deepEqual({ ...UFlag }, { UNKNOWN_OP: 1, READ_LEN: 2, KEEP_BUF: 4 });
  assert.equal(TcmuTmrType.LUN_RESET, 5);
  assert.equal(TcmuTmrType.LUN_RESET_PRO, 128);
  // The length is not shifted: 128-byte CMD entry is 0x81.
  assert.equal(makeLenOp(128, TcmuOp.CMD), 0x81);
  assert.equal(entryOp(0x81), 1);
  assert.equal(entryLen(0x81), 128);
  assert.equal(entryLen(0x8000_0002), 0x8000_0000);
});

test('entry sizing follows tcmu_cmd_get_*_size', () => {
  assert.equal(cmdBaseSize(0), 112);
  assert.equal(cmdBaseSize(4), 112);
  assert.equal(cmdBaseSize(5), 128);
  assert.equal(cmdEntrySize(1, 16), 128);
  assert.equal(cmdEntrySize(4, 16), 128);
  assert.equal(cmdEntrySize(256, 16), 4160);
  assert.equal(cmdEntrySize(1, 6), 120);
  assert.equal(cmdEntrySize(1, 32), 144);
  assert.equal(tmrEntrySize(0), 32);
  assert.equal(tmrEntrySize(1), 40);
  assert.equal(tmrEntrySize(4), 40);
  assert.equal(tmrEntrySize(5), 48);
});

test('scsi_command_size: group table and variable-length CDBs', () => {
  assert.equal(scsiCommandSize(0x00), 6); // TEST UNIT READY
  assert.equal(scsiCommandSize(0x28), 10); // READ(10)
  assert.equal(scsiCommandSize(0x5a), 10); // MODE SENSE(10)
  assert.equal(scsiCommandSize(0x88), 16); // READ(16)
  assert.equal(scsiCommandSize(0xa8), 12); // READ(12)
  assert.equal(scsiCommandSize(0x7f, 24), 32);
  assert.equal(scsiCommandSize(0x7f, 252), 260);
  assert.equal(scsiCommandSize(0x7f), -1);
});

/** A 128-byte mailbox + 256-byte ring + 8 KiB data area, laid out by hand. */
function handBuilt(flags: number) {
  const buf = new ArrayBuffer(128 + 256 + 8192);
  const dv = new DataView(buf);
  dv.setUint16(0, 2, true); // version
  dv.setUint16(2, flags, true);
  dv.setUint32(4, 128, true); // cmdr_off
  dv.setUint32(8, 256, true); // cmdr_size
  // One CMD entry at ring offset 0 (mmap 128): 1 iovec, READ(16) → 112 + 16 = 128 bytes.
  dv.setUint32(128 + 0, 128 | 1, true); // len_op
  dv.setUint16(128 + 4, 7, true); // cmd_id
  dv.setUint32(128 + 8, 1, true); // iov_cnt
  dv.setUint32(128 + 12, 0, true); // iov_bidi_cnt
  dv.setUint32(128 + 16, 0, true); // iov_dif_cnt
  dv.setBigUint64(128 + 24, 240n, true); // cdb_off = 128 + 0 + 112, from the mmap base
  dv.setBigUint64(128 + 48, 384n + 4096n, true); // iov[0].iov_base (mmap offset, in data area)
  dv.setBigUint64(128 + 56, 512n, true); // iov[0].iov_len
  const cdb = [0x88, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 1, 0, 0];
  new Uint8Array(buf, 240, 16).set(cdb);
  dv.setUint32(12, 128, true); // cmd_head
  return { buf, dv, cdb };
}

test('decodes a hand-built CMD entry and writes the response at the ABI offsets', () => {
  const { buf, dv, cdb } = handBuilt(0); // no CAP_OOOC: in-place completion
  const ring = new TcmuRing({ buffer: buf });
  assert.equal(ring.cmdrOff, 128);
  assert.equal(ring.cmdrSize, 256);
  assert.deepEqual(ring.dataArea, { mmapOffset: 384, length: 8192 });
  assert.equal(ring.completionMode, 'in-place');
  const [cmd, ...rest] = ring.drain();
  assert.equal(rest.length, 0);
  assert.ok(cmd !== undefined && cmd.kind === 'cmd');
  assert.equal(cmd.cmdId, 7);
  assert.deepEqual([...cmd.cdb], cdb);
  assert.deepEqual(cmd.iovecs, [{ offset: 4480, length: 512 }]);
  assert.equal(cmd.dataLength, 512);
  assert.equal(cmd.direction, 'in-or-out');
  assert.equal(dv.getUint32(64, true), 0, 'tail does not move before completion');

  const sense = Uint8Array.of(0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0x00);
  assert.equal(ring.complete(cmd, { status: 2, sense }), true);
  assert.equal(dv.getUint8(128 + 8), 2, 'scsi_status at entry+8');
  assert.deepEqual([...new Uint8Array(buf, 128 + 16, 14)], [...sense], 'sense at entry+16');
  assert.ok(new Uint8Array(buf, 128 + 16 + 14, 96 - 14).every((b) => b === 0), 'rest of the 96-byte sense is zeroed');
  assert.equal(dv.getUint8(128 + 7), 0, 'uflags at entry+7');
  assert.equal(dv.getUint16(128 + 4, true), 7, 'cmd_id kept');
  assert.equal(dv.getUint32(128 + 0, true), 128 | 1, 'len_op untouched');
  assert.equal(dv.getUint32(64, true), 128, 'cmd_tail at mailbox+64');
  assert.equal(dv.getUint32(16, true), 0, 'nothing written at offset 16 (the packed-without-align mistake)');
  assert.equal(ring.takeNotify(), true);
});

test('READ_LEN and UNKNOWN_OP land in uflags and rsp.read_len at entry+12', () => {
  const { buf, dv } = handBuilt(MailboxFlag.CAP_READ_LEN);
  const ring = new TcmuRing({ buffer: buf });
  const [cmd] = ring.drain();
  assert.ok(cmd?.kind === 'cmd');
  ring.complete(cmd, { status: 0, readLen: 100, unknownOp: true });
  assert.equal(dv.getUint8(128 + 7), 0x1 | 0x2);
  assert.equal(dv.getUint32(128 + 12, true), 100);
});

test('constructor rejects a bad mailbox', () => {
  const { buf, dv } = handBuilt(0);
  dv.setUint16(0, 1, true);
  assert.throws(() => new TcmuRing({ buffer: buf }), TcmuRingError);
  dv.setUint16(0, 2, true);
  dv.setUint32(8, 250, true); // not 8-aligned
  assert.throws(() => new TcmuRing({ buffer: buf }), /cmdr_size/);
  dv.setUint32(8, 1 << 20, true); // beyond the mapping
  assert.throws(() => new TcmuRing({ buffer: buf }), /beyond/);
  dv.setUint32(8, 256, true);
  dv.setUint32(64, 12, true); // tail not aligned
  assert.throws(() => new TcmuRing({ buffer: buf }), /cmd_tail/);
});
