// The kernel model itself, driven with hand-made ioctls (no link): it must refuse what
// scst_user.c refuses, or the link tests would prove nothing. Registration checks, the fixed-size
// version window (EFAULT at the end of a mapping), MULTI's replies_done and EAGAIN, only the
// payload bytes written into a slot, and the reply validation that fails a command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { munmap } from '../../src/ffi/libc.ts';
import { Mapping } from '../../src/ffi/mmap.ts';
import {
  DATA_DIRECTION as D,
  SCST_USER_IOCTLS as IO,
  SCST_USER_SUBCODES as S,
  decodeGetCmd,
  decodeGetMultiResult,
  encodeAllocReply,
  encodeDevDesc,
  encodeExecReply,
  encodeGetMulti,
  encodeParseReply,
  encodeResultReply,
  type UserOpt,
} from '../../src/ffi/scst-user-abi.ts';
import { ControlBlock } from '../../src/links/scst_user/control-block.ts';
import { ScstUserModel, type ModelFile, type ModelSession } from '../helpers/scst-user-model.ts';

const OPT: UserOpt = {
  parse_type: 1, on_free_cmd_type: 1, memory_reuse_type: 3, partial_transfers_type: 0, partial_len: 0,
  tst: 0, tmf_only: 0, queue_alg: 1, qerr: 0, tas: 0, swp: 0, d_sense: 0, has_own_order_mgmt: 0, ext_copy_remap_supported: 0,
};

function register(f: ModelFile, cb: ControlBlock, o: { name?: string; version: string; license?: string; type?: number; bs?: number; opt?: Partial<UserOpt> }): number {
  const s = cb.putStrings(o.version, o.license ?? 'GPL');
  encodeDevDesc(cb.dv, cb.descOffset, { version_str: s.version, license_str: s.license, type: o.type ?? 0, opt: { ...OPT, ...o.opt }, block_size: o.bs ?? 512, name: o.name ?? 'd1' });
  return f.ioctl(IO.SCST_USER_REGISTER_DEVICE, cb.descAddress);
}

/** One MULTI call: `replies` already encoded at reply slots 0..n-1, room for `cmds` commands. */
function multi(f: ModelFile, cb: ControlBlock, replies: number, cmds: number) {
  encodeGetMulti(cb.dv, cb.multiOffset, cb.repliesAddress, replies, cmds);
  const rc = f.ioctl(IO.SCST_USER_REPLY_AND_GET_MULTI, cb.multiAddress);
  const r = decodeGetMultiResult(cb.dv, cb.multiOffset);
  return { rc, ...r, cmds: Array.from({ length: rc >= 0 ? r.cmds_cnt : 0 }, (_, i) => decodeGetCmd(cb.dv, cb.slotOffset(i))) };
}

test('REGISTER_DEVICE: license, version, fixed copy window, block size, options, names, one device per fd', () => {
  const m = new ScstUserModel();
  const cb = new ControlBlock();
  try {
    const f = m.open();
    assert.equal(register(f, cb, { version: m.version, license: 'MIT' }), -1, 'EPERM');
    assert.equal(register(f, cb, { version: m.version.slice(0, -1) + '0' }), -22, 'EINVAL');
    assert.match(m.kernelLog.at(-1)!, /^Incorrect version of user device d1 \(.*\)\. Expected: 3\.11\.0-pre230a/);
    assert.equal(register(f, cb, { version: m.version, bs: 1000 }), -22, 'block size not a power of two');
    assert.equal(register(f, cb, { version: m.version, opt: { qerr: 2 } }), -22, 'QErr 2 is reserved');
    assert.equal(register(f, cb, { version: m.version, opt: { parse_type: 3 } }), -22);
    assert.equal(register(f, cb, { version: m.version, type: 1, bs: 0 }), 0, 'tapes need no block size');
    assert.equal(register(f, cb, { version: m.version, name: 'd2' }), -22, 'one device per fd');
    // dev_user_register_dev creates the SGV pool named after the device before any name check
    assert.equal(register(m.open(), cb, { version: m.version, name: 'd1' }), -12, 'ENOMEM for a name still registered');
    assert.equal(m.kernelLog.at(-1), 'SGV pool d1 already exists');
    m.prDirectory = false;
    assert.equal(register(m.open(), cb, { version: m.version, name: 'd3' }), -2, 'ENOENT without /var/lib/scst/pr');
    assert.equal(m.kernelLog.at(-1), "PR file name /var/lib/scst/pr/d3 parent directory doesn't exist");
    m.prDirectory = true;
    // The kernel reads max(strlen+1, 20) bytes from the version pointer even for a short string:
    // a short string at the very end of a mapping faults.
    const map = Mapping.anonymous(8192);
    munmap(map.address + 4096n, 4096);
    Buffer.from(map.buffer).write('GPL\0', 4090, 'latin1');
    const s = cb.putStrings(m.version, 'GPL');
    encodeDevDesc(cb.dv, cb.descOffset, { version_str: s.version, license_str: map.address + 4090n, type: 0, opt: OPT, block_size: 512, name: 'd3' });
    assert.equal(m.open().ioctl(IO.SCST_USER_REGISTER_DEVICE, cb.descAddress), -14, 'EFAULT');
    map.unmap();
    assert.equal(m.open().ioctl(IO.SCST_USER_REPLY_AND_GET_MULTI, cb.multiAddress), -19, 'ENODEV before REGISTER');
  } finally {
    cb.dispose();
  }
});

