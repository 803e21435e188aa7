// fileio_tgt [options] NAME FILE [NAME FILE ...] — compatible with SCST's fileio_tgt where the
// options overlap (-b -r -t -o -n -c), plus the link, portal and config options of our own.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseOrExitCode } from './parse.ts';
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
  libraryEntry,
  parseConfigFile,
  parsePortal,
  parseSize,
  type FileConfig,
  type LinkName,
  type ServeConfig,
} from '../host/config.ts';
import { ConfigError, StartupError } from '../host/errors.ts';
import { tuneHeapForServing } from '../host/heap-tuning.ts';
import type { ServedLun, Serving } from '../host/host.ts';
import { startServing } from '../host/threads/host-group.ts';
import { createLogger, statusLine } from '../host/log.ts';
import { HandlerRegistry } from '../host/registry.ts';
import type { DeviceConfig } from '../handlers/contract.ts';
import { defaultControlPath } from '../host/control.ts';
import { describeAccess } from '../host/acl.ts';
import { runMedia, runResize, runStatus } from './control-commands.ts';
import { whenLauncherGone } from './launcher.ts';
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
  allowAnyInitiator?: boolean;
  listAcls?: boolean;
  drives?: number;
  generation?: number;
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
    .option('--drives <n>', 'with --type changer NAME FOLDER: tape drives of the library (default 1); slots, mail slots and more are "libraries" fields of --config (README: CD/DVD drives, tapes and libraries)', (v: string) => intOption(v, 1, 64))
    .option('--generation <n>', 'with --type tape or changer: LTO generation of the drives and of empty cartridge files formatted on first load (default 9)', (v: string) => intOption(v, 1, 9))
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
    .option('--allow-any-initiator', 'serve targets without "acls" or CHAP to any initiator even when --portal is not a loopback address')
    .option('--list-acls', 'print which initiator sees which LUNs of every target (ACL entry, CHAP user, read-only mappings) and exit')
    .option('--handlers <file>', 'a handlers.json of your own: its device types are added to the built-in ones (see README, Adding a handler type)')
    .option('--json', 'machine-readable JSON status and log lines')
    .option('-v, --verbose', 'debug logging')
    .option('--list-types', 'list the handler types and exit')
    .version(process.env.npm_package_version ?? '0.1.0', '-V, --version')
    .showHelpAfterError('(run fileio_tgt --help for usage)')
    .addHelpText('after', helpAfter);
}

function intOption(v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`a whole number from ${min} to ${max}`);
  return n;
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
  const iqnPrefix = opts.iqnPrefix !== undefined ? checkIqn(opts.iqnPrefix, 'command line', '--iqn-prefix') : (file.iqnPrefix ?? DEFAULT_IQN_PREFIX);
  const targets = [...file.targets];
  for (let i = 0; i < args.length; i += 2) {
    const name = checkDeviceName(args[i], 'command line', `device ${i / 2 + 1} NAME`);
    // a changer from the command line is a whole library, the same as a "libraries" entry
    const added = opts.type === 'changer' ? libraryEntry({ name, cartridges: args[i + 1], drives: opts.drives ?? 1, ...(opts.generation ? { generation: opts.generation } : {}) }, 'command line', `device ${name}`, iqnPrefix, types) : undefined;
    for (const dev of added?.devices ?? [cliDevice(name, args[i + 1], opts)]) {
      if (devices.some((d) => d.name === dev.name)) throw new ConfigError('command line', `device ${dev.name}`, 'device name is used twice');
      devices.push(dev);
    }
    if (added) targets.push(added.target);
  }
  const where = opts.config ?? 'command line';
  return {
    portal: opts.portal !== undefined ? parsePortal(opts.portal, 'command line', '--portal') : (file.portal ?? parsePortal(DEFAULT_PORTAL, where, 'portal')),
    iqnPrefix,
    link: opts.link ?? file.link ?? 'auto',
    devices,
    targets: completeTargets(devices, targets, iqnPrefix, where),
    ...(file.discoveryChap ? { discoveryChap: file.discoveryChap } : {}),
    ...(opts.allowAnyInitiator ? { allowAnyInitiator: true } : {}),
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
  if (opts.generation !== undefined) dev.options = { ...dev.options, generation: opts.generation };
  if (opts.type !== 'nullio' && !opts.nullio) return dev;
  // nullio: FILE gives the size (the handler reads it), or FILE is a size: "null1 1T".
  const size = parseSize(backing);
  if (size !== undefined) {
    delete dev.file;
    dev.sizeBytes = size;
  } else if (backing === '-' || (/^\d/.test(backing) && !existsSync(backing))) {
    throw new ConfigError('command line', `device ${name}`, `"${backing}" is neither a size (bytes, or 64M, 10G, 1T) nor an existing file`);
  }
  return dev;
}

/** The subcommands: the first word of the command line, its usage and what it does (for --help). */
const COMMANDS: ReadonlyArray<{ name: string; usage: string; about: string; run: (argv: string[]) => Promise<number> }> = [
  { name: 'disk', usage: 'disk create --size 10G FILE', about: 'make a disk image (sparse unless --preallocate)', run: async (a) => (await import('./disk.ts')).diskMain(a) },
  { name: 'status', usage: 'status [--json]', about: 'what a running fileio_tgt serves: sessions, devices, counters', run: runStatus },
  { name: 'media', usage: 'media load|eject|swap|status NAME [FILE]', about: 'change the disc of a running cdrom drive; status shows any drive', run: runMedia },
  { name: 'resize', usage: 'resize [--shrink] [NAME...]', about: 'devices re-read the size of their images (as SIGUSR2 does)', run: runResize },
  { name: 'tape', usage: 'tape create|info ... FILE', about: 'make or inspect a tape cartridge file', run: async (a) => (await import('../media/cli.ts')).tapeMain(a) },
  { name: 'help', usage: 'help [COMMAND]', about: 'this help, or a command\'s', run: help },
];

