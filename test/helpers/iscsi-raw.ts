// tools/iscsi-raw -s: one libiscsi session kept open, raw CDBs in ("CDBHEX in=LEN out=HEX" lines),
// one result line out per command.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const RAW = fileURLToPath(new URL('../../tools/iscsi-raw', import.meta.url));

export interface RawResult {
  status: number;
  sense: string;
  data: Buffer;
  line: string;
}

/** One iscsi-raw -s session: send a CDB line, get its result line. */
export class RawSession {
  private readonly proc: ChildProcessWithoutNullStreams;
  private buf = '';
  private readonly waiters: Array<(line: string) => void> = [];
  private readonly lines: string[] = [];
  constructor(url: string) {
    if (!existsSync(RAW)) throw new Error(`${RAW} is missing: npm test builds it (gcc -O2 -o dist/tools/iscsi-raw tools/iscsi-raw.c -liscsi)`);
    this.proc = spawn(RAW, ['-s', url]);
    this.proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    this.proc.on('error', () => undefined);
  }
  /** `cdb` as hex or bytes; `in`: data-in length; `out`: data-out. */
  send(cdb: string | number[], o: { in?: number; out?: Buffer } = {}): Promise<RawResult> {
    const hex = typeof cdb === 'string' ? cdb : Buffer.from(cdb).toString('hex');
    const p = new Promise<string>((resolve, reject) => {
      const early = this.lines.shift();
      if (early !== undefined) return resolve(early);
      const timer = setTimeout(() => reject(new Error(`no reply to ${hex}`)), 20_000);
      this.waiters.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
    this.proc.stdin.write(`${hex} in=${o.in ?? 0}${o.out ? ` out=${o.out.toString('hex')}` : ''}\n`);
    return p.then((line) => {
      const m = /^status=0x([0-9a-f]{2}) sense=(\S+) residual=-?\d+ len=\d+ data=([0-9a-f]*)$/.exec(line);
      assert.ok(m, `iscsi-raw said: ${line}`);
      return { status: parseInt(m[1]!, 16), sense: m[2]!, data: Buffer.from(m[3]!, 'hex'), line };
    });
  }
  /** TEST UNIT READY until GOOD (unit attentions after login, load, restart). */
  async ready(): Promise<void> {
    for (let i = 0; i < 10; i++) if ((await this.send([0, 0, 0, 0, 0, 0])).status === 0) return;
    assert.fail('never ready');
  }
  /** Ends the session; a session whose target died may be stuck reconnecting: kill it. */
  close(): void {
    this.proc.stdin.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 1000);
    this.proc.once('exit', () => clearTimeout(t));
  }
}

/** Reads `blocks` blocks of `blockSize` bytes from LBA 0 with READ(10), 32 blocks per command. */
export async function readAll(s: RawSession, blocks: number, blockSize = 2048): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let lba = 0; lba < blocks; lba += 32) {
    const n = Math.min(32, blocks - lba);
    const r = await s.send([0x28, 0, lba >>> 24, (lba >> 16) & 0xff, (lba >> 8) & 0xff, lba & 0xff, 0, n >> 8, n & 0xff, 0], { in: n * blockSize });
    assert.equal(r.status, 0, `READ(10) at ${lba}: ${r.line.slice(0, 120)}`);
    parts.push(r.data);
  }
  return Buffer.concat(parts);
}