test('MULTI: EAGAIN with nothing queued, only payload bytes written, replies_done stops at the first refused reply', async () => {
  const m = new ScstUserModel();
  const cb = new ControlBlock();
  try {
    const f = m.open();
    assert.equal(register(f, cb, { version: m.version, opt: { parse_type: 0 } }), 0);
    assert.equal(multi(f, cb, 0, 4).rc, -11, 'EAGAIN');
    const dev = m.device('d1');
    const attach = dev.attach({ initiator: 'iqn.i', target: 'iqn.t' });
    const got = multi(f, cb, 0, 4);
    assert.equal(got.rc, 0);
    assert.equal(got.cmds.length, 1);
    const a = got.cmds[0]!;
    assert.equal(a.kind, 'attach_sess');
    // reply 0 good (the attach), reply 1 for a cmd_h that does not exist, reply 2 never looked at
    encodeResultReply(cb.dv, cb.replyOffset(0), a.cmd_h, S.SCST_USER_ATTACH_SESS, 0);
    encodeResultReply(cb.dv, cb.replyOffset(1), 4242, S.SCST_USER_ON_FREE_CMD, 0);
    encodeResultReply(cb.dv, cb.replyOffset(2), 4243, S.SCST_USER_ON_FREE_CMD, 0);
    const r = multi(f, cb, 3, 4);
    assert.deepEqual([r.rc, r.replies_done, r.cmds_cnt], [-3, 1, 0], 'ESRCH, one reply done, no command');
    const s = await attach;
    assert.equal(s.state, 'attached');
    assert.deepEqual(s.pendingUa, [{ asc: 0x29, ascq: 0 }], 'scst_alloc_add_tgt_dev: 29/00 for the new session');
    s.pendingUa.length = 0;
    // a READ of 8 blocks: EXEC with pbuf 0 (nothing cached yet); a poisoned slot keeps its tail
    const read = dev.submit(s, { cdb: [0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0] });
    await new Promise((res) => setImmediate(res));
    cb.bytes.fill(0xa5, cb.slotOffset(0), cb.slotOffset(1));
    const e = multi(f, cb, 0, 1);
    const exec = e.cmds[0]!;
    assert.equal(exec.kind, 'exec');
    if (exec.kind !== 'exec') return;
    assert.deepEqual([exec.pbuf, exec.alloc_len, exec.bufflen, exec.data_direction], [0n, 4096, 4096, D.SCST_DATA_READ]);
    assert.equal(cb.bytes[cb.slotOffset(0) + 112], 0xa5, 'bytes after the 112 of an EXEC stay as they were');
    // resp_data_len above bufflen: EINVAL and the kernel fails the command itself
    encodeExecReply(cb.dv, cb.replyOffset(0), exec.cmd_h, { resp_data_len: 8192, pbuf: 0n });
    assert.equal(multi(f, cb, 1, 0).rc, -22);
    const res = await read;
    assert.equal(res.status, 2);
    assert.equal(res.sense![12], 0x44, 'INTERNAL TARGET FAILURE');
  } finally {
    cb.dispose();
  }
});

