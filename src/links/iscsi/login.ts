// The login phase of one connection: TSIH checks, C-bit continuation in both directions,
// the negotiation state machine, session reinstatement and creation (RFC 7143 §6, §11.12-13).

import { LoginStatus, Stage, snAdd } from './constants.ts';
import type { IscsiConnection } from './connection.ts';
import { LoginNegotiator } from './negotiation.ts';
import { admitLogin, authDescription, type LoginAccess } from './access.ts';
import { isidHex, makeNexus } from './nexus.ts';
import { encodeLoginResponse } from './pdu-out.ts';
import type { LoginRequestPdu } from './pdu.ts';
import { IscsiSession } from './session.ts';
import { encodeTextKeys, parseTextKeys, TextAccumulator, TextFormatError, TextSender, type KeyValue } from './text.ts';

/** Login PDUs carry at most 8192 bytes of text (the MaxRecvDataSegmentLength default). */
const LOGIN_SEGMENT = 8192;

export class LoginPhase {
  private readonly conn: IscsiConnection;
  private readonly negotiator: LoginNegotiator;
  private readonly accum = new TextAccumulator(64 * 1024);
  private sender: TextSender | undefined;
  private pendingStep: { transit: boolean; csg: number; nsg: number } | undefined;
  private isid: Buffer | undefined;
  private tsih = 0;
  private failed = false;
  /** The ACL entry and authenticator the login was admitted with. */
  private access: LoginAccess | undefined;

  constructor(conn: IscsiConnection) {
    this.conn = conn;
    const ctx = conn.ctx;
    this.negotiator = new LoginNegotiator({
      offer: ctx.options.offer,
      portalGroupTag: ctx.options.portalGroupTag,
      findTarget: (name) => ctx.findTarget(name),
      admit: (initiator, type, target) =>
        admitLogin(initiator, type, target && ctx.findTarget(target.iqn)?.access, ctx.discoveryChap, ctx.throttle, (a) => (this.access = a)),
    });
  }

  abandon(): void {
    this.failed = true;
  }

  async handle(pdu: LoginRequestPdu): Promise<void> {
    if (this.failed) return;
    const conn = this.conn;
    const ctx = conn.ctx;
    if (!this.isid) {
      this.isid = Buffer.from(pdu.isid);
      this.tsih = pdu.tsih;
      conn.cid = pdu.cid;
      conn.loginCmdSN = pdu.cmdSN;
      conn.statSN = pdu.expStatSN;
      if (ctx.closing) return this.fail(pdu, LoginStatus.ServiceUnavailable, 'target is shutting down');
      if (pdu.tsih !== 0) {
        // We negotiate MaxConnections=1: a connection can never be added to a session.
        return ctx.sessionByTsih(pdu.tsih)
          ? this.fail(pdu, LoginStatus.TooManyConnections, `session ${pdu.tsih} already has its one connection`)
          : this.fail(pdu, LoginStatus.SessionDoesNotExist, `no session with TSIH ${pdu.tsih}`);
      }
    } else if (!this.isid.equals(pdu.isid) || pdu.tsih !== this.tsih || pdu.cid !== conn.cid) {
      // RFC 7143 §11.12: all Login Requests of a login carry the same ISID, TSIH and CID
      return this.fail(pdu, LoginStatus.InitiatorError, 'ISID, TSIH or CID changed during login');
    }

    // Our previous response was cut in pieces (C=1): the initiator asks for the next piece.
    if (this.sender && !this.sender.done) {
      if (pdu.data.length) return this.fail(pdu, LoginStatus.InitiatorError, 'keys sent while a response continues');
      return this.sendPiece(pdu, this.pendingStep!);
    }

    let whole: Buffer | undefined;
    try {
      whole = this.accum.add(pdu.data, pdu.cont);
    } catch (e) {
      return this.fail(pdu, LoginStatus.InitiatorError, (e as Error).message);
    }
    if (!whole) {
      // C=1: acknowledge with an empty response and wait for the rest.
      if (pdu.transit) return this.fail(pdu, LoginStatus.InitiatorError, 'T and C both set');
      this.respond(pdu, { transit: false, csg: pdu.csg, nsg: 0, cont: false, status: LoginStatus.Success });
      return;
    }
    let keys: KeyValue[];
    try {
      keys = parseTextKeys(whole);
    } catch (e) {
      if (e instanceof TextFormatError) return this.fail(pdu, LoginStatus.InitiatorError, e.message);
      throw e;
    }
    const step = this.negotiator.step({
      transit: pdu.transit,
      csg: pdu.csg,
      nsg: pdu.nsg,
      versionMax: pdu.versionMax,
      versionMin: pdu.versionMin,
      keys,
    });
    if (step.status !== LoginStatus.Success) return this.fail(pdu, step.status, step.reason ?? 'login failed');
    const data = encodeTextKeys(step.keys);
    if (!step.complete) {
      this.sender = new TextSender(data);
      this.pendingStep = step;
      return this.sendPiece(pdu, step);
    }
    await this.complete(pdu, data);
  }

