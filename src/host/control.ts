// The control channel of a running fileio_tgt: a Unix stream socket speaking one JSON object per
// line each way. `fileio_tgt media load|eject|swap|status NAME [ISO]` is its client.
//
// Path: --control PATH, else $FILEIO_TGT_CONTROL, else /run/fileio_tgt.sock as root and
// $XDG_RUNTIME_DIR/fileio_tgt.sock (or /tmp/fileio_tgt-UID.sock) otherwise. The socket is made
// 0600: whoever can talk to it can change the media initiators see. It is opened only when a
// device has removable media to change (cdrom); a path another live process answers on is left
// alone (a warning; media changes then need --control), a stale one is replaced.
//
// Requests:  {"cmd":"media","device":"dvd1","action":"load"|"eject"|"swap"|"status","file":"/x.iso","force":false}
//            {"cmd":"status"}
// Responses: {"ok":true,...} or {"ok":false,"error":"message"}
import { connect, createServer, type Server, type Socket } from 'node:net';
import { chmod, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
      reject(new Error(`cannot reach fileio_tgt on ${path}: ${e.code ?? e.message} (is it running? --control/FILEIO_TGT_CONTROL name another socket)`));
    });
  });
}
