// fileio_tgt [options] NAME FILE [NAME FILE ...] — compatible with SCST's fileio_tgt where the
// options overlap (-b -r -t -o -n -c), plus the link, portal and config options of our own.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  DEFAULT_IQN_PREFIX,
  DEFAULT_PORTAL,
  LINKS,
  checkBlockSize,
  checkCacheSize,
  checkDeviceName,
  checkIqn,
  completeTargets,
  deviceDefaults,
  parseConfigFile,
  parsePortal,
  parseSize,
  type FileConfig,
  type LinkName,
  type ServeConfig,
} from '../host/config.ts';
import { ConfigError, StartupError } from '../host/errors.ts';
import { tuneHeapForServing } from '../host/heap-tuning.ts';
import type { ResizeReport, ServedLun, Serving } from '../host/host.ts';
import { startServing } from '../host/threads/host-group.ts';
import { createLogger, statusLine } from '../host/log.ts';
import { HandlerRegistry } from '../host/registry.ts';
import type { DeviceConfig } from '../handlers/contract.ts';
import { controlRequest, defaultControlPath } from '../host/control.ts';
import { errnoText } from '../backing/errno.ts';

export interface CliOptions {
  block?: number;
  read_only?: boolean;
  write_through?: boolean;
  direct?: boolean;
  nullio?: boolean;
  nv_cache?: boolean;
  cacheSize?: number;
  removable?: boolean;
  thin?: boolean;
  type: string;
  portal?: string;
  iqnPrefix?: string;
  config?: string;
  link?: LinkName;
  handlers?: string;
  json?: boolean;
  verbose?: boolean;
  listTypes?: boolean;
  export?: 'local' | 'iscsi';
  control?: string | false;
  scstVersion?: string;
  threads?: number | 'auto';
}

export function buildProgram(): Command {
  return new Command('fileio_tgt')
    .description('Serve disk images and other SCSI devices to initiators (embedded iSCSI target by default).')
    .usage('[options] NAME FILE [NAME FILE ...]')
    .argument('[NAME FILE...]', 'device name and backing file, repeated for more devices')
    .option('-b, --block <size>', 'logical block size in bytes (default 512)', (v: string) => {
      const n = Number(v);
      try {
        return checkBlockSize(n, 'command line', '--block');
      } catch (e) {
        throw new InvalidArgumentError((e as Error).message.replace(/^command line: --block: /, ''));
      }
    })
    .option('-r, --read_only', 'serve read-only: writes fail with DATA PROTECT')
    .option('-t, --write_through', 'write-through: every write is durable before it is acknowledged (O_DSYNC, WCE=0)')
    .option('-o, --direct', 'open the backing file with O_DIRECT')
    .option('-n, --nullio', 'no backing I/O: reads return zeros, writes are discarded; the size is FILE\'s, or FILE is a size such as 10G')
    .option('-c, --nv_cache', 'the backing store is non-volatile: skip flushes')
    .option('--cache-size <size>', 'in-process page cache per device: bytes or 64M, 1G; 0 = none (default: 256M with -o, else none)', (v: string) => {
      try {
        return checkCacheSize(v, 'command line', '--cache-size');
      } catch (e) {
        throw new InvalidArgumentError((e as Error).message.replace(/^command line: --cache-size: /, ''));
      }
    })
    .option('--removable', 'report a removable medium (START STOP UNIT may eject)')
    .option('--thin', 'thin-provisioned LUN')
    .option('--type <handler>', 'handler type from handlers.json', 'disk')
    .option('--portal <HOST:PORT>', `where the iSCSI target listens (default ${DEFAULT_PORTAL}; 0.0.0.0 exports to the network)`)
    .option('--iqn-prefix <iqn>', `target names are PREFIX:NAME (default ${DEFAULT_IQN_PREFIX})`)
    .option('--config <file>', 'JSON file describing devices and targets')
    .addOption(new Option('--link <link>', 'how commands reach the devices (default auto: scst_user when /dev/scst_user can be opened, else tcmu when target_core_user is loaded and we are root, else iscsi)').choices(LINKS))
    .addOption(new Option('--export <how>', 'with --link tcmu: local = a /dev/sdX through tcm_loop (default), iscsi = LIO\'s iSCSI target on --portal').choices(['local', 'iscsi']))
    .option('--scst-version <string>', 'with --link scst_user: the DEV_USER_VERSION string to register with (default: from the installed SCST headers or the running SCST)')
    .option('--control <path>', 'control socket for fileio_tgt status and media changes, opened for every device type (default $FILEIO_TGT_CONTROL, /run/fileio_tgt.sock as root, else $XDG_RUNTIME_DIR/fileio_tgt.sock or /tmp/fileio_tgt-UID.sock)')
    .option('--no-control', 'open no control socket (fileio_tgt status and media cannot reach this process)')
    .option('--threads <n>', 'threads for the embedded iSCSI target: targets are spread over them, each target\'s devices in one (default auto: one per core)', (v: string) => {
      if (v === 'auto') return 'auto';
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('a number from 1 to 64, or auto');
      return n;
    })
    .option('--handlers <file>', 'a handlers.json of your own: its device types are added to the built-in ones (see README, Adding a handler type)')
    .option('--json', 'machine-readable JSON status and log lines')
    .option('-v, --verbose', 'debug logging')
    .option('--list-types', 'list the handler types and exit')
    .version(process.env.npm_package_version ?? '0.1.0', '-V, --version')
    .showHelpAfterError('(run fileio_tgt --help for usage)');
}

