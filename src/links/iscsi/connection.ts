// One TCP connection: framing in and out, the login phase, and dispatch of full-feature-phase
// PDUs (SCSI I/O, task management, text, NOP, logout). Every handler is guarded: a malformed
// PDU gets a Reject or drops this connection, never anything else.

import type { Socket } from 'node:net';
import {
  AsyncEvent,
  FLAG_IMMEDIATE,
  LogoutReason,
  LogoutResponse,
  OPCODE_NAMES,
  Opcode,
  RESERVED_TAG,
  RejectReason,
  snAdd,
} from './constants.ts';
import type { ServerContext, SessionOwner } from './context.ts';
import { FramingError, frameOut, PduReader } from './framing.ts';
import type { SessionParams } from './keys.ts';
import { LoginPhase } from './login.ts';
import { encodeAsyncMessage, encodeLogoutResponse, encodeNopIn, encodeReject, type SeqNumbers } from './pdu-out.ts';
import {
  parseInitiatorPdu,
  pduOpcode,
  PduError,
  type InitiatorPdu,
  type LogoutRequestPdu,
  type NopOutPdu,
  type OutPdu,
} from './pdu.ts';
import { onDataOut, onScsiCommand, placeWriteData } from './scsi-io.ts';
import { socketFd, type SocketSource } from './socket-reads.ts';
import { close, dup } from '../../ffi/libc.ts';
import { loginTargetName } from './text.ts';
import type { IscsiSession } from './session.ts';
import { TextPhase } from './text-phase.ts';
import { onTaskManagement } from './tmf.ts';

let nextConnectionId = 1;
const PAD = Buffer.alloc(4);

export class IscsiConnection implements SessionOwner {
  readonly id = nextConnectionId++;
  readonly ctx: ServerContext;
  readonly socket: Socket;
  readonly peer: string;
  session: IscsiSession | undefined;
  params: SessionParams | undefined;
  cid = 0;
  /** Next StatSN to hand out. */
  statSN = 0;
  /** Login-phase CmdSN numbers (before there is a session). */
  loginCmdSN = 0;
  closed = false;
  readonly closedPromise: Promise<void>;

  private readonly reader: PduReader;
  private digests = { headerDigest: false, dataDigest: false };
  private readonly login: LoginPhase;
  private readonly text: TextPhase;
  private busy = false;
  private corked = false;
  private pausedForWrites = false;
  private lastRx = Date.now();
  private readonly startedAt = Date.now();
  private pingTtt: number | undefined;
  private pingSentAt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Destroys a half-closed socket whose peer lingers (end()); cleared at teardown. */
  private lingerTimer: NodeJS.Timeout | undefined;
  private nextTtt = 1;
  private resolveClosed!: () => void;
  /** Every byte received until the first PDU was routed (it may move to another thread). */
  private firstBytes: Buffer[] | undefined = [];
  /** The connection moved to another thread (routeElsewhere). */
  handedOver = false;
  private loggingOut = false;

  /**
   * @param source makes the socket, reads going to the given function: an accepted socket
   *   re-wrapped (adoptForReads), or a descriptor handed over by another thread (socketFromFd)
   */
  constructor(source: SocketSource, ctx: ServerContext) {
    const socket = source((chunk) => this.onData(chunk));
    this.socket = socket;
    this.ctx = ctx;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    const offer = ctx.options.offer;
    // Login PDUs are limited to 8192 bytes by default; accept up to our own limit anyway.
    this.reader = new PduReader({ maxDataSegmentLength: Math.max(8192, offer.maxRecvDataSegmentLength) });
    this.login = new LoginPhase(this);
    this.text = new TextPhase(this);
    this.reader.placeData = (bhs, length) => placeWriteData(this, bhs, length);
    socket.setNoDelay(true);
    socket.on('error', (e) => this.log('debug', `socket error: ${e.message}`));
    socket.on('close', () => this.teardown());
    socket.on('drain', () => {
      if (this.pausedForWrites && !this.closed) {
        this.pausedForWrites = false;
        if (!this.busy) socket.resume();
      }
    });
    const tick = Math.max(100, Math.min(1000, ctx.options.nopInterval > 0 ? ctx.options.nopInterval / 4 : 1000));
    this.timer = setInterval(() => this.onTimer(), tick);
    this.timer.unref();
  }

