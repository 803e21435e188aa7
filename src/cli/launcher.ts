// Started by npm (npx fileio_tgt, npm start): npm exec runs us under `sh -c` and does not pass
// SIGTERM on, so a supervisor that stops npm leaves this process serving, orphaned, on its port.
// We find the npm process among our ancestors (/proc) and stop as on SIGTERM once it is gone.
// A service manager should run bin/fileio_tgt.js directly (README: "Running as a service");
// this is the fallback.
import { readFileSync } from 'node:fs';

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  /** Start time in clock ticks since boot (field 22): tells a reused pid from the original. */
  readonly start: string;
}

function procOf(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // "pid (comm) state ppid ..." — comm may hold spaces and parentheses: split after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(rest[1]), start: rest[19]! };
  } catch {
    return undefined;
  }
}

function isNpm(pid: number): boolean {
  try {
    // npm sets its process title to "npm exec ...", "npm start", ...
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    return /^npm( |$)/.test(argv[0]!) || /(^|\/)npm(-cli\.js)?$/.test(argv[1] ?? '');
  } catch {
    return false;
  }
}

/** The nearest ancestor that is npm, when npm started us ($npm_command is set), else undefined. */
export function npmAncestor(env: NodeJS.ProcessEnv = process.env): Proc | undefined {
  if (!env.npm_command) return undefined;
  let pid = process.ppid;
  for (let depth = 0; depth < 8 && pid > 1; depth++) {
    const p = procOf(pid);
    if (!p) return undefined;
    if (isNpm(pid)) return p;
    pid = p.ppid;
  }
  return undefined;
}

/**
 * Calls `gone` once when the npm process that started us exits; returns the function that stops
 * watching. Does nothing when npm did not start us. Polls once a second without holding the loop.
 */
export function whenLauncherGone(gone: (pid: number) => void, env: NodeJS.ProcessEnv = process.env, intervalMs = 1000): () => void {
  const npm = npmAncestor(env);
  if (!npm) return () => undefined;
  const timer = setInterval(() => {
    if (procOf(npm.pid)?.start === npm.start) return;
    clearInterval(timer);
    gone(npm.pid);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
