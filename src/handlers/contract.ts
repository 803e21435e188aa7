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
