// Login negotiation as a pure state machine (RFC 7143 §6, §11.12-13): stages (CSG/NSG, T bit),
// the leading-login keys (InitiatorName, TargetName, SessionType), the admission hook (ACLs), the
// security stage (AuthMethod; authenticators such as chap.ts) and operational keys via keys.ts.
// Session-level checks (TSIH, reinstatement, connection counts) belong to the caller.

import { LoginStatus, Stage } from './constants.ts';
import {
  finalizeParams,
  isIscsiName,
  negotiateOperationalKey,
  rfcDefaults,
  type SessionParams,
  type TargetOffer,
} from './keys.ts';
import type { KeyValue } from './text.ts';

export interface TargetDescriptor {
  readonly iqn: string;
  readonly alias?: string | undefined;
}

export type SessionType = 'Normal' | 'Discovery';

/**
 * Security-stage hook. `None` is built in; CHAP would implement this: it gets the keys of each
 * security-stage PDU and answers them, and says when the peer is authenticated.
 */
export interface Authenticator {
  readonly method: string;
  /** Handles the keys of one security-stage PDU; returns answers, or a login status on failure. */
  step(keys: readonly KeyValue[]): { answers: KeyValue[]; authenticated: boolean } | { status: number; reason?: string };
}

/** What admit() decides once the leading keys are known: refused, or the methods this login may use. */
export type Admission = { status: number; reason: string } | { authenticators: readonly Authenticator[] };

export interface LoginConfig {
  offer: TargetOffer;
  portalGroupTag: number;
  findTarget(name: string): TargetDescriptor | undefined;
  /** Authentication methods in order of preference; empty or absent = AuthMethod=None only. */
  authenticators?: readonly Authenticator[];
  /**
   * Access control: called once per login with the initiator, session type and target of the
   * first request. A refusal fails the login (02/02); otherwise its authenticators replace the
   * ones above for this login.
   */
  admit?(initiatorName: string, type: SessionType, target: TargetDescriptor | undefined): Admission;
}

export interface LoginRequestInput {
  transit: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionMin: number;
  keys: readonly KeyValue[];
}

export interface LoginStepResult {
  /** Status-Class << 8 | Status-Detail; non-zero means: send it and close the connection. */
  status: number;
  transit: boolean;
  csg: number;
  nsg: number;
  keys: KeyValue[];
  /** The login is complete: the response moves the connection to full feature phase. */
  complete: boolean;
  /** A human-readable reason when status is non-zero. */
  reason?: string;
}

const LEADING_KEYS = new Set(['InitiatorName', 'TargetName', 'SessionType']);

/**
 * Keys of the first Login Request that an initiator may state again, with the same value, in a
 * later one: libiscsi sends them in its first security-stage request and again in its first
 * operational-stage request. A different value is a renegotiation, refused like any other.
 */
const RESTATABLE = new Set([...LEADING_KEYS, 'InitiatorAlias']);

export class LoginNegotiator {
  private readonly cfg: LoginConfig;
  private stage: number | undefined;
  private first = true;
  private versions: [max: number, min: number] | undefined;
  /** Every key the initiator sent in this login, with its value (RFC 7143 §6.3: each at most once). */
  private readonly seen = new Map<string, string>();
  private declaredOperational = false;
  private auth: Authenticator | undefined;
  private authenticators: readonly Authenticator[] | undefined;
  private authenticated = false;
  sessionType: SessionType = 'Normal';
  initiatorName = '';
  initiatorAlias: string | undefined;
  target: TargetDescriptor | undefined;
  readonly params: SessionParams = rfcDefaults();

  constructor(cfg: LoginConfig) {
    this.cfg = cfg;
    this.authenticators = cfg.authenticators;
  }