/** Shown after the options of fileio_tgt --help: the subcommands and the first steps. */
function helpAfter(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  return [
    '',
    'Commands (fileio_tgt COMMAND --help for their options):',
    ...COMMANDS.map((c) => `  fileio_tgt ${c.usage.padEnd(width)}  ${c.about}`),
    '',
    'Examples:',
    '  fileio_tgt disk create --size 10G disk.img     (or: truncate -s 10G disk.img)',
    '  fileio_tgt disk1 disk.img                      serve it on 127.0.0.1:3260; Ctrl-C stops',
    '  fileio_tgt --type cdrom dvd1 debian.iso        a DVD drive; --type nullio null1 1T: a disk with no storage',
    '  fileio_tgt --list-types                        the device types (--handlers FILE adds your own)',
    '',
    'Device options (-b -r -t -o -n -c --cache-size --removable --thin --type) apply to the NAME FILE',
    'devices of the command line; a --config file\'s devices set the same fields themselves.',
    '',
    'Tapes and libraries:',
    '  fileio_tgt --type tape tape0 /vtl/A00001L6.tape   one drive with that cartridge (an empty file is formatted as a blank cartridge)',
    '  fileio_tgt --type changer lib1 /vtl --drives 2    a library: changer at LUN 0, drives at LUN 1.., a slot per cartridge plus free ones, 1 mail slot',
    'All library options (slots, mailSlots, drive names, generation, state file) are fields of a "libraries"',
    'entry in --config: README.md "CD/DVD drives, tapes and libraries" and src/handlers/changer/README.md.',
  ].join('\n');
}

/** `fileio_tgt help [COMMAND]`. */
async function help(argv: string[]): Promise<number> {
  const name = argv[0];
  if (name === undefined) {
    buildProgram().outputHelp();
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name && c.name !== 'help');
  if (!cmd) {
    process.stderr.write(`fileio_tgt help: no command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})\n`);
    return 1;
  }
  return cmd.run([...argv.slice(1), '--help']);
}

export async function main(argv: string[]): Promise<number> {
  const cmd = COMMANDS.find((c) => c.name === argv[0]);
  if (cmd) return cmd.run(argv.slice(1));
  const program = buildProgram().exitOverride();
  const exit = parseOrExitCode(program, argv);
  if (exit !== undefined) return exit;
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
    if (opts.listAcls) {
      for (const line of describeAccess(cfg.targets, cfg.discoveryChap, cfg.portal.host)) process.stdout.write(`${line}\n`);
      return 0;
    }
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
  // SIGHUP: the --config file again, for its ACLs and CHAP (devices and targets stay)
  const reload = opts.config ? () => HandlerRegistry.open(opts.handlers).then((r) => buildServeConfig(program.args, opts, r.types())) : undefined;
  const served = serveUntilSignal(host, log, !!opts.json, reload);
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
  const size = typeof s.details.sizeBytes === 'number' ? `, ${s.details.sizeBytes} bytes` : typeof s.details.summary === 'string' ? `, ${s.details.summary}` : '';
  const via =
    s.via === 'tcmu'
      ? ` (LIO tcmu ${String(s.link?.uio ?? '')}${s.link?.export === 'local' ? ', tcm_loop' : ', LIO iSCSI'})`
      : s.via === 'scst_user'
        ? ` (SCST user device ${s.device}; add it to a target: scstadmin -add_lun N -driver DRV -target TGT -device ${s.device})`
        : '';
  // a nullio device given a FILE takes only its size from it: say so, lest it look served
  const file = !s.file ? '' : s.file === '-' ? ', no file' : s.details.backing === 'nullio' && s.file !== 'nullio' ? `, nullio (the size of ${s.file})` : `, ${s.file}`;
  statusLine(json, { event: 'serving', ...s }, `${s.device}: ${s.type}${size}${file} -> ${s.url}${via}${s.acl ? ` (for ${s.acl})` : ''}`);
}

function serveUntilSignal(host: Serving, log: ReturnType<typeof createLogger>, json: boolean, reload?: () => Promise<ServeConfig>): Promise<number> {
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
    whenLauncherGone((pid) => {
      log('warn', `npm (pid ${pid}), which started this process, has exited: stopping (a service runs bin/fileio_tgt.js directly)`);
      stop('SIGTERM');
    });
    process.on('SIGUSR1', () => {
      void host.status().then((st) => statusLine(json, { event: 'stats', ...st }, JSON.stringify(st)));
    });
    process.on('SIGHUP', () => {
      if (!reload) return log('warn', 'SIGHUP: there is no --config file to reload');
      reload()
        .then((cfg) => host.reloadAccess(cfg))
        .then(
          (closed) => statusLine(json, { event: 'reloaded', closed }, `reloaded ACLs and CHAP: ${closed.length ? closed.join('; ') : 'no session closed'}`),
          (e: Error) => log('error', `SIGHUP: ${e.message}; the access control in force stays`),
        );
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
