// Text requests in full feature phase (RFC 7143 §11.10-11.11, §13.3 SendTargets): discovery
// listings, per-connection MaxRecvDataSegmentLength, NotUnderstood/Reject for the rest, and
// long answers cut into C=1 pieces fetched with empty requests carrying our TTT.

import { RESERVED_TAG, RejectReason } from './constants.ts';
import type { IscsiConnection } from './connection.ts';
import { parseMaxRecvDataSegmentLength } from './keys.ts';
import { encodeTextResponse } from './pdu-out.ts';
import type { TextRequestPdu } from './pdu.ts';
import type { TargetName } from './context.ts';
import { mayList } from './access.ts';
import { encodeTextKeys, parseTextKeys, TextAccumulator, TextFormatError, TextSender, type KeyValue } from './text.ts';

export class TextPhase {
  private readonly conn: IscsiConnection;
  private readonly accum = new TextAccumulator(64 * 1024);
  private sender: TextSender | undefined;
  private ttt = RESERVED_TAG;
  private itt = RESERVED_TAG;

  constructor(conn: IscsiConnection) {
    this.conn = conn;
  }

  handle(pdu: TextRequestPdu): void {
    const conn = this.conn;
    const s = conn.session!;
    if (!s.inWindow(pdu.cmdSN, pdu.immediate)) {
      conn.log('debug', `Text CmdSN ${pdu.cmdSN} outside window, ignored`);
      return;
    }
    s.submit(pdu.cmdSN, pdu.immediate, () => this.run(pdu));
  }

  private run(pdu: TextRequestPdu): void {
    const conn = this.conn;
    if (pdu.ttt !== RESERVED_TAG) {
      // Continuation of an exchange we started (our TTT).
      if (pdu.ttt !== this.ttt || pdu.itt !== this.itt) {
        this.reset();
        conn.reject(RejectReason.InvalidPduField, pdu.raw.bhs, `unknown Text TTT 0x${pdu.ttt.toString(16)}`);
        return;
      }
      if (this.sender && !this.sender.done) {
        this.sendPiece(pdu);
        return;
      }
    } else if (this.sender || this.accum.pending) {
      this.reset(); // a new exchange replaces an unfinished one
    }
    let whole: Buffer | undefined;
    try {
      whole = this.accum.add(pdu.data, pdu.cont);
    } catch (e) {
      this.reset();
      conn.reject(RejectReason.ProtocolError, pdu.raw.bhs, (e as Error).message);
      return;
    }
    if (!whole) {
      this.itt = pdu.itt;
      this.ttt = conn.allocTtt();
      this.respond(pdu, { final: false, cont: false, ttt: this.ttt });
      return;
    }
    let keys: KeyValue[];
    try {
      keys = parseTextKeys(whole);
    } catch (e) {
      this.reset();
      if (e instanceof TextFormatError) {
        conn.reject(RejectReason.ProtocolError, pdu.raw.bhs, e.message);
        return;
      }
      throw e;
    }
    const seen = new Set<string>();
    for (const [k] of keys) {
      if (seen.has(k)) {
        // RFC 7143 §6.2: a key is offered at most once in a negotiation
        this.reset();
        conn.reject(RejectReason.ProtocolError, pdu.raw.bhs, `${k} sent twice in one Text Request`);
        return;
      }
      seen.add(k);
    }
    this.sender = new TextSender(encodeTextKeys(this.answer(keys)));
    this.itt = pdu.itt;
    this.sendPiece(pdu);
  }

  private sendPiece(pdu: TextRequestPdu): void {
    const piece = this.sender!.nextPiece(this.conn.params!.maxXmitDataSegmentLength);
    const final = !piece.cont && pdu.final;
    if (final) {
      this.respond(pdu, { final: true, cont: false, ttt: RESERVED_TAG, data: piece.data });
      this.reset();
    } else {
      if (this.ttt === RESERVED_TAG) this.ttt = this.conn.allocTtt();
      this.respond(pdu, { final: false, cont: piece.cont, ttt: this.ttt, data: piece.data });
      if (!piece.cont) this.sender = undefined;
    }
  }

  private respond(pdu: TextRequestPdu, r: { final: boolean; cont: boolean; ttt: number; data?: Buffer }): void {
    const conn = this.conn;
    conn.send(
      encodeTextResponse({
        ...conn.seq(true),
        final: r.final,
        cont: r.cont,
        lun: pdu.lunBytes,
        itt: pdu.itt,
        ttt: r.ttt,
        ...(r.data ? { data: r.data } : {}),
      }),
    );
  }

  private reset(): void {
    this.accum.reset();
    this.sender = undefined;
    this.ttt = RESERVED_TAG;
    this.itt = RESERVED_TAG;
  }

  private answer(keys: readonly KeyValue[]): KeyValue[] {
    const conn = this.conn;
    const out: KeyValue[] = [];
    for (const [k, v] of keys) {
      if (k === 'SendTargets') {
        out.push(...this.sendTargets(v));
      } else if (k === 'MaxRecvDataSegmentLength') {
        const n = parseMaxRecvDataSegmentLength(v);
        if (typeof n === 'string') {
          conn.log('warn', n);
          out.push([k, 'Reject']);
        } else conn.params!.maxXmitDataSegmentLength = n;
      } else if (k.startsWith('X-') || k.startsWith('X#') || !KNOWN.has(k)) {
        out.push([k, 'NotUnderstood']);
      } else {
        // Login-only keys cannot be renegotiated in full feature phase.
        out.push([k, 'Reject']);
      }
    }
    return out;
  }

  private sendTargets(value: string): KeyValue[] {
    const conn = this.conn;
    const s = conn.session!;
    const ctx = conn.ctx;
    let list: readonly TargetName[];
    // Only the targets this initiator may log in to (its ACL entries), wherever they are served.
    const permitted = () => ctx.targets().filter((t) => mayList(t.access ?? {}, s.initiatorName));
    if (value === 'All') {
      list = s.type === 'Discovery' ? permitted() : s.target ? [s.target] : [];
    } else if (value === '') {
      if (s.type === 'Discovery') return [['SendTargets', 'Reject']];
      list = s.target ? [s.target] : [];
    } else {
      const name = value.toLowerCase();
      list = permitted().filter((t) => t.iqn.toLowerCase() === name);
    }
    const local = conn.socket.localAddress ?? '127.0.0.1';
    const host = local.includes(':') && !local.startsWith('::ffff:') ? `[${local}]` : local.replace(/^::ffff:/, '');
    const port = conn.socket.localPort ?? 3260;
    const out: KeyValue[] = [];
    for (const t of list) {
      out.push(['TargetName', t.iqn]);
      out.push(['TargetAddress', `${host}:${port},${ctx.options.portalGroupTag}`]);
    }
    return out;
  }
}

const KNOWN = new Set([
  'HeaderDigest',
  'DataDigest',
  'MaxConnections',
  'TargetName',
  'InitiatorName',
  'TargetAlias',
  'InitiatorAlias',
  'TargetAddress',
  'TargetPortalGroupTag',
  'InitialR2T',
  'ImmediateData',
  'MaxBurstLength',
  'FirstBurstLength',
  'DefaultTime2Wait',
  'DefaultTime2Retain',
  'MaxOutstandingR2T',
  'DataPDUInOrder',
  'DataSequenceInOrder',
  'ErrorRecoveryLevel',
  'SessionType',
  'AuthMethod',
  'OFMarker',
  'IFMarker',
  'OFMarkInt',
  'IFMarkInt',
  'TaskReporting',
  'iSCSIProtocolLevel',
]);
