// Socket reads into one reusable buffer. By default Node gives every read a fresh ArrayBuffer
// (up to 64 KiB): at 1 GiB/s of write data that is 16k allocations a second of external memory,
// and V8 answers external memory growth with full mark-compacts (measured: ~19% of the target's
// time on 1 MiB writes). net.Socket's documented `onread` option reads into a buffer of ours
// instead, but only for sockets we construct; an accepted socket is re-wrapped around its handle
// (as net.Server itself builds it) before it ever reads. The framing layer copies every byte out
// of the buffer before the callback returns (PduReader), so the buffer is reused at once.
//
// Where a later Node no longer lets us do this, the accepted socket is used as it is and emits
// 'data' as usual: only the allocation saving is lost (adoptForReads says which one happened).
import net from 'node:net';

/** The reusable buffer: the most one read brings (as much as one default-sized data segment). */
export const READ_BUFFER_BYTES = 256 << 10;

/** Makes a connection's socket; its reads go to `onBytes` (a view valid until it returns). */
export type SocketSource = (onBytes: (chunk: Buffer) => void) => net.Socket;

interface SocketInternals {
  _handle?: { readStart?: unknown; reading?: boolean; fd?: number } | null;
  _server?: unknown;
  server?: unknown;
}

/**
 * The socket to use for an accepted connection whose reads should go to `onBytes` (a view of the
 * reusable buffer, valid until it returns). The accepted socket must not have started reading
 * (net.Server with pauseOnConnect). Returns the accepted socket itself, resumed, when it cannot
 * be re-wrapped; `adopted` says which.
 */
export function adoptForReads(accepted: net.Socket, onBytes: (chunk: Buffer) => void): { socket: net.Socket; adopted: boolean } {
  const old = accepted as unknown as SocketInternals;
  const handle = old._handle;
  if (!handle || typeof handle.readStart !== 'function' || handle.reading === true) {
    accepted.on('data', onBytes);
    accepted.resume();
    return { socket: accepted, adopted: false };
  }
  old._handle = null; // the accepted wrapper lets go; the new one owns the handle from here
  const socket = readingSocket({ handle } as net.SocketConstructorOpts, onBytes);
  // net.Server counts its connections through the socket that owns them (close() waits for them)
  const s = socket as unknown as SocketInternals;
  s._server = old._server;
  s.server = old.server;
  old._server = null;
  old.server = null;
  return { socket, adopted: true };
}

/** A socket around a connected TCP descriptor handed to this thread (its reads as in adoptForReads). */
export function socketFromFd(fd: number, onBytes: (chunk: Buffer) => void): net.Socket {
  return readingSocket({ fd }, onBytes);
}

/** A net.Socket over a handle or descriptor whose reads land in a reusable buffer of its own. */
function readingSocket(from: net.SocketConstructorOpts, onBytes: (chunk: Buffer) => void): net.Socket {
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  return new net.Socket({
    ...from,
    readable: true,
    writable: true,
    onread: { buffer, callback: (n: number, buf: Uint8Array) => void onBytes((buf as Buffer).subarray(0, n)) },
  } as net.SocketConstructorOpts);
}

/** The descriptor of a connected socket, where Node shows it (Linux: the TCP handle's fd). */
export function socketFd(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as SocketInternals)._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