  log(level: 'error' | 'warn' | 'info' | 'debug', msg: string): void {
    const who = this.session ? `${this.session.initiatorName} tsih ${this.session.tsih}` : this.peer;
    this.ctx.log(level, `iscsi ${who}: ${msg}`);
  }

  get inFullFeature(): boolean {
    return this.params !== undefined;
  }

  /** A fresh Target Transfer Tag (never 0xffffffff). */
  allocTtt(): number {
    const t = this.nextTtt;
    this.nextTtt = this.nextTtt >= 0x7fffffff ? 1 : this.nextTtt + 1;
    return t;
  }

  /** StatSN/ExpCmdSN/MaxCmdSN for an outgoing PDU; advance=true consumes a StatSN. */
  seq(advance: boolean): SeqNumbers {
    const statSN = this.statSN;
    if (advance) this.statSN = snAdd(this.statSN, 1);
    const session = this.session;
    if (session) return { statSN, expCmdSN: session.expectedCmdSN, maxCmdSN: session.maxCmdSN };
    return {
      statSN,
      expCmdSN: this.loginCmdSN,
      maxCmdSN: snAdd(this.loginCmdSN, this.ctx.options.queueDepth - 1),
    };
  }

  /** Queues PDUs; everything sent in one tick goes out as one corked writev. */
  send(...pdus: OutPdu[]): void {
    for (const p of pdus) this.sendOne(p);
  }

  /**
   * Queues one PDU (the hot path: no rest-argument array, no per-call buffer list).
   * `onWritten` runs once the socket no longer needs the PDU's buffers (written to the kernel,
   * or the connection is gone): the moment pinned cache pages may be released.
   */
  sendOne(pdu: OutPdu, onWritten?: () => void): void {
    if (this.closed || this.socket.destroyed) {
      onWritten?.();
      return;
    }
    const s = this.socket;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(this.uncork);
    }
    let n: number;
    if (this.digests.headerDigest || this.digests.dataDigest || pdu.ahs) {
      const bufs = frameOut(pdu, this.digests, []);
      n = 0;
      const last = bufs.length - 1;
      for (let i = 0; i <= last; i++) {
        n += bufs[i]!.length;
        if (i === last && onWritten) s.write(bufs[i]!, onWritten);
        else s.write(bufs[i]!);
      }
    } else {
      // No digests, no AHS: the BHS, the data (one buffer or pinned pieces) and its padding.
      // Writable callbacks run in order, so `onWritten` goes on the last chunk.
      const data = pdu.data;
      const parts = pdu.dataParts;
      let len = 0;
      if (data) len = data.length;
      else if (parts) for (let i = 0; i < parts.length; i++) len += parts[i]!.length;
      const pad = (4 - (len & 3)) & 3;
      s.write(pdu.bhs, len === 0 ? onWritten : undefined);
      if (len > 0) {
        if (data) s.write(data, pad ? undefined : onWritten);
        else {
          const last = parts!.length - 1;
          for (let i = 0; i <= last; i++) s.write(parts![i]!, !pad && i === last ? onWritten : undefined);
        }
        if (pad) s.write(PAD.subarray(0, pad), onWritten);
      }
      n = pdu.bhs.length + len + pad;
    }
    this.ctx.counters.bytesOut += n;
    if (s.writableLength > this.ctx.options.writeHighWater && !this.pausedForWrites) {
      this.pausedForWrites = true;
      s.pause();
    }
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  /** Digests take effect for the PDUs after the final Login Response (RFC 7143 §13.1). */
  enterFullFeature(session: IscsiSession, params: SessionParams): void {
    this.session = session;
    this.params = params;
    this.digests = { headerDigest: params.headerDigest, dataDigest: params.dataDigest };
    this.reader.options.headerDigest = params.headerDigest;
    this.reader.options.dataDigest = params.dataDigest;
    this.reader.options.maxDataSegmentLength = params.maxRecvDataSegmentLength;
    this.reader.parseAhead = true;
  }