test('reply validation: wrong subcode, PARSE without INFO_VALID, unaligned cached buffer, data-in and sense read from user memory', async () => {
  const m = new ScstUserModel();
  const cb = new ControlBlock();
  const data = Mapping.anonymous(8192);
  try {
    const f = m.open();
    assert.equal(register(f, cb, { version: m.version, opt: { parse_type: 1 } }), 0); // PARSE_CALL
    const dev = m.device('d1');
    const attach = dev.attach({ initiator: 'iqn.i', target: 'iqn.t' });
    const a = multi(f, cb, 0, 1).cmds[0]!;
    encodeResultReply(cb.dv, cb.replyOffset(0), a.cmd_h, a.subcode, 0);
    multi(f, cb, 1, 0);
    const s = await attach;
    s.pendingUa.length = 0; // the core's 29/00 for the new session
    const step = async () => {
      await new Promise((res) => setImmediate(res));
      return multi(f, cb, 0, 1).cmds[0]!;
    };
    // 1. a PARSE reply with the EXEC subcode: EINVAL, command failed
    const c1 = dev.submit(s, { cdb: [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0] });
    const p1 = await step();
    assert.equal(p1.kind, 'parse');
    encodeExecReply(cb.dv, cb.replyOffset(0), p1.cmd_h, {});
    assert.equal(multi(f, cb, 1, 0).rc, -22);
    assert.equal((await c1).status, 2);
    // 2. PARSE reply without INFO_VALID: EINVAL, HARDWARE ERROR
    const c2 = dev.submit(s, { cdb: [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0] });
    const p2 = await step();
    encodeParseReply(cb.dv, cb.replyOffset(0), p2.cmd_h, { queue_type: 1, data_direction: D.SCST_DATA_READ, cdb_len: 0, lba: 0, data_len: 512, bufflen: 512, op_flags: 0 });
    assert.equal(multi(f, cb, 1, 0).rc, -22);
    assert.equal((await c2).sense![2]! & 0xf, 4);
    // 3. a WRITE: ALLOC_MEM answered with an unaligned buffer (memory reuse needs page alignment)
    const c3 = dev.submit(s, { cdb: [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], dataOut: Buffer.alloc(512, 1) });
    const p3 = await step();
    encodeParseReply(cb.dv, cb.replyOffset(0), p3.cmd_h, { queue_type: 1, data_direction: D.SCST_DATA_WRITE, cdb_len: 0, lba: 0, data_len: 512, bufflen: 512, op_flags: 0x20 });
    multi(f, cb, 1, 0);
    const al = await step();
    assert.equal(al.kind, 'alloc_mem');
    encodeAllocReply(cb.dv, cb.replyOffset(0), al.cmd_h, data.address + 8n);
    assert.equal(multi(f, cb, 1, 0).rc, -22);
    assert.equal((await c3).status, 2);
    // 4. a READ answered properly: data-in from our page, sense from our sense buffer
    const c4 = dev.submit(s, { cdb: [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0] });
    const p4 = await step();
    encodeParseReply(cb.dv, cb.replyOffset(0), p4.cmd_h, { queue_type: 1, data_direction: D.SCST_DATA_READ, cdb_len: 0, lba: 0, data_len: 512, bufflen: 512, op_flags: 0x20 });
    multi(f, cb, 1, 0);
    const ex = await step();
    assert.equal(ex.kind, 'exec');
    Buffer.from(data.buffer).fill(0x3c, 0, 512);
    const sense = cb.putSense(0, Buffer.from([0x70, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 1]));
    encodeExecReply(cb.dv, cb.replyOffset(0), ex.cmd_h, { status: 2, resp_data_len: 512, pbuf: data.address, sense_len: sense.length, psense_buffer: sense.address });
    assert.equal(multi(f, cb, 1, 0).rc, 0, 'a pure reply (cmds_cnt 0) returns at once');
    const r4 = await c4;
    assert.equal(r4.status, 2);
    assert.ok(r4.data.equals(Buffer.alloc(512, 0x3c)));
    assert.equal(r4.sense![13], 1);
    assert.equal(dev.cachedBuffers.total, 1, 'the page-aligned buffer went into the SGV cache');
  } finally {
    cb.dispose();
    data.unmap();
  }
});