  /** Handles one complete Login Request (continuations already joined). */
  step(req: LoginRequestInput): LoginStepResult {
    const fail = (status: number, reason: string): LoginStepResult => ({
      status,
      transit: false,
      csg: req.csg,
      nsg: 0,
      keys: [],
      complete: false,
      reason,
    });
    // RFC 7143 §6.3: a key is declared or negotiated at most once in a login; a repeat is an
    // initiator error (Login reject 02/00). Keys of the leading login only come in the first request.
    const keys = new Map<string, string>();
    const restated = new Set<string>();
    for (const [k, v] of req.keys) {
      if (keys.has(k)) return fail(LoginStatus.InitiatorError, `${k} sent twice in one Login Request`);
      keys.set(k, v);
      const before = this.seen.get(k);
      if (before !== undefined) {
        if (!RESTATABLE.has(k) || before !== v) return fail(LoginStatus.InitiatorError, `${k} sent again in the login (was "${before.slice(0, 64)}")`);
        restated.add(k);
      } else if (!this.first && LEADING_KEYS.has(k)) {
        return fail(LoginStatus.InitiatorError, `${k} is only valid in the first Login Request`);
      }
    }
    for (const [k, v] of keys) this.seen.set(k, v);
    const answers: KeyValue[] = [];

    if (this.versions === undefined) this.versions = [req.versionMax, req.versionMin];
    else if (this.versions[0] !== req.versionMax || this.versions[1] !== req.versionMin) {
      // RFC 7143 §11.12.4: every Login Request of a login carries the same Version-max and -min
      return fail(LoginStatus.InitiatorError, `Version-max/min changed during login (${this.versions.join('/')} -> ${req.versionMax}/${req.versionMin})`);
    }
    if (this.first) {
      if (req.versionMin > 0) return fail(LoginStatus.UnsupportedVersion, `unsupported iSCSI version ${req.versionMin}..${req.versionMax}`);
      const init = keys.get('InitiatorName');
      if (!init) return fail(LoginStatus.MissingParameter, 'InitiatorName missing from the first login request');
      if (!isIscsiName(init)) return fail(LoginStatus.InitiatorError, `InitiatorName "${init.slice(0, 64)}" is not an iqn., eui. or naa. name (RFC 7143 §4.2.7)`);
      this.initiatorName = init.toLowerCase();
      const st = keys.get('SessionType') ?? 'Normal';
      if (st !== 'Normal' && st !== 'Discovery') return fail(LoginStatus.SessionTypeNotSupported, `SessionType ${st} not supported`);
      this.sessionType = st;
      if (st === 'Normal') {
        const tn = keys.get('TargetName');
        if (!tn) return fail(LoginStatus.MissingParameter, 'TargetName missing for a normal session');
        const t = this.cfg.findTarget(tn);
        if (!t) return fail(LoginStatus.TargetNotFound, `unknown target ${tn}`);
        this.target = t;
        answers.push(['TargetPortalGroupTag', String(this.cfg.portalGroupTag)]);
        if (t.alias) answers.push(['TargetAlias', t.alias]);
      }
      if (this.cfg.admit) {
        const a = this.cfg.admit(this.initiatorName, st, this.target);
        if ('status' in a) return fail(a.status, a.reason);
        this.authenticators = a.authenticators;
      }
      this.first = false;
    }

    // Stage rules (§6.3): CSG is Security or Operational and never goes back; NSG moves forward.
    if (req.csg !== Stage.Security && req.csg !== Stage.Operational) {
      return fail(LoginStatus.InitiatorError, `invalid CSG ${req.csg}`);
    }
    if (this.stage !== undefined && req.csg < this.stage) {
      return fail(LoginStatus.InitiatorError, `CSG went back from ${this.stage} to ${req.csg}`);
    }
    if (req.transit && (req.nsg <= req.csg || req.nsg === 2)) {
      return fail(LoginStatus.InitiatorError, `invalid transition ${req.csg} -> ${req.nsg}`);
    }
    // §12.1: no stage but the security stage before the required authentication completed,
    // whether or not the initiator ever started it.
    if (req.csg !== Stage.Security && this.requiresAuth() && !this.authenticated) {
      return fail(LoginStatus.AuthFailure, 'operational stage before authentication completed');
    }
    this.stage = req.csg;
    const discovery = this.sessionType === 'Discovery';
    const securityKeys: KeyValue[] = [];

    for (const [k, v] of req.keys) {
      if (LEADING_KEYS.has(k) || restated.has(k)) continue;
      if (k === 'InitiatorAlias') this.initiatorAlias = v; // and checked as a key below
      if (k === 'AuthMethod') {
        if (req.csg !== Stage.Security) {
          answers.push([k, 'Irrelevant']);
          continue;
        }
        const r = this.chooseAuth(v.split(','));
        if (r === undefined) {
          answers.push([k, 'Reject']);
          return fail(LoginStatus.AuthFailure, `no acceptable AuthMethod in "${v}"`);
        }
        answers.push([k, r]);
        continue;
      }
      if (k.startsWith('CHAP_') || k.startsWith('SRP_')) {
        if (req.csg === Stage.Security && this.auth) securityKeys.push([k, v]);
        else answers.push([k, 'NotUnderstood']);
        continue;
      }
      const out = negotiateOperationalKey(k, v, this.cfg.offer, this.params, discovery);
      if (out.error !== undefined) return fail(LoginStatus.InitiatorError, out.error);
      if (out.answer !== undefined) answers.push([k, out.answer]);
    }

    if (req.csg === Stage.Security && this.auth) {
      const r = this.auth.step(securityKeys);
      if ('status' in r) return fail(r.status, `authentication (${this.auth.method}) failed${r.reason ? `: ${r.reason}` : ''}`);
      answers.push(...r.answers);
      this.authenticated = r.authenticated;
      if (req.transit && !this.authenticated) {
        // Keep negotiating: answer with T=0 until the exchange completes.
        return { status: LoginStatus.Success, transit: false, csg: req.csg, nsg: 0, keys: answers, complete: false };
      }
    } else if (req.csg === Stage.Security && this.requiresAuth() && req.transit && !this.authenticated) {
      return fail(LoginStatus.AuthFailure, 'authentication required');
    }

    if (req.csg === Stage.Operational && !this.declaredOperational) {
      this.declaredOperational = true;
      this.params.maxRecvDataSegmentLength = this.cfg.offer.maxRecvDataSegmentLength;
      answers.push(['MaxRecvDataSegmentLength', String(this.cfg.offer.maxRecvDataSegmentLength)]);
    }

    const complete = req.transit && req.nsg === Stage.FullFeature;
    if (complete) {
      finalizeParams(this.params);
      if (!this.declaredOperational) {
        // Straight from security to full feature phase: operational keys keep their defaults,
        // but we still receive up to our own limit (the initiator uses the 8192 default).
        this.params.maxRecvDataSegmentLength = Math.max(8192, this.params.maxRecvDataSegmentLength);
      }
    }
    if (req.transit) this.stage = req.nsg;
    return {
      status: LoginStatus.Success,
      transit: req.transit,
      csg: req.csg,
      nsg: req.transit ? req.nsg : 0,
      keys: answers,
      complete,
    };
  }

  private requiresAuth(): boolean {
    const a = this.authenticators;
    return !!a && a.length > 0 && !a.some((x) => x.method === 'None');
  }

  private chooseAuth(offered: string[]): string | undefined {
    const ours = this.authenticators && this.authenticators.length ? this.authenticators : undefined;
    if (!ours) return offered.includes('None') ? 'None' : undefined;
    for (const m of offered) {
      const a = ours.find((x) => x.method === m);
      if (a) {
        if (a.method !== 'None') this.auth = a;
        else this.authenticated = true;
        return m;
      }
    }
    return undefined;
  }
}