  reject(reason: number, header: Buffer, why: string): void {
    this.ctx.counters.rejects++;
    this.log('warn', `reject ${OPCODE_NAMES[pduOpcode(header)] ?? `opcode 0x${pduOpcode(header).toString(16)}`} (reason 0x${reason.toString(16)}): ${why}`);
    this.send(encodeReject({ ...this.seq(true), reason, rejectedHeader: header }));
  }

  /** Drops the connection (protocol error, timeout, reinstatement...). */
  drop(reason: string): void {
    if (this.closed) return;
    this.ctx.counters.drops++;
    this.log('warn', `dropping connection: ${reason}`);
    this.socket.destroy();
    this.teardown();
  }

  /** Half-closes after the queued PDUs are written; destroys if the peer lingers. */
  end(): void {
    if (this.closed) return;
    this.socket.end();
    this.lingerTimer ??= setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Graceful shutdown for server.close(): let tasks finish until the deadline, then abort. */
  async shutdown(deadline: number): Promise<void> {
    const s = this.session;
    if (s && !this.closed) {
      const waits = [...s.tasks.values()].map((t) => t.done);
      await withTimeout(Promise.all(waits), Math.max(0, deadline - Date.now()));
      s.abortTasks([...s.tasks.values()], 'target shutting down');
      if (!this.closed && this.params) {
        this.send(
          encodeAsyncMessage({
            ...this.seq(true),
            event: AsyncEvent.DropAllConnections,
            param2: this.params.defaultTime2Wait,
            param3: this.params.defaultTime2Retain,
          }),
        );
      }
    }
    this.end();
    await withTimeout(this.closedPromise, Math.max(500, deadline - Date.now()));
    if (!this.closed) this.drop('shutdown timeout');
  }

  // ------------------------------------------------------------------------------ input

  /** Bytes for this connection (from its socket, or received by another thread before a hand-over). */
  receive(chunk: Buffer): void {
    this.onData(chunk);
  }

  private onData(chunk: Buffer): void {
    if (this.firstBytes) this.firstBytes.push(Buffer.from(chunk)); // until the first PDU is routed
    this.lastRx = Date.now();
    this.ctx.counters.bytesIn += chunk.length;
    this.reader.push(chunk);
    this.pump();
  }

  private pump(): void {
    if (this.busy || this.closed) return;
    for (;;) {
      let raw;
      try {
        raw = this.reader.next();
      } catch (e) {
        if (e instanceof FramingError) {
          if (e.kind === 'data-too-long' && e.header) this.reject(RejectReason.ProtocolError, e.header, e.message);
          this.drop(e.message);
        } else {
          this.drop(`framing failed: ${(e as Error).message}`);
        }
        return;
      }
      if (!raw) return;
      let r: Promise<void> | void;
      try {
        if (raw.dataDigestError) {
          this.onDataDigestError(raw.bhs);
          continue;
        }
        let pdu: InitiatorPdu;
        try {
          pdu = parseInitiatorPdu(raw);
        } catch (e) {
          if (e instanceof PduError) {
            if (!this.inFullFeature) {
              this.drop(`login phase: ${e.message}`);
              return;
            }
            this.reject(e.reason, raw.bhs, e.message);
            continue;
          }
          throw e;
        }
        r = this.dispatch(pdu);
      } catch (e) {
        this.log('error', `internal error handling a PDU: ${(e as Error).stack ?? e}`);
        this.drop('internal error');
        return;
      }
      if (this.closed) return;
      if (r) {
        this.busy = true;
        this.socket.pause();
        r.catch((e: unknown) => {
          this.log('error', `internal error: ${(e as Error).stack ?? e}`);
          this.drop('internal error');
        }).finally(() => {
          this.busy = false;
          if (this.closed) return;
          if (!this.pausedForWrites) this.socket.resume();
          this.pump();
        });
        return;
      }
    }
  }

  /**
   * The first Login Request names a target another thread of this process serves: the
   * connection moves there (a second descriptor of the socket, with every byte received so far)
   * and is gone from here. Nothing was answered yet, so that thread starts the login afresh.
   */
  private routeElsewhere(loginText: Buffer, received: Buffer[]): boolean {
    const route = this.ctx.route;
    if (!route) return false;
    const name = loginTargetName(loginText);
    const to = name === undefined ? undefined : route(name);
    if (!to) return false;
    const fd = socketFd(this.socket);
    if (fd === undefined) return false;
    let copy: number;
    try {
      copy = dup(fd);
    } catch (e) {
      this.log('warn', `cannot hand the connection to the thread of ${name}: ${(e as Error).message}`);
      return false;
    }
    this.socket.pause();
    if (!to(copy, Buffer.concat(received))) {
      close(copy);
      return false;
    }
    this.handedOver = true;
    this.log('debug', `login to ${name}: connection handed to the thread serving it`);
    this.teardown(); // closes our descriptor; the socket lives on in the other thread
    return true;
  }

  private onDataDigestError(bhs: Buffer): void {
    const op = pduOpcode(bhs);
    this.reject(RejectReason.DataDigestError, bhs, 'data digest mismatch');
    if (!this.inFullFeature || op === Opcode.ScsiCommand || op === Opcode.DataOut) {
      // ERL 0 cannot recover lost write data: the task (and so the connection) is lost.
      this.drop('data digest error on a PDU carrying SCSI data');
      return;
    }
    // NOP-Out/Text: treat the CmdSN as used so the window does not stall.
    if (this.session && (bhs[0]! & FLAG_IMMEDIATE) === 0) this.session.skip(bhs.readUInt32BE(24));
  }

  private dispatch(pdu: InitiatorPdu): Promise<void> | void {
    if (this.firstBytes) {
      const bytes = this.firstBytes;
      this.firstBytes = undefined;
      if (pdu.opcode === Opcode.LoginRequest && this.routeElsewhere(pdu.data, bytes)) return;
    }
    if (!this.inFullFeature) {
      if (pdu.opcode !== Opcode.LoginRequest) {
        this.drop(`${OPCODE_NAMES[pdu.opcode]} during the login phase`);
        return;
      }
      return this.login.handle(pdu);
    }
    const session = this.session!;
    if (session.type === 'Discovery' && pdu.opcode !== Opcode.TextRequest && pdu.opcode !== Opcode.LogoutRequest && pdu.opcode !== Opcode.NopOut) {
      this.reject(RejectReason.ProtocolError, pdu.raw.bhs, `${OPCODE_NAMES[pdu.opcode]} in a discovery session`);
      if ('cmdSN' in pdu && !pdu.immediate) session.skip(pdu.cmdSN);
      return;
    }
    switch (pdu.opcode) {
      case Opcode.ScsiCommand:
        return onScsiCommand(this, pdu);
      case Opcode.DataOut:
        return onDataOut(this, pdu);
      case Opcode.NopOut:
        return this.onNopOut(pdu);
      case Opcode.TaskMgmtRequest:
        return onTaskManagement(this, pdu);
      case Opcode.TextRequest:
        return this.text.handle(pdu);
      case Opcode.LogoutRequest:
        return this.onLogout(pdu);
      case Opcode.SnackRequest:
        this.reject(RejectReason.ProtocolError, pdu.raw.bhs, 'SNACK is not supported at ErrorRecoveryLevel 0');
        return;
      case Opcode.LoginRequest:
        this.reject(RejectReason.ProtocolError, pdu.raw.bhs, 'Login Request in full feature phase');
        this.drop('Login Request in full feature phase');
        return;
    }
  }

  // ------------------------------------------------------------------------------ NOP

  private onNopOut(pdu: NopOutPdu): void {
    if (pdu.ttt !== RESERVED_TAG && pdu.ttt === this.pingTtt) this.pingTtt = undefined;
    if (pdu.itt === RESERVED_TAG) {
      if (!pdu.immediate) this.reject(RejectReason.ProtocolError, pdu.raw.bhs, 'NOP-Out without ITT must be immediate');
      return;
    }
    const s = this.session!;
    if (!s.inWindow(pdu.cmdSN, pdu.immediate)) {
      this.log('debug', `NOP-Out CmdSN ${pdu.cmdSN} outside window, ignored`);
      return;
    }
    s.submit(pdu.cmdSN, pdu.immediate, () => {
      const max = this.params!.maxXmitDataSegmentLength;
      const data = pdu.data.length > max ? pdu.data.subarray(0, max) : pdu.data;
      this.send(encodeNopIn({ ...this.seq(true), itt: pdu.itt, ttt: RESERVED_TAG, lun: pdu.lunBytes, data: Buffer.from(data) }));
    });
  }

  private onTimer(): void {
    if (this.closed) return;
    const now = Date.now();
    const o = this.ctx.options;
    if (!this.inFullFeature) {
      if (now - this.startedAt > o.loginTimeout) this.drop(`login not completed within ${o.loginTimeout} ms`);
      return;
    }
    if (o.nopInterval <= 0) return;
    if (this.pingTtt !== undefined) {
      if (this.lastRx < this.pingSentAt && now - this.pingSentAt > o.nopTimeout) {
        this.drop(`no answer to NOP-In within ${o.nopTimeout} ms`);
      } else if (this.lastRx >= this.pingSentAt) {
        this.pingTtt = undefined; // the peer is alive; the answer may still come
      }
      return;
    }
    if (now - this.lastRx >= o.nopInterval && !this.loggingOut) {
      this.pingTtt = this.allocTtt();
      this.pingSentAt = now;
      this.send(encodeNopIn({ ...this.seq(false), itt: RESERVED_TAG, ttt: this.pingTtt }));
    }
  }

  // ------------------------------------------------------------------------------ logout

  private onLogout(pdu: LogoutRequestPdu): void {
    const s = this.session!;
    if (!s.inWindow(pdu.cmdSN, pdu.immediate)) {
      this.log('debug', `Logout CmdSN ${pdu.cmdSN} outside window, ignored`);
      return;
    }
    s.submit(pdu.cmdSN, pdu.immediate, () => {
      const respond = (response: number): void => {
        this.send(
          encodeLogoutResponse({
            ...this.seq(true),
            itt: pdu.itt,
            response,
            time2Wait: response === LogoutResponse.Success ? 0 : this.params!.defaultTime2Wait,
            time2Retain: 0,
          }),
        );
      };
      if (pdu.reason === LogoutReason.RemoveForRecovery) {
        respond(LogoutResponse.RecoveryNotSupported);
        return;
      }
      if (pdu.reason === LogoutReason.CloseConnection && pdu.cid !== this.cid) {
        respond(LogoutResponse.CidNotFound);
        return;
      }
      if (pdu.reason !== LogoutReason.CloseSession && pdu.reason !== LogoutReason.CloseConnection) {
        this.reject(RejectReason.InvalidPduField, pdu.raw.bhs, `logout reason ${pdu.reason}`);
        return;
      }
      this.loggingOut = true;
      // Writes still waiting for data will never get it; commands at the port may finish.
      s.abortTasks(s.tasksOn().filter((t) => t.state === 'collecting'), 'logout');
      const waits = [...s.tasks.values()].map((t) => t.done);
      void withTimeout(Promise.all(waits), this.ctx.options.taskWaitTimeout).then(() => {
        if (this.closed) return;
        s.abortTasks([...s.tasks.values()], 'logout');
        respond(LogoutResponse.Success);
        this.log('debug', `logout (${pdu.reason === LogoutReason.CloseSession ? 'close session' : 'close connection'})`);
        this.end();
      });
    });
  }

  // ------------------------------------------------------------------------------ teardown

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    if (!this.socket.destroyed) this.socket.destroy();
    const s = this.session;
    if (s && !s.closed) {
      s.closed = true;
      const pending = s.abortTasks([...s.tasks.values()], 'connection closed');
      this.ctx.sessionEnded(s, pending);
    }
    this.login.abandon();
    this.resolveClosed();
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      () => {
        clearTimeout(t);
        resolve(undefined);
      },
    );
  });
}
