// The reply queue of the scst_user link on its own: what a REPLY_AND_GET_MULTI outcome means
// for the replies it carried (replies_done semantics), and the bytes it stages for the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCST_USER_SUBCODES as S } from '../../src/ffi/scst-user-abi.ts';
import { ControlBlock, REPLIES_PER_CALL } from '../../src/links/scst_user/control-block.ts';
import { ReplyQueue, type PendingReply } from '../../src/links/scst_user/replies.ts';

const result = (h: number): PendingReply => ({ kind: 'result', cmd_h: h, subcode: S.SCST_USER_ON_FREE_CMD, result: 0 });
const heads = (q: ReplyQueue, cb: ControlBlock): number[] => {
  const n = q.stage(cb);
  return Array.from({ length: n }, (_, i) => cb.dv.getUint32(cb.replyOffset(i), true));
};

test('settle: success takes everything; EAGAIN and EINTR come after the reply phase', () => {
  const cb = new ControlBlock();
  try {
    const q = new ReplyQueue();
    for (let h = 1; h <= 5; h++) q.push(result(h));
    assert.equal(q.stage(cb), 5);
    assert.deepEqual(q.settle(5, 0, 5), { consumed: 5, again: false });
    assert.equal(q.length, 0);
    for (let h = 1; h <= 3; h++) q.push(result(h));
    assert.deepEqual(q.settle(3, -11, 3), { consumed: 3, again: false }, 'EAGAIN: no command, replies all taken');
    for (let h = 1; h <= 3; h++) q.push(result(h));
    assert.deepEqual(q.settle(3, -4, 3), { consumed: 3, again: true }, 'EINTR: taken, look again');
    assert.equal(q.length, 0);
  } finally {
    cb.dispose();
  }
});

test('settle: a refusal at replies_done drops that reply only; the rest are staged again in order', () => {
  const cb = new ControlBlock();
  try {
    const q = new ReplyQueue();
    for (let h = 1; h <= 6; h++) q.push(result(h));
    assert.deepEqual(heads(q, cb), [1, 2, 3, 4, 5, 6]);
    const s = q.settle(6, -22, 2);
    assert.equal(s.consumed, 2);
    assert.equal(s.dropped?.errno, 22);
    assert.equal(s.dropped?.reply.cmd_h, 3);
    assert.equal(s.again, true);
    assert.deepEqual(heads(q, cb), [4, 5, 6]);
    // ESRCH on the first one (a restarted ioctl replaying a reply already taken)
    const r = q.settle(3, -3, 0);
    assert.equal(r.dropped?.reply.cmd_h, 4);
    assert.deepEqual(heads(q, cb), [5, 6]);
    // a nonsense replies_done is clamped
    assert.equal(q.settle(2, -22, 99).fatal, 22, 'all taken and still an error: not a reply problem');
  } finally {
    cb.dispose();
  }
});

test('settle: a dead fd is fatal whatever replies_done says', () => {
  const q = new ReplyQueue();
  q.push(result(1));
  for (const errno of [9, 14, 19, 25]) assert.equal(q.settle(1, -errno, 0).fatal, errno);
  assert.equal(q.length, 1, 'nothing dropped: the device will be registered again and these are moot');
  q.clear();
  assert.equal(q.length, 0);
});

test('stage: at most REPLIES_PER_CALL per call; EXEC sense goes to its own slot, pointed at by the reply', () => {
  const cb = new ControlBlock();
  try {
    const q = new ReplyQueue();
    for (let h = 1; h <= REPLIES_PER_CALL + 3; h++) q.push(result(h));
    assert.equal(q.stage(cb), REPLIES_PER_CALL);
    q.settle(REPLIES_PER_CALL, 0, REPLIES_PER_CALL);
    assert.equal(q.length, 3);
    q.clear();
    const sense = Buffer.from([0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0xc0, 0, 2]);
    q.push(result(7));
    q.push({ kind: 'exec', cmd_h: 9, status: 2, resp_data_len: 0, pbuf: 0n, sense });
    q.push({ kind: 'exec', cmd_h: 10, status: 0, resp_data_len: 4096, pbuf: 0x7f0000001000n });
    assert.equal(q.stage(cb), 3);
    const r1 = cb.replyOffset(1);
    const dv = cb.dv;
    assert.equal(dv.getUint32(r1, true), 9);
    assert.equal(dv.getUint32(r1 + 4, true), S.SCST_USER_EXEC);
    assert.equal(dv.getUint8(r1 + 24), 1, 'COMPLETED');
    assert.equal(dv.getUint8(r1 + 25), 2, 'status');
    assert.equal(dv.getUint8(r1 + 32), 18, 'sense_len');
    const psense = dv.getBigUint64(r1 + 40, true);
    const off = Number(psense - cb.base);
    assert.ok(off > 0 && cb.bytes.subarray(off, off + 18).equals(sense), 'sense copied where psense_buffer points');
    const r2 = cb.replyOffset(2);
    assert.equal(dv.getInt32(r2 + 8, true), 4096);
    assert.equal(dv.getBigUint64(r2 + 16, true), 0x7f0000001000n);
    assert.equal(dv.getBigUint64(r2 + 40, true), 0n, 'no sense pointer without sense');
  } finally {
    cb.dispose();
  }
});
