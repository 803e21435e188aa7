// Starts the real CLI (bin/fileio_tgt.js) as a child process on 127.0.0.1 with a free port, and
// runs peer tools against it with bounded time. Integration tests use nothing else.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import type { ServedLun } from '../../src/host/host.ts';

export const CLI = fileURLToPath(new URL('../../../bin/fileio_tgt.js', import.meta.url));

export type Served = ServedLun;

export interface RunningTarget {
  proc: ChildProcess;
  served: Served[];
  /** stderr so far (logs). */
  stderr(): string;
  /** Sends a signal and waits for exit; resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

/**
 * Starts the CLI and waits until it reports `devices` served LUNs (JSON status lines).
 * `nodeFlags`: run it as `node FLAGS CLI` (e.g. --heapsnapshot-signal), with `cwd`; `env`: added
 * to this process's environment.
 */
export async function startTarget(args: string[], devices = 1, timeoutMs = 20_000, nodeFlags?: { flags: string[]; cwd: string }, env?: NodeJS.ProcessEnv): Promise<RunningTarget> {
  // the executable itself, as a user runs it (its #! line carries the V8 flags)
  const cliArgs = ['--json', '--portal', '127.0.0.1:0', ...args];
  const childEnv = env && { ...process.env, ...env };
  const proc = nodeFlags
    ? spawn(process.execPath, ['--max-semi-space-size=2', ...nodeFlags.flags, CLI, ...cliArgs], { stdio: ['ignore', 'pipe', 'pipe'], cwd: nodeFlags.cwd, env: childEnv })
    : spawn(CLI, cliArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const served: Served[] = [];
  let buf = '';
  const exited = once(proc, 'exit');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`target did not start within ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const ev = JSON.parse(line) as Served & { event: string };
        if (ev.event === 'serving') served.push(ev);
        if (served.length === devices) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`target exited with ${code} before serving; stderr: ${err}`));
    });
  });
  return {
    proc,
    served,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? proc.signalCode!;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
      const [code, sig] = (await exited) as [number | null, NodeJS.Signals | null];
      clearTimeout(timer);
      return code ?? sig!;
    },
  };
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with a time limit; never throws for a non-zero exit. */
export function run(cmd: string, args: string[], timeoutMs = 60_000, env?: NodeJS.ProcessEnv): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'utf8', env: env && { ...process.env, ...env } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 128) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI to completion (for start-up error cases). */
export function runCli(args: string[], timeoutMs = 20_000, env?: NodeJS.ProcessEnv): Promise<ToolResult> {
  return run(CLI, args, timeoutMs, env);
}