/** Command-line options that describe devices: [option key, flag, the config file's field]. */
const DEVICE_OPTIONS: ReadonlyArray<readonly [keyof CliOptions, string, string]> = [
  ['block', '--block', 'blockSize'],
  ['read_only', '--read_only', 'readOnly'],
  ['write_through', '--write_through', 'writeThrough'],
  ['direct', '--direct', 'direct'],
  ['nullio', '--nullio', 'nullio'],
  ['nv_cache', '--nv_cache', 'nvCache'],
  ['cacheSize', '--cache-size', 'cacheSize'],
  ['removable', '--removable', 'removable'],
  ['thin', '--thin', 'thin'],
  ['type', '--type', 'type'],
];

/** Turns parsed options and positional pairs into a validated ServeConfig. */
export async function buildServeConfig(args: string[], opts: CliOptions, types: readonly string[]): Promise<ServeConfig> {
  let file: FileConfig = { devices: [], targets: [] };
  if (opts.config) {
    let text: string;
    try {
      text = await readFile(opts.config, 'utf8');
    } catch (e) {
      throw new ConfigError(opts.config, '', `cannot read: ${errnoText(e)}`);
    }
    file = parseConfigFile(text, opts.config, types);
  }
  if (args.length % 2 !== 0) {
    throw new ConfigError('command line', '', `devices are given as NAME FILE pairs; "${args[args.length - 1]}" has no FILE`);
  }
  if (args.length === 0 && file.devices.length === 0) {
    throw new ConfigError('command line', '', 'no devices: give NAME FILE pairs or --config FILE');
  }
  if (opts.config && args.length === 0) {
    // device options shape the NAME FILE devices of the command line; the config file's devices
    // carry their own fields, so an option with nothing to apply to is a mistake, not a default
    const given = DEVICE_OPTIONS.filter(([key]) => (key === 'type' ? opts.type !== 'disk' : opts[key] !== undefined && opts[key] !== false));
    if (given.length) {
      const [, flag, field] = given[0]!;
      throw new ConfigError('command line', flag, `applies to NAME FILE devices on the command line, not to those of ${opts.config}: set "${field}" on its devices instead`);
    }
  }
  if (!types.includes(opts.type)) {
    throw new ConfigError('command line', '--type', `unknown handler type "${opts.type}" (known: ${types.join(', ')})`);
  }
  const devices = [...file.devices];
  for (let i = 0; i < args.length; i += 2) {
    const name = checkDeviceName(args[i], 'command line', `device ${i / 2 + 1} NAME`);
    if (devices.some((d) => d.name === name)) throw new ConfigError('command line', `device ${name}`, 'device name is used twice');
    devices.push(cliDevice(name, args[i + 1], opts));
  }
  const where = opts.config ?? 'command line';
  const iqnPrefix = opts.iqnPrefix !== undefined ? checkIqn(opts.iqnPrefix, 'command line', '--iqn-prefix') : (file.iqnPrefix ?? DEFAULT_IQN_PREFIX);
  return {
    portal: opts.portal !== undefined ? parsePortal(opts.portal, 'command line', '--portal') : (file.portal ?? parsePortal(DEFAULT_PORTAL, where, 'portal')),
    iqnPrefix,
    link: opts.link ?? file.link ?? 'auto',
    devices,
    targets: completeTargets(devices, file.targets, iqnPrefix, where),
  };
}

