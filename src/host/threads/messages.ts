// What the listening thread and a target thread say to each other (worker_threads messages).
import type { ServeConfig } from '../config.ts';
import type { ControlRequest } from '../control.ts';
import type { ServedLun } from '../host.ts';
import type { LogLevel } from '../../handlers/contract.ts';

/** What the listening thread asks a target thread besides control requests. */
/** A control request (status, media, resize), or new access rules (SIGHUP). */
export type ThreadRequest = ControlRequest | { cmd: 'access'; cfg: ServeConfig };

/** workerData of a target thread. */
export interface ThreadInit {
  /** Its targets and their devices (planThreads). */
  readonly cfg: ServeConfig;
  /** The handler registry file (--handlers), added to the built-in one; undefined: the built-in one alone. */
  readonly handlers: string | undefined;
  /** Debug log lines are wanted (-v). */
  readonly verbose: boolean;
}

export type ToThread =
  | { type: 'connection'; fd: number; received: Uint8Array }
  | { type: 'request'; id: number; req: ThreadRequest }
  | { type: 'close'; timeoutMs: number };

export type FromThread =
  | { type: 'ready'; served: ServedLun[] }
  | { type: 'failed'; message: string; startup: boolean }
  | { type: 'log'; level: LogLevel; message: string }
  | { type: 'served'; lun: ServedLun }
  | { type: 'reply'; id: number; ok: true; result: unknown }
  | { type: 'reply'; id: number; ok: false; error: string }
  | { type: 'closed'; error?: string };
