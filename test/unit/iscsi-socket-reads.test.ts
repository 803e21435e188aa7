// Accepted sockets re-wrapped to read into one reusable buffer, and the fallback when the socket
// cannot be re-wrapped (it already reads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { adoptForReads, socketFd } from '../../src/links/iscsi/socket-reads.ts';

async function roundTrip(pauseOnConnect: boolean): Promise<{ adopted: boolean; got: Buffer; sameMemory: boolean; closedCount: number }> {
  const chunks: Buffer[] = [];
  const memories = new Set<ArrayBufferLike>();
  let adopted = false;
  const done = new Promise<void>((resolve) => {
    const srv = net.createServer({ pauseOnConnect }, (accepted) => {
      const r = adoptForReads(accepted, (chunk) => {
        memories.add(chunk.buffer);
        chunks.push(Buffer.from(chunk));
        if (Buffer.concat(chunks).length === 300_000) r.socket.end();
      });
      adopted = r.adopted;
      r.socket.on('close', () => srv.close(() => resolve()));
    });
    srv.listen(0, '127.0.0.1', () => {
      const c = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1', () => c.end(Buffer.alloc(300_000, 0x5c)));
      c.on('data', () => undefined);
    });
  });
  const timeout = setTimeout(() => assert.fail('no close within 5 s (the server did not count the connection as closed)'), 5000);
  await done;
  clearTimeout(timeout);
  return { adopted, got: Buffer.concat(chunks), sameMemory: memories.size === 1, closedCount: 0 };
}

test('a paused accepted socket is re-wrapped: every read lands in the same buffer, and net.Server still sees it close', async () => {
  const r = await roundTrip(true);
  assert.equal(r.adopted, true, 'this Node lets us re-wrap accepted sockets');
  assert.ok(r.got.equals(Buffer.alloc(300_000, 0x5c)));
  assert.equal(r.sameMemory, true, 'one reusable read buffer');
});

test('a socket that already reads is used as it is ("data" events)', async () => {
  const r = await roundTrip(false);
  assert.equal(r.adopted, false);
  assert.ok(r.got.equals(Buffer.alloc(300_000, 0x5c)));
  assert.equal(r.sameMemory, false);
});

test('an accepted socket shows its descriptor (what a hand-over to another thread needs)', async () => {
  const srv = net.createServer({ pauseOnConnect: true });
  const fd = new Promise<number | undefined>((resolve) => srv.once('connection', (s) => {
    resolve(socketFd(s));
    s.destroy();
  }));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const c = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  c.on('error', () => undefined);
  const n = await fd;
  c.destroy();
  await new Promise<void>((r) => srv.close(() => r()));
  assert.equal(typeof n, 'number');
  assert.ok(n! > 2);
});