function cliDevice(name: string, backing: string, opts: CliOptions): DeviceConfig {
  const dev: DeviceConfig = {
    ...deviceDefaults(name, opts.type),
    blockSize: opts.block ?? 512,
    readOnly: !!opts.read_only,
    writeThrough: !!opts.write_through,
    direct: !!opts.direct,
    nullio: !!opts.nullio,
    nvCache: !!opts.nv_cache,
    removable: !!opts.removable,
    thin: !!opts.thin,
    file: backing,
  };
  if (opts.cacheSize !== undefined) dev.cacheSize = opts.cacheSize;
  if (opts.type !== 'nullio' && !opts.nullio) return dev;
  // nullio: FILE gives the size (the handler reads it), or FILE is a size: "null1 1T".
  const size = parseSize(backing);
  if (size !== undefined) {
    delete dev.file;
    dev.sizeBytes = size;
  } else if (/^\d/.test(backing) && !existsSync(backing)) {
    throw new ConfigError('command line', `device ${name}`, `"${backing}" is neither a size (bytes, or 64M, 10G, 1T) nor an existing file`);
  }
  return dev;
}

/** `fileio_tgt media ACTION NAME [ISO]`: asks a running fileio_tgt to change a drive's medium. */
export function buildMediaProgram(): Command {
  return new Command('fileio_tgt media')
    .description('Change the medium of a running removable-media device (cdrom): load an ISO, eject, swap, or show the status.')
    .argument('<action>', 'load | eject | swap | status')
    .argument('<name>', 'device name')
    .argument('[iso]', 'ISO image (load, swap; load without it closes the tray)')
    .option('--force', 'eject or swap even while an initiator prevents medium removal')
    .option('--control <path>', 'control socket of the running fileio_tgt')
    .option('--json', 'print the reply as JSON');
}

async function runMedia(argv: string[]): Promise<number> {
  const program = buildMediaProgram().exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    throw e;
  }
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
  else process.stdout.write(`${String(reply.device)}: tray ${String(reply.tray)}, ${reply.ready ? `${String(reply.profile)} ${String(reply.file)} (${String(reply.blocks)} blocks)` : reply.file ? `disc ${String(reply.file)} not ready` : 'no disc'}${reply.prevented ? ', removal prevented' : ''}\n`);
  return 0;
}

/** `fileio_tgt status`: the running fileio_tgt's link and devices, one line each (--json: all of it). */
export function buildStatusProgram(): Command {
  return new Command('fileio_tgt status')
    .description('Show a running fileio_tgt: the link (sessions, commands) and one line per device; --json prints every counter (page cache included).')
    .option('--control <path>', 'control socket of the running fileio_tgt (default: see fileio_tgt --help)')
    .option('--json', 'print the whole status as one JSON object');
}

async function runStatus(argv: string[]): Promise<number> {
  const program = buildStatusProgram().exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    throw e;
  }
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

