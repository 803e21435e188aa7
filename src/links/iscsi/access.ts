// Who may log in to what, at login time: the ACL entry an initiator name gets on a target (its
// LUN view and CHAP), discovery-session CHAP, and the per-initiator slow-down after failed
// authentications. The rules come from the config (src/host/acl.ts); CHAP itself is chap.ts.

import { matchAcl, type Acls, type ChapCredentials } from '../../host/acl.ts';
import { ChapAuthenticator } from './chap.ts';
import { LoginStatus } from './constants.ts';
import type { Admission, Authenticator, SessionType } from './negotiation.ts';

/** A target's access rules. No acls: open (the config allows that on loopback portals only). */
export interface AccessRules {
  readonly acls?: Acls | undefined;
  readonly chap?: ChapCredentials | undefined;
}

/** The ACL entry that admits an initiator: its label for logs and status, and its CHAP. */
export interface AclMatch {
  /** 'any' ("acls": "any"), 'open' (no acls), or the entry's initiator name or pattern. */
  readonly label: string;
  readonly chap: ChapCredentials | undefined;
}

/** The ACL entry of `rules` for `initiator`, or undefined when it may not log in (02/02). */
export function aclFor(rules: AccessRules, initiator: string): AclMatch | undefined {
  const acls = rules.acls;
  if (acls === undefined || acls === 'any') return { label: acls ?? 'open', chap: rules.chap };
  const e = matchAcl(acls, initiator);
  return e && { label: e.initiator, chap: e.chap ?? rules.chap };
}

/** Whether SendTargets lists this target to this initiator (it lists only what it may log in to). */
export function mayList(rules: AccessRules, initiator: string): boolean {
  return aclFor(rules, initiator) !== undefined;
}

export interface ThrottleOptions {
  /** Failures allowed before any wait (mistyped secrets). Default 2. */
  free?: number;
  /** First wait, doubled per further failure, up to maxMs. Defaults 1 s and 60 s. */
  baseMs?: number;
  maxMs?: number;
  /** A name forgotten this long after its last failure. Default 15 minutes. */
  forgetMs?: number;
  /** Names remembered at most (the oldest forgotten first), so random names cannot eat memory. */
  maxNames?: number;
  now?: () => number;
}

/**
 * Repeated failed authentications of one initiator name: after `free` failures, that name's
 * next login is refused until a wait has passed (doubling up to maxMs). Bounded per name and in
 * memory, and other names are never affected. A success clears the name.
 */
export class LoginThrottle {
  private readonly o: Required<ThrottleOptions>;
  private readonly names = new Map<string, { failures: number; until: number; last: number }>();

  constructor(o: ThrottleOptions = {}) {
    this.o = { free: 2, baseMs: 1000, maxMs: 60_000, forgetMs: 15 * 60_000, maxNames: 4096, now: Date.now, ...o };
  }

  /** Milliseconds this name must still wait before it may try again (0: it may). */
  wait(name: string): number {
    const e = this.names.get(name);
    if (!e) return 0;
    const now = this.o.now();
    if (now - e.last > this.o.forgetMs) {
      this.names.delete(name);
      return 0;
    }
    return Math.max(0, e.until - now);
  }

  failed(name: string): void {
    const now = this.o.now();
    const prev = this.names.get(name);
    const failures = prev && now - prev.last <= this.o.forgetMs ? prev.failures + 1 : 1;
    const over = failures - this.o.free;
    const until = over > 0 ? now + Math.min(this.o.maxMs, this.o.baseMs * 2 ** Math.min(over - 1, 30)) : now;
    this.names.delete(name); // re-inserted last: Map order is the eviction order
    this.names.set(name, { failures, until, last: now });
    while (this.names.size > this.o.maxNames) this.names.delete(this.names.keys().next().value!);
  }

  succeeded(name: string): void {
    this.names.delete(name);
  }

  /** Failures remembered for a name (status, tests). */
  failures(name: string): number {
    return this.names.get(name)?.failures ?? 0;
  }
}

/** What a login was admitted with: the ACL entry (normal sessions) and the authenticator, if any. */
export interface LoginAccess {
  readonly acl: string;
  readonly chap: ChapAuthenticator | undefined;
  /** The credentials it had to prove (a reload that changes them closes the session). */
  readonly credentials?: ChapCredentials | undefined;
}

/**
 * Why a live session may no longer go on under new rules (access removed, another ACL entry or
 * LUN map, other CHAP credentials), or undefined when it may. RFC 7143 has no re-authentication
 * within a session: the session ends and the initiator logs in again under the new rules.
 */
export function revoked(
  s: { initiatorName: string; acl: string; port: unknown; credentials?: ChapCredentials | undefined },
  rules: AccessRules,
  portFor: (acl: string) => unknown,
): string | undefined {
  const m = aclFor(rules, s.initiatorName);
  if (!m) return 'its access to the target was removed';
  if (m.label !== s.acl) return `it now falls under ACL entry ${m.label}`;
  if (portFor(m.label) !== s.port) return 'its LUN map changed';
  if (JSON.stringify(m.chap ?? null) !== JSON.stringify(s.credentials ?? null)) return 'its CHAP credentials changed';
  return undefined;
}

/**
 * The access decision for one login, once its leading keys are known: refused (02/02 for a
 * target this initiator may not use, 02/01 while its name is slowed down), or the
 * authenticators it must pass. `onAdmit` learns the ACL entry for the session.
 */
export function admitLogin(
  initiator: string,
  type: SessionType,
  rules: AccessRules | undefined,
  discoveryChap: ChapCredentials | undefined,
  throttle: LoginThrottle,
  onAdmit: (a: LoginAccess) => void,
): Admission {
  let match: AclMatch | undefined;
  if (type === 'Discovery') match = { label: 'discovery', chap: discoveryChap };
  else {
    match = aclFor(rules ?? {}, initiator);
    if (!match) return { status: LoginStatus.AuthorizationFailure, reason: `initiator ${initiator} is in no ACL of this target` };
  }
  if (!match.chap) {
    onAdmit({ acl: match.label, chap: undefined });
    return { authenticators: [] };
  }
  const slowed = (): string | undefined => {
    const wait = throttle.wait(initiator);
    return wait > 0 ? `${throttle.failures(initiator)} failed authentications from ${initiator}: refused for another ${Math.ceil(wait / 1000)} s` : undefined;
  };
  const now = slowed();
  if (now) return { status: LoginStatus.AuthFailure, reason: now };
  // checked again when the response arrives: logins opened in parallel wait like new ones
  const chap = new ChapAuthenticator(match.chap, undefined, slowed);
  onAdmit({ acl: match.label, chap, credentials: match.chap });
  return { authenticators: [chap as Authenticator] };
}

/** "CHAP (SHA-256, mutual)", "None": how a session authenticated, for logs and status. */
export function authDescription(chap: ChapAuthenticator | undefined): string {
  if (!chap) return 'None';
  return `CHAP (${chap.algorithm ?? '?'}${chap.mutual ? ', mutual' : ''})`;
}
