// What a handler module exports, and what it is given. handlers.json maps a type name to a
// module that default-exports a HandlerModule; the host loads built-ins and user prototypes alike.
import type { LogicalUnit } from '../scsi/command.ts';

/** One device as configured by the CLI or a --config file, already validated. */
export interface DeviceConfig {
  /** Device name (NAME on the command line); also the default product id and target suffix. */
  name: string;
  /** Handler type name from handlers.json. */
  type: string;
  /** Backing file; absent for nullio devices. */
  file?: string;
  /** Logical block size in bytes (power of two, >= 512). */
  blockSize: number;
  /** Size in bytes for devices without a backing file (nullio). */
  sizeBytes?: number;
  /** -r: open read-only; writes fail with DATA PROTECT. */
  readOnly: boolean;
  /** -t: O_DSYNC backing file, write cache reported disabled (WCE=0). */
  writeThrough: boolean;
  /** -o: O_DIRECT backing file. */
  direct: boolean;
  /** -n: no backing I/O; reads return zeros, writes are discarded. */
  nullio: boolean;
  /** -c: the backing store is non-volatile; flushes are no-ops. */
  nvCache: boolean;
  /**
   * --cache-size: bytes of in-process page cache in front of the backing file (0: none).
   * Absent: the default for the device's mode (see defaultCacheSize in handlers/disk/create.ts).
   */
  cacheSize?: number;
  /** Removable medium (RMB=1, START STOP UNIT may eject). */
  removable: boolean;
  /** Thin-provisioned LUN (UNMAP, LBPME). */
  thin: boolean;
  /** Unit serial number (VPD 80h); derived from the name when absent. */
  serial?: string;
  vendor?: string;
  product?: string;
  revision?: string;
  /** Handler-specific options from the config file, passed through untouched. */
  options?: Record<string, unknown>;
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** Services the host offers a handler. */
export interface HandlerHost {
  log(level: LogLevel, message: string): void;
  /** A unit created earlier in this process, by device name (a changer finds its drives here). */
  unit?(name: string): LogicalUnit | undefined;
}

export interface HandlerModule {
  /** Short description for `fileio_tgt --list-types`. */
  readonly description: string;
  /** Opens the backing store and returns the ready logical unit; rejects with a clear Error. */
  create(config: DeviceConfig, host: HandlerHost): Promise<LogicalUnit>;
}

/** What create() must return: the members of LogicalUnit a link calls, and their kinds. */
const LOGICAL_UNIT_MEMBERS: ReadonlyArray<readonly [string, 'string' | 'number' | 'function']> = [
  ['name', 'string'],
  ['type', 'string'],
  ['peripheralType', 'number'],
  ['execute', 'function'],
  ['taskManagement', 'function'],
  ['nexusLost', 'function'],
  ['describe', 'function'],
  ['flush', 'function'],
  ['close', 'function'],
];

/**
 * Why `value` is not a LogicalUnit, naming the first missing or mistyped member (undefined when
 * it is one). The host checks what create() returns with it before anything listens.
 */
export function logicalUnitProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return `returned ${value === null ? 'null' : typeof value}, not a LogicalUnit object`;
  for (const [key, kind] of LOGICAL_UNIT_MEMBERS) {
    const actual = typeof (value as Record<string, unknown>)[key];
    if (actual === 'undefined') return `returned an object without ${kind === 'function' ? `${key}()` : key} (a LogicalUnit has ${LOGICAL_UNIT_MEMBERS.map(([k, t]) => (t === 'function' ? `${k}()` : k)).join(', ')}; extending ScsiLogicalUnit gives them all)`;
    if (actual !== kind) return `returned an object whose ${key} is a ${actual}, not a ${kind}`;
  }
  return undefined;
}
