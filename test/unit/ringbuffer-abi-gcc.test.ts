// The TCMU ring ABI as gcc sees the kernel's uapi header (linux/target_core_user.h from Debian's
// linux-libc-dev): kernel/tcmu/abi-check.c prints every offset, size and constant, and each must
// equal what src/ringbuffer/abi.ts pins. A layout change in the header fails here, not in the VM.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CMD_ENTRY_MIN_SIZE, CmdReq, CmdRsp, EntryHdr, Iovec, Mailbox, MailboxFlag, TCMU_MAILBOX_VERSION, TCMU_OP_ALIGN_SIZE,
  TCMU_OP_MASK, TCMU_SENSE_BUFFERSIZE, TCMU_VERSION, TcmuOp, TcmuTmrType, TmrEntry, UFlag,
} from '../../src/ringbuffer/abi.ts';

type Offsets = Record<string, number>;
interface CTcmu {
  mailbox: Offsets;
  hdr: Offsets;
  req: Offsets;
  rsp: Offsets;
  cmd_entry_size: number;
  iovec: Offsets;
  tmr: Offsets;
  constants: Offsets;
  version: string;
}

const CHECK_C = fileURLToPath(new URL('../../../kernel/tcmu/abi-check.c', import.meta.url));
const HEADER = '/usr/include/linux/target_core_user.h';
let dir = '';
let C: CTcmu;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tcmu-abi-'));
  const out = join(dir, 'abi-check');
  const cc = spawnSync('gcc', ['-std=gnu11', '-O0', '-Wall', '-Wextra', '-Werror', '-o', out, CHECK_C], { encoding: 'utf8' });
  if (cc.error) throw new Error(`gcc not found (apt-get install gcc linux-libc-dev): ${cc.error.message}`);
  assert.equal(cc.status, 0, `gcc failed on ${CHECK_C} (the header is ${HEADER}, from linux-libc-dev):\n${cc.stderr}`);
  const run = spawnSync(out, [], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  C = JSON.parse(run.stdout) as CTcmu;
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('struct tcmu_mailbox: offsets and size as gcc lays them out', () => {
  const m = C.mailbox;
  assert.deepEqual(
    [m.version, m.flags, m.cmdr_off, m.cmdr_size, m.cmd_head, m.cmd_tail, m.size],
    [Mailbox.VERSION, Mailbox.FLAGS, Mailbox.CMDR_OFF, Mailbox.CMDR_SIZE, Mailbox.CMD_HEAD, Mailbox.CMD_TAIL, Mailbox.SIZE],
  );
});

test('struct tcmu_cmd_entry: header, req (with its padding before cdb_off), rsp, iovec, minimum size', () => {
  const h = C.hdr;
  assert.deepEqual([h.len_op, h.cmd_id, h.kflags, h.uflags, h.size], [EntryHdr.LEN_OP, EntryHdr.CMD_ID, EntryHdr.KFLAGS, EntryHdr.UFLAGS, EntryHdr.SIZE]);
  const q = C.req;
  assert.deepEqual(
    [q.iov_cnt, q.iov_bidi_cnt, q.iov_dif_cnt, q.cdb_off, q.pad1, q.pad2, q.iov],
    [CmdReq.IOV_CNT, CmdReq.IOV_BIDI_CNT, CmdReq.IOV_DIF_CNT, CmdReq.CDB_OFF, CmdReq.PAD1, CmdReq.PAD2, CmdReq.IOV],
  );
  const r = C.rsp;
  assert.deepEqual([r.scsi_status, r.pad1, r.pad2, r.read_len, r.sense], [CmdRsp.SCSI_STATUS, CmdRsp.PAD1, CmdRsp.PAD2, CmdRsp.READ_LEN, CmdRsp.SENSE]);
  assert.equal(C.cmd_entry_size, CMD_ENTRY_MIN_SIZE);
  assert.deepEqual([C.iovec.base, C.iovec.len, C.iovec.size], [Iovec.BASE, Iovec.LEN, Iovec.SIZE]);
});

test('struct tcmu_tmr_entry: offsets and size', () => {
  const t = C.tmr;
  assert.deepEqual([t.tmr_type, t.cmd_cnt, t.cmd_ids, t.size], [TmrEntry.TMR_TYPE, TmrEntry.CMD_CNT, TmrEntry.CMD_IDS, TmrEntry.SIZE]);
});

test('constants: mailbox version and capability flags, opcodes, uflags, sense size, TMR types, version string', () => {
  const k = C.constants;
  assert.equal(k.TCMU_MAILBOX_VERSION, TCMU_MAILBOX_VERSION);
  assert.deepEqual(
    [k.TCMU_MAILBOX_FLAG_CAP_OOOC, k.TCMU_MAILBOX_FLAG_CAP_READ_LEN, k.TCMU_MAILBOX_FLAG_CAP_TMR, k.TCMU_MAILBOX_FLAG_CAP_KEEP_BUF],
    [MailboxFlag.CAP_OOOC, MailboxFlag.CAP_READ_LEN, MailboxFlag.CAP_TMR, MailboxFlag.CAP_KEEP_BUF],
  );
  assert.deepEqual([k.TCMU_OP_PAD, k.TCMU_OP_CMD, k.TCMU_OP_TMR, k.TCMU_OP_MASK, k.TCMU_OP_ALIGN_SIZE], [TcmuOp.PAD, TcmuOp.CMD, TcmuOp.TMR, TCMU_OP_MASK, TCMU_OP_ALIGN_SIZE]);
  assert.deepEqual([k.TCMU_UFLAG_UNKNOWN_OP, k.TCMU_UFLAG_READ_LEN, k.TCMU_UFLAG_KEEP_BUF], [UFlag.UNKNOWN_OP, UFlag.READ_LEN, UFlag.KEEP_BUF]);
  assert.equal(k.TCMU_SENSE_BUFFERSIZE, TCMU_SENSE_BUFFERSIZE);
  assert.deepEqual(
    [k.TCMU_TMR_UNKNOWN, k.TCMU_TMR_ABORT_TASK, k.TCMU_TMR_ABORT_TASK_SET, k.TCMU_TMR_CLEAR_ACA, k.TCMU_TMR_CLEAR_TASK_SET, k.TCMU_TMR_LUN_RESET,
      k.TCMU_TMR_TARGET_WARM_RESET, k.TCMU_TMR_TARGET_COLD_RESET, k.TCMU_TMR_LUN_RESET_PRO],
    [TcmuTmrType.UNKNOWN, TcmuTmrType.ABORT_TASK, TcmuTmrType.ABORT_TASK_SET, TcmuTmrType.CLEAR_ACA, TcmuTmrType.CLEAR_TASK_SET, TcmuTmrType.LUN_RESET,
      TcmuTmrType.TARGET_WARM_RESET, TcmuTmrType.TARGET_COLD_RESET, TcmuTmrType.LUN_RESET_PRO],
  );
  assert.equal(C.version, TCMU_VERSION);
});
