// The subcommands that talk to a running fileio_tgt over its control socket (src/host/control.ts):
// status, media, resize.
import { resolve as resolvePath } from 'node:path';
import { Command } from 'commander';
import { controlRequest, defaultControlPath } from '../host/control.ts';
import type { ResizeReport } from '../host/host.ts';
import { parseOrExitCode } from './parse.ts';

/** `fileio_tgt media ACTION NAME [ISO]`: asks a running fileio_tgt to change a drive's medium. */
export function buildMediaProgram(): Command {
  return new Command('fileio_tgt media')
    .description('Change the disc of a running cdrom drive (load an ISO, eject, swap), or show what any drive holds (status: a disc, or a tape\'s cartridge).')
    .argument('<action>', 'load | eject | swap | status')
    .argument('<name>', 'device name')
    .argument('[iso]', 'ISO image (load, swap; load without it closes the tray)')
    .option('--force', 'eject or swap even while an initiator prevents medium removal')
    .option('--control <path>', 'control socket of the running fileio_tgt')
    .option('--json', 'print the reply as JSON');
}

export async function runMedia(argv: string[]): Promise<number> {
  const program = buildMediaProgram().exitOverride();
  const exit = parseOrExitCode(program, argv);
  if (exit !== undefined) return exit;
  const [action, device, iso] = program.args as [string, string, string | undefined];
  const o = program.opts<{ force?: boolean; control?: string; json?: boolean }>();
  if (!['load', 'eject', 'swap', 'status'].includes(action)) {
    process.stderr.write(`fileio_tgt media: unknown action "${action}" (load, eject, swap, status)\n`);
    return 1;
  }
  let reply: Record<string, unknown>;
  try {
    reply = await controlRequest(o.control ?? defaultControlPath(), { cmd: 'media', action, device, file: iso === undefined ? undefined : resolvePath(iso), force: !!o.force });
  } catch (e) {
    process.stderr.write(`fileio_tgt media: ${(e as Error).message}\n`);
    return 1;
  }
  if (!reply.ok) {
    process.stderr.write(`fileio_tgt media: ${String(reply.error)}\n`);
    return 1;
  }
  if (o.json) process.stdout.write(`${JSON.stringify(reply)}\n`);
  else if (reply.tray === undefined) process.stdout.write(`${String(reply.device)}: ${holding(reply)}\n`);
  else process.stdout.write(`${String(reply.device)}: tray ${String(reply.tray)}, ${reply.ready ? `${String(reply.profile)} ${String(reply.file)} (${String(reply.blocks)} blocks)` : reply.file ? `disc ${String(reply.file)} not ready` : 'no disc'}${reply.prevented ? ', removal prevented' : ''}\n`);
  return 0;
}

/** What a drive without a tray holds (a tape drive's cartridge), from its describe(). */
function holding(reply: Record<string, unknown>): string {
  const cart = reply.cartridge as Record<string, unknown> | null | undefined;
  if (cart === undefined) return `${String(reply.type)}, ${Object.keys(reply).filter((k) => !['ok', 'device', 'type'].includes(k)).map((k) => `${k}=${JSON.stringify(reply[k])}`).join(' ')}`;
  if (cart === null) return `${String(reply.type)} drive, no cartridge`;
  const file = typeof reply.backing === 'string' ? ` (${reply.backing})` : '';
  return `${String(reply.type)} drive, cartridge ${String(cart.barcode)}${file}${reply.loaded ? ', loaded' : ', not loaded'}, ${String(cart.used)} of ${String(cart.capacity)} bytes used, density ${String(cart.density)}${cart.worm ? ', WORM' : ''}`;
}

/** `fileio_tgt status`: the running fileio_tgt's link and devices, one line each (--json: all of it). */
export function buildStatusProgram(): Command {
  return new Command('fileio_tgt status')
    .description('Show a running fileio_tgt: the link (sessions, commands) and one line per device; --json prints every counter (page cache included).')
    .option('--control <path>', 'control socket of the running fileio_tgt (default: see fileio_tgt --help)')
    .option('--json', 'print the whole status as one JSON object');
}

export async function runStatus(argv: string[]): Promise<number> {
  const program = buildStatusProgram().exitOverride();
  const exit = parseOrExitCode(program, argv);
  if (exit !== undefined) return exit;
  const o = program.opts<{ control?: string; json?: boolean }>();
  let reply: Record<string, unknown>;
  try {
    reply = await controlRequest(o.control ?? defaultControlPath(), { cmd: 'status' });
  } catch (e) {
    process.stderr.write(`fileio_tgt status: ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(o.json ? `${JSON.stringify(reply)}\n` : statusText(reply));
  return 0;
}

/** The human form of a status reply: the link's totals, then each device's scalar fields. */
export function statusText(reply: Record<string, unknown>): string {
  const link = (reply.link ?? {}) as Record<string, unknown>;
  const counters = (link.counters ?? {}) as Record<string, unknown>;
  const where = typeof link.listening === 'string' ? ` on ${link.listening}` : '';
  const lines = [`link${where}: ${String(link.sessions ?? 0)} session(s), ${String(counters.commands ?? 0)} commands`];
  for (const d of (reply.devices ?? []) as Array<Record<string, unknown>>) {
    const fields = Object.entries(d).filter(([k, v]) => k !== 'name' && k !== 'type' && v !== null && typeof v !== 'object');
    lines.push(`${String(d.name)}: ${String(d.type)}${fields.map(([k, v]) => ` ${k}=${String(v)}`).join('')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `fileio_tgt resize [--shrink] [NAME...]`: SIGUSR2 through the control socket, and the only way to accept a shrunk image. */
export function buildResizeProgram(): Command {
  return new Command('fileio_tgt resize')
    .description('Make the devices of a running fileio_tgt re-read the size of their images (as SIGUSR2 does); initiators get CAPACITY DATA HAS CHANGED.')
    .argument('[name...]', 'devices to resize (default: all)')
    .option('--shrink', 'accept an image that became smaller: initiators lose what lay past its new end')
    .option('--control <path>', 'control socket of the running fileio_tgt (default: see fileio_tgt --help)');
}

export async function runResize(argv: string[]): Promise<number> {
  const program = buildResizeProgram().exitOverride();
  const exit = parseOrExitCode(program, argv);
  if (exit !== undefined) return exit;
  const o = program.opts<{ control?: string; shrink?: boolean }>();
  const names = program.args;
  try {
    const reply = await controlRequest(o.control ?? defaultControlPath(), { cmd: 'resize', devices: names.length ? names : undefined, shrink: !!o.shrink });
    if (!reply.ok) throw new Error(String(reply.error));
    const { resized, failed } = reply as unknown as ResizeReport;
    process.stdout.write(resized.length ? `resized: ${resized.join(', ')}\n` : 'no capacity changed\n');
    for (const f of failed) process.stderr.write(`fileio_tgt resize: ${f.device}: ${f.error}\n`);
    return failed.length ? 1 : 0;
  } catch (e) {
    process.stderr.write(`fileio_tgt resize: ${(e as Error).message}\n`);
    return 1;
  }
}