/** A device with parse type STANDARD and `n` attached sessions, their core UAs taken. */
async function standardDevice(m: ScstUserModel, f: ModelFile, cb: ControlBlock, n: number) {
  assert.equal(register(f, cb, { version: m.version, opt: { parse_type: 0 } }), 0);
  const dev = m.device('d1');
  const sessions: ModelSession[] = [];
  for (let i = 0; i < n; i++) {
    const attach = dev.attach({ initiator: `iqn.i${i}`, target: 'iqn.t' });
    const a = multi(f, cb, 0, 1).cmds[0]!;
    encodeResultReply(cb.dv, cb.replyOffset(0), a.cmd_h, a.subcode, 0);
    multi(f, cb, 1, 0);
    sessions.push(await attach);
  }
  const tur = { cdb: [0, 0, 0, 0, 0, 0], expected: { dir: 'none' as const, length: 0 } };
  for (const s of sessions) assert.equal((await dev.submit(s, tur)).sense![12], 0x29, 'the core answers 29/00 itself');
  /** A TEST UNIT READY that reaches user space, answered with `sense` (or GOOD). */
  const exec = async (s: ModelSession, sense?: number[]) => {
    const r = dev.submit(s, tur);
    await new Promise((res) => setImmediate(res));
    const c = multi(f, cb, 0, 1).cmds[0]!;
    assert.equal(c.kind, 'exec');
    const sn = sense ? cb.putSense(0, Buffer.from(sense)) : undefined;
    encodeExecReply(cb.dv, cb.replyOffset(0), c.cmd_h, sn ? { status: 2, sense_len: sn.length, psense_buffer: sn.address } : {});
    multi(f, cb, 1, 0);
    return r;
  };
  return { dev, sessions, tur, exec };
}

const uaSense = (asc: number, ascq: number) => [0x70, 0, 6, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, ascq];

test('double UA: a 29h UA from user space while dev_double_ua_possible is set BUGs the kernel (scst_check_sense)', async () => {
  const m = new ScstUserModel();
  const cb = new ControlBlock();
  try {
    const { dev, sessions, exec } = await standardDevice(m, m.open(), cb, 1);
    const s = sessions[0]!;
    assert.equal(dev.core.doubleUaPossible, true, 'set for every new device');
    await assert.rejects(exec(s, uaSense(0x29, 0x00)), /kernel BUG at scst\/src\/scst_targ\.c:3023/);
    assert.equal(m.bugs.length, 1);
  } finally {
    cb.dispose();
  }
});

test('UAs from user space: the core copies them to the other sessions, and a 29h one resets the device (the next 29h BUGs)', async () => {
  const m = new ScstUserModel();
  const cb = new ControlBlock();
  try {
    const { dev, sessions, tur, exec } = await standardDevice(m, m.open(), cb, 2);
    const [a, b] = [sessions[0]!, sessions[1]!];
    assert.equal((await exec(a)).status, 0, 'a good command');
    assert.equal(dev.core.doubleUaPossible, false, 'cleared by the first command done without a reset UA');
    // MEDIUM CHANGED returned to a: b gets the core's copy without reaching user space
    assert.equal((await exec(a, uaSense(0x28, 0x00))).sense![12], 0x28);
    assert.deepEqual(b.pendingUa, [{ asc: 0x28, ascq: 0 }]);
    assert.equal((await dev.submit(b, tur)).sense![12], 0x28);
    // a 29h UA without the flag: scst_process_reset sets it and the other session gets 29/00
    assert.equal((await exec(a, uaSense(0x29, 0x07))).sense![12], 0x29);
    assert.equal(dev.core.doubleUaPossible, true);
    assert.equal(m.bugs.length, 0);
    assert.equal((await dev.submit(b, tur)).sense![13], 0x07, 'copied to b');
    await assert.rejects(exec(b, uaSense(0x29, 0x00)), /kernel BUG/);
  } finally {
    cb.dispose();
  }
});