async function runResize(argv: string[]): Promise<number> {
  const program = buildResizeProgram().exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    throw e;
  }
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

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'media') return runMedia(argv.slice(1));
  if (argv[0] === 'status') return runStatus(argv.slice(1));
  if (argv[0] === 'resize') return runResize(argv.slice(1));
  if (argv[0] === 'tape') return (await import('../media/cli.ts')).tapeMain(argv.slice(1));
  const program = buildProgram().exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    throw e;
  }
  const opts = program.opts<CliOptions>();
  const log = createLogger({ verbose: !!opts.verbose, json: !!opts.json });
  let host: Serving;
  try {
    const registry = await HandlerRegistry.open(opts.handlers);
    if (opts.listTypes) {
      for (const e of registry.entries.values()) statusLine(!!opts.json, { event: 'type', ...e }, `${e.type}\t${e.description}`);
      return 0;
    }
    if (program.args.length === 0 && !opts.config) {
      program.outputHelp({ error: true });
      return 1;
    }
    const cfg = await buildServeConfig(program.args, opts, registry.types());
    tuneHeapForServing();
    host = await startServing(cfg, registry, log, {
      export: opts.export,
      control: opts.control,
      scstVersion: opts.scstVersion,
      onServed: (s) => printServed(s, !!opts.json),
      threads: opts.threads ?? 'auto',
      handlers: opts.handlers,
      verbose: !!opts.verbose,
    });
  } catch (e) {
    return fail(e, !!opts.json);
  }
  // signals are handled before anything says "serving": whoever reads that line may signal at once
  const served = serveUntilSignal(host, log, !!opts.json);
  for (const s of host.served) printServed(s, !!opts.json);
  if (host.control) {
    const path = host.control.path;
    const flag = path === defaultControlPath() ? '' : ` --control ${path}`;
    statusLine(!!opts.json, { event: 'control', path }, `control socket: ${path} (fileio_tgt status${flag}; fileio_tgt media load|eject|swap|status NAME [FILE]${flag})`);
  }
  return served;
}

/** The status line of one served LUN (at start, and for LUNs added while running). */
function printServed(s: ServedLun, json: boolean): void {
  const size = typeof s.details.sizeBytes === 'number' ? `, ${s.details.sizeBytes} bytes` : '';
  const via =
    s.via === 'tcmu'
      ? ` (LIO tcmu ${String(s.link?.uio ?? '')}${s.link?.export === 'local' ? ', tcm_loop' : ', LIO iSCSI'})`
      : s.via === 'scst_user'
        ? ` (SCST user device ${s.device}; add it to a target: scstadmin -add_lun N -driver DRV -target TGT -device ${s.device})`
        : '';
  // a nullio device given a FILE takes only its size from it: say so, lest it look served
  const file = !s.file ? '' : s.details.backing === 'nullio' && s.file !== 'nullio' ? `, nullio (the size of ${s.file})` : `, ${s.file}`;
  statusLine(json, { event: 'serving', ...s }, `${s.device}: ${s.type}${size}${file} -> ${s.url}${via}`);
}

function serveUntilSignal(host: Serving, log: ReturnType<typeof createLogger>, json: boolean): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log('warn', `${signal} again: exiting without waiting`);
        resolve(1);
        return;
      }
      stopping = true;
      log('info', `${signal}: finishing in-flight commands, flushing and closing`);
      host.close().then(
        () => {
          statusLine(json, { event: 'stopped' }, 'stopped');
          resolve(0);
        },
        (e: Error) => {
          log('error', e.message);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.on('SIGUSR1', () => {
      void host.status().then((st) => statusLine(json, { event: 'stats', ...st }, JSON.stringify(st)));
    });
    process.on('SIGUSR2', () => {
      void host.resize().then((changed) => statusLine(json, { event: 'resized', devices: changed }, `resized: ${changed.join(', ') || 'no capacity changed'}`));
    });
  });
}

function fail(e: unknown, json: boolean): number {
  const known = e instanceof ConfigError || e instanceof StartupError;
  const message = known ? (e as Error).message : `internal error: ${(e as Error)?.stack ?? String(e)}`;
  if (json) process.stderr.write(`${JSON.stringify({ event: 'error', message })}\n`);
  else process.stderr.write(`fileio_tgt: ${message}\n`);
  return 1;
}