  private async complete(pdu: LoginRequestPdu, data: Buffer): Promise<void> {
    const conn = this.conn;
    const ctx = conn.ctx;
    const n = this.negotiator;
    const isid = this.isid!;
    const discovery = n.sessionType === 'Discovery';
    const entry = n.target ? ctx.findTarget(n.target.iqn) : undefined;
    const key = `${n.initiatorName}|${isidHex(isid)}|${discovery ? '(discovery)' : entry!.iqn.toLowerCase()}`;
    const old = ctx.sessionByKey(key);
    if (old) {
      conn.log('info', `reinstating session (old TSIH ${old.tsih})`);
      await ctx.terminateSession(old, 'session reinstatement');
      if (conn.closed) return;
    }
    const params = { ...n.params };
    const tsih = ctx.allocTsih();
    const access = this.access;
    const auth = authDescription(access?.chap);
    ctx.throttle.succeeded(n.initiatorName);
    const session = new IscsiSession({
      tsih,
      isid,
      initiatorName: n.initiatorName,
      type: n.sessionType,
      target: entry,
      nexus: entry ? makeNexus(n.initiatorName, isid, entry.iqn, ctx.options.portalGroupTag) : undefined,
      port: entry && access ? (entry.views?.get(access.acl) ?? entry.port) : entry?.port,
      acl: access?.acl ?? 'open',
      auth,
      credentials: access?.credentials,
      params,
      key,
      cmdSN: conn.loginCmdSN,
      queueDepth: ctx.options.queueDepth,
    });
    this.tsih = tsih;
    this.respond(pdu, { transit: true, csg: pdu.csg, nsg: Stage.FullFeature, cont: false, status: LoginStatus.Success, data });
    conn.enterFullFeature(session, params);
    ctx.addSession(session, conn);
    ctx.counters.sessionsTotal++;
    // One short line per session by default; the negotiated parameters with -v.
    conn.log('info', `login: ${n.initiatorName} -> ${entry ? entry.iqn : `${n.sessionType} session`} (ACL ${access?.acl ?? 'open'}, auth ${auth})`);
    conn.log(
      'debug',
      `login parameters: ISID 0x${isidHex(isid)}, digests H=${params.headerDigest ? 'CRC32C' : 'None'} D=${params.dataDigest ? 'CRC32C' : 'None'}, ` +
        `MRDSL ${params.maxRecvDataSegmentLength}/${params.maxXmitDataSegmentLength}, ` +
        `burst ${params.firstBurstLength}/${params.maxBurstLength}, InitialR2T=${params.initialR2T ? 'Yes' : 'No'}, ` +
        `ImmediateData=${params.immediateData ? 'Yes' : 'No'}, MaxOutstandingR2T=${params.maxOutstandingR2T}`,
    );
  }

  private sendPiece(pdu: LoginRequestPdu, step: { transit: boolean; csg: number; nsg: number }): void {
    const piece = this.sender!.nextPiece(LOGIN_SEGMENT);
    const last = !piece.cont;
    this.respond(pdu, {
      transit: last ? step.transit : false,
      csg: step.csg,
      nsg: last ? step.nsg : 0,
      cont: piece.cont,
      status: LoginStatus.Success,
      data: piece.data,
    });
    if (last) this.sender = undefined;
  }

  private respond(
    pdu: LoginRequestPdu,
    r: { transit: boolean; csg: number; nsg: number; cont: boolean; status: number; data?: Buffer },
  ): void {
    const conn = this.conn;
    const seq = conn.seq(true);
    conn.send(
      encodeLoginResponse({
        ...seq,
        expCmdSN: conn.loginCmdSN,
        maxCmdSN: snAdd(conn.loginCmdSN, conn.ctx.options.queueDepth - 1),
        transit: r.transit,
        cont: r.cont,
        csg: r.csg,
        nsg: r.nsg,
        versionMax: 0,
        versionActive: 0,
        isid: this.isid ?? pdu.isid,
        tsih: r.transit && r.nsg === Stage.FullFeature ? this.tsih : 0,
        itt: pdu.itt,
        status: r.status,
        ...(r.data ? { data: r.data } : {}),
      }),
    );
  }

  private fail(pdu: LoginRequestPdu, status: number, reason: string): void {
    this.failed = true;
    const conn = this.conn;
    conn.ctx.counters.loginFailures++;
    const who = this.negotiator.initiatorName;
    // a failed CHAP exchange (wrong secret or user, no CHAP offered) counts toward the slow-down
    if (status === LoginStatus.AuthFailure && this.access?.chap && who) conn.ctx.throttle.failed(who);
    conn.log('warn', `login failed (0x${status.toString(16).padStart(4, '0')})${who ? ` for ${who}` : ''}: ${reason}`);
    this.respond(pdu, { transit: false, csg: pdu.csg, nsg: 0, cont: false, status });
    conn.end();
  }
}
