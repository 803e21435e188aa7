// What connections need from the server: options, targets, the session registry, logging
// and counters. Implemented by IscsiServer; tests can provide their own.

import type { ChapCredentials } from '../../host/acl.ts';
import type { AccessRules, LoginThrottle } from './access.ts';
import type { TargetOffer } from './keys.ts';
import type { IscsiSession, TargetEntry } from './session.ts';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFn = (level: LogLevel, msg: string) => void;

export interface ConnectionOptions {
  readonly offer: TargetOffer;
  readonly portalGroupTag: number;
  /** CmdSN window per session. */
  readonly queueDepth: number;
  /** Idle time before a target NOP-In ping, ms (0 disables pings). */
  readonly nopInterval: number;
  /** Time to wait for the ping's answer before dropping the connection, ms. */
  readonly nopTimeout: number;
  /** Whole login phase must finish within this, ms. */
  readonly loginTimeout: number;
  /** Largest write we buffer; larger ones fail with CHECK CONDITION (data discarded). */
  readonly maxWriteBytes: number;
  /** How long a TMF or logout waits for aborted/in-flight tasks to settle, ms. */
  readonly taskWaitTimeout: number;
  /** Pause reading from a socket while more than this many bytes wait to be written. */
  readonly writeHighWater: number;
}

export interface Counters {
  connectionsTotal: number;
  sessionsTotal: number;
  loginFailures: number;
  commands: number;
  commandErrors: number;
  tmfs: number;
  rejects: number;
  drops: number;
  bytesIn: number;
  bytesOut: number;
  dataInBytes: number;
  dataOutBytes: number;
}

export function newCounters(): Counters {
  return {
    connectionsTotal: 0,
    sessionsTotal: 0,
    loginFailures: 0,
    commands: 0,
    commandErrors: 0,
    tmfs: 0,
    rejects: 0,
    drops: 0,
    bytesIn: 0,
    bytesOut: 0,
    dataInBytes: 0,
    dataOutBytes: 0,
  };
}

export interface TargetName {
  readonly iqn: string;
  readonly alias?: string | undefined;
  /** Its ACLs: SendTargets lists a target only to initiators that may log in to it. */
  readonly access?: AccessRules | undefined;
}

export interface ServerContext {
  readonly options: ConnectionOptions;
  readonly counters: Counters;
  readonly closing: boolean;
  /** CHAP for discovery sessions; absent: discovery needs none. */
  readonly discoveryChap?: ChapCredentials | undefined;
  /** Failed authentications per initiator name (slows down guessing). */
  readonly throttle: LoginThrottle;
  log: LogFn;
  findTarget(name: string): TargetEntry | undefined;
  /** Every target of the portal, served here or by another thread (SendTargets lists them all). */
  targets(): readonly TargetName[];
  /**
   * A target another thread serves: where to hand a connection that logs in to it (a second
   * descriptor of its socket and the bytes received so far; false if that thread cannot take it).
   */
  route?(targetName: string): ((fd: number, received: Buffer) => boolean) | undefined;
  /** Live sessions of a target (for LUN/target-wide task management). */
  sessionsOf(target: TargetEntry): IscsiSession[];
  sessionByTsih(tsih: number): IscsiSession | undefined;
  sessionByKey(key: string): IscsiSession | undefined;
  allocTsih(): number;
  /** Registers a new session (after any reinstatement completed). */
  addSession(session: IscsiSession, conn: SessionOwner): void;
  /** The connection(s) of a session ended: nexusLost after its tasks settle. */
  sessionEnded(session: IscsiSession, pending: Promise<void>[]): void;
  /** Closes a session's connection (reinstatement, cold reset); resolves when it is torn down. */
  terminateSession(session: IscsiSession, reason: string): Promise<void>;
}

/** The part of a connection the server keeps per session. */
export interface SessionOwner {
  drop(reason: string): void;
  /** Lets its tasks finish until the deadline, aborts the rest, asks the initiator to leave, closes. */
  shutdown(deadline: number): Promise<void>;
  readonly closedPromise: Promise<void>;
}
