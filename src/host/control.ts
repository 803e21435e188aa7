// The control channel of a running fileio_tgt: a Unix stream socket speaking one JSON object per
// line each way. `fileio_tgt media load|eject|swap|status NAME [ISO]` is its client.
//
// Path: --control PATH, else $FILEIO_TGT_CONTROL, else /run/fileio_tgt.sock as root and
// $XDG_RUNTIME_DIR/fileio_tgt.sock (or /tmp/fileio_tgt-UID.sock) otherwise. The socket is made
// 0600: whoever can talk to it can change the media initiators see. Every fileio_tgt opens it,
// whatever its device types (--no-control: none); a path another live process answers on is left
// alone (a warning; that process's status and media changes then need --control), a stale one
// is replaced.
//
// Requests:  {"cmd":"media","device":"dvd1","action":"load"|"eject"|"swap"|"status","file":"/x.iso","force":false}
//            {"cmd":"status"}
//            {"cmd":"resize","devices":["d1"],"shrink":false}   (devices absent: all)
// Responses: {"ok":true,...} or {"ok":false,"error":"message"}
import { connect, createServer, type Server, type Socket } from 'node:net';
import { chmod, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errnoText } from '../backing/errno.ts';

export type ControlRequest = Record<string, unknown> & { cmd: string };
export type ControlHandler = (req: ControlRequest) => Promise<Record<string, unknown>>;

export function defaultControlPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FILEIO_TGT_CONTROL) return env.FILEIO_TGT_CONTROL;
  const uid = process.getuid?.() ?? -1;
  if (uid === 0) return '/run/fileio_tgt.sock';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'fileio_tgt.sock');
  return join(tmpdir(), `fileio_tgt-${uid}.sock`);
}

/** Resolves true when something accepts connections on `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class ControlServer {
  readonly path: string;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(path: string, server: Server) {
    this.path = path;
    this.server = server;
  }

  static async listen(path: string, handler: ControlHandler): Promise<ControlServer> {
    if (await answers(path)) throw new Error(`control socket ${path} is in use by another process`);
    await unlink(path).catch(() => undefined);
    const server = createServer();
    const cs = new ControlServer(path, server);
    server.on('connection', (sock) => cs.serve(sock, handler));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o600).catch(() => undefined);
    return cs;
  }

  private serve(sock: Socket, handler: ControlHandler): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.setEncoding('utf8');
    let buf = '';
    let chain = Promise.resolve();
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.length > 65536) {
        sock.end(`${JSON.stringify({ ok: false, error: 'request too long' })}\n`);
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        chain = chain.then(async () => {
          let reply: Record<string, unknown>;
          try {
            const req = JSON.parse(line) as unknown;
            if (typeof req !== 'object' || req === null || typeof (req as ControlRequest).cmd !== 'string') throw new Error('a request is a JSON object with "cmd"');
            reply = { ok: true, ...(await handler(req as ControlRequest)) };
          } catch (e) {
            reply = { ok: false, error: (e as Error).message };
          }
          if (!sock.destroyed) sock.write(`${JSON.stringify(reply)}\n`);
        });
      }
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await unlink(this.path).catch(() => undefined);
  }
}

/** Sends one request and resolves with the reply (rejects when nobody listens or on timeout). */
export function controlRequest(path: string, req: ControlRequest, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.once('connect', () => s.write(`${JSON.stringify(req)}\n`));
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      s.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      } catch (e) {
        reject(e as Error);
      }
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(unreachable(path, e)));
    });
  });
}

/** Why nobody answers on `path`, in terms of what the user can do about it. */
export function unreachable(path: string, e: NodeJS.ErrnoException): string {
  const elsewhere = 'a running fileio_tgt prints "control socket: PATH" when it starts; pass that PATH with --control or FILEIO_TGT_CONTROL';
  switch (e.code) {
    case 'ENOENT':
      return `no control socket ${path}: no fileio_tgt is running with this path (${elsewhere}; one started with --no-control has none)`;
    case 'ECONNREFUSED':
      return `nothing answers on ${path}: the fileio_tgt that made it has exited (a stale socket; ${elsewhere})`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied on ${path}: the socket is 0600, run this as the user that started fileio_tgt`;
    case 'ENOTSOCK':
      return `${path} is not a socket (${elsewhere})`;
    default:
      return `cannot reach fileio_tgt on ${path}: ${errnoText(e)}`;
  }
}
