// Starts tgtd (Debian package tgt) on 127.0.0.1 with one LUN, as the reference peer for the
// conformance and benchmark runs. tgtd ignores SIGTERM, so stop() kills it.
import { spawn, execFile } from 'node:child_process';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface TgtLun {
  /** Target name suffix (iqn.2026-11.test.tgt:<name>). */
  name: string;
  backing: string;
  bstype?: 'rdwr' | 'null';
  blocksize?: number;
  /** tgtadm logicalunit --params, e.g. "thin_provisioning=1". */
  params?: string;
}

export interface RunningTgt {
  url: string;
  /** One URL per LUN given to startTgt, in order. */
  urls: string[];
  pid: number;
  stop(): Promise<void>;
}

function tgtadm(ctl: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('tgtadm', ['-C', ctl, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr });
    });
  });
}

/** Starts a tgtd of its own (own control socket and port) serving `lun` as LUN 1 (several: one target each). */
export async function startTgt(lunOrLuns: TgtLun | TgtLun[]): Promise<RunningTgt> {
  const luns = Array.isArray(lunOrLuns) ? lunOrLuns : [lunOrLuns];
  const port = await freePort();
  const ctl = String(100 + (port % 800));
  const tgtd = spawn('tgtd', ['-f', '-C', ctl, '--iscsi', `portal=127.0.0.1:${port}`], { stdio: 'ignore' });
  const stop = async () => {
    if (tgtd.exitCode !== null || tgtd.signalCode !== null) return;
    tgtd.kill('SIGKILL');
    await new Promise((r) => tgtd.once('exit', r));
  };
  try {
    for (let i = 0; (await tgtadm(ctl, ['--mode', 'system', '--op', 'show'])).code !== 0; i++) {
      if (i > 100) throw new Error('tgtd did not start within 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const adm = async (...a: string[]) => {
      const r = await tgtadm(ctl, ['--lld', 'iscsi', ...a]);
      if (r.code !== 0) throw new Error(`tgtadm ${a.join(' ')}: ${r.out}`);
    };
    const urls: string[] = [];
    for (const [i, lun] of luns.entries()) {
      const tid = String(i + 1);
      const iqn = `iqn.2026-11.test.tgt:${lun.name}`;
      await adm('--mode', 'target', '--op', 'new', '--tid', tid, '--targetname', iqn);
      const lu = ['--mode', 'logicalunit', '--op', 'new', '--tid', tid, '--lun', '1', '--backing-store', lun.backing];
      if (lun.bstype) lu.push('--bstype', lun.bstype);
      if (lun.blocksize) lu.push(`--blocksize=${lun.blocksize}`);
      await adm(...lu);
      if (lun.params) await adm('--mode', 'logicalunit', '--op', 'update', '--tid', tid, '--lun', '1', '--params', lun.params);
      await adm('--mode', 'target', '--op', 'bind', '--tid', tid, '--initiator-address', 'ALL');
      urls.push(`iscsi://127.0.0.1:${port}/${iqn}/1`);
    }
    return { url: urls[0]!, urls, pid: tgtd.pid!, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
