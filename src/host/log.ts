// Logs go to stderr; status lines (what is served where) go to stdout, as text or JSON lines.
import type { LogLevel } from '../handlers/contract.ts';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  (level: LogLevel, message: string): void;
}

export function createLogger(opts: { verbose: boolean; json: boolean; stream?: NodeJS.WritableStream }): Logger {
  const max = opts.verbose ? RANK.debug : RANK.info;
  const out = opts.stream ?? process.stderr;
  return (level, message) => {
    if (RANK[level] > max) return;
    if (opts.json) out.write(`${JSON.stringify({ time: new Date().toISOString(), level, message })}\n`);
    else out.write(`fileio_tgt: ${level === 'info' ? '' : `${level}: `}${message}\n`);
  };
}

/** One machine- or human-readable status line on stdout. */
export function statusLine(json: boolean, event: Record<string, unknown> & { event: string }, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(event)}\n` : `${text}\n`);
}
