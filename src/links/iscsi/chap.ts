// CHAP for the iSCSI security stage (RFC 7143 §12.1.3 over RFC 1994): the algorithm list
// (CHAP_A), our challenge (CHAP_I, CHAP_C), the initiator's answer (CHAP_N, CHAP_R) and, for
// mutual CHAP, the initiator's challenge and our answer. Pure: bytes in, keys out; randomness is
// node:crypto unless a test injects it; every comparison of secret-derived bytes is constant-time.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LoginStatus } from './constants.ts';
import type { KeyValue } from './text.ts';

/** CHAP_A values (IANA "PPP Authentication Algorithms"): what Linux initiators offer today. */
export const CHAP_ALGORITHMS = [
  { code: 5, name: 'MD5', hash: 'md5', length: 16 },
  { code: 6, name: 'SHA1', hash: 'sha1', length: 20 },
  { code: 7, name: 'SHA-256', hash: 'sha256', length: 32 },
  { code: 8, name: 'SHA3-256', hash: 'sha3-256', length: 32 },
] as const;
export type ChapAlgorithm = (typeof CHAP_ALGORITHMS)[number];
export type ChapAlgorithmName = ChapAlgorithm['name'];
export const CHAP_ALGORITHM_NAMES: readonly ChapAlgorithmName[] = CHAP_ALGORITHMS.map((a) => a.name);

/** RFC 7143 §9.2.1: secrets with fewer than 96 random bits need IPsec; we refuse them. */
export const MIN_SECRET_BYTES = 12;
/** RFC 7143 §12.1.3: a CHAP_C longer than 1024 bytes is an error. */
export const MAX_CHALLENGE_BYTES = 1024;
/** Our challenges: as long as the digest, and never under 16 bytes. */
export const MIN_CHALLENGE_BYTES = 16;

export interface ChapSecret {
  readonly user: string;
  readonly secret: string;
}

export interface ChapCredentials extends ChapSecret {
  /** What the target answers with when the initiator asks it to authenticate (mutual CHAP). */
  readonly mutual?: ChapSecret | undefined;
  /** Algorithms accepted, any order (default: all of CHAP_ALGORITHMS). */
  readonly algorithms?: readonly ChapAlgorithmName[] | undefined;
}

/** RFC 1994 §4.1: Response = H(Identifier || secret || Challenge). */
export function chapResponse(alg: ChapAlgorithm, id: number, secret: string | Buffer, challenge: Buffer): Buffer {
  return createHash(alg.hash).update(Buffer.from([id & 0xff])).update(secret).update(challenge).digest();
}

/** RFC 7143 §6.1 binary-value: "0x"/"0X" + hex digits (odd count: a leading 0 implied), or "0b"/"0B" + base64. */
export function decodeBinary(text: string): Buffer | undefined {
  const prefix = text.slice(0, 2).toLowerCase();
  const body = text.slice(2);
  if (body.length === 0) return undefined;
  if (prefix === '0x') {
    if (!/^[0-9a-fA-F]+$/.test(body)) return undefined;
    return Buffer.from(body.length % 2 ? `0${body}` : body, 'hex');
  }
  if (prefix === '0b') {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return undefined;
    return Buffer.from(body, 'base64');
  }
  return undefined;
}

export function encodeBinary(b: Buffer): string {
  return `0x${b.toString('hex')}`;
}

/** Constant-time equality of two strings (lengths are hidden too: both are hashed first). */
export function sameSecretText(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export type ChapStep = { answers: KeyValue[]; authenticated: boolean } | { status: number; reason: string };

/**
 * One login's CHAP exchange, target side. States: waiting for CHAP_A; challenge sent, waiting for
 * CHAP_N/CHAP_R; done. Any other key sequence fails the login with 02/01.
 */
export class ChapAuthenticator {
  readonly method = 'CHAP';
  private readonly creds: ChapCredentials;
  private readonly random: (n: number) => Buffer;
  private readonly gate: (() => string | undefined) | undefined;
  private state: 'algorithm' | 'response' | 'done' = 'algorithm';
  private alg: ChapAlgorithm | undefined;
  private id = 0;
  private challenge: Buffer = Buffer.alloc(0);
  /** Set once the initiator is authenticated: whether the target authenticated itself too. */
  mutual = false;

  /**
   * `gate` is asked right before a response is checked: a reason refuses the response unchecked
   * (logins opened in parallel before a slow-down began get no guesses once it has).
   */
  constructor(creds: ChapCredentials, random: (n: number) => Buffer = randomBytes, gate?: () => string | undefined) {
    this.creds = creds;
    this.random = random;
    this.gate = gate;
  }

  /** The negotiated algorithm's name, once chosen. */
  get algorithm(): ChapAlgorithmName | undefined {
    return this.alg?.name;
  }

  /** Handles the CHAP_* keys of one security-stage PDU. */
  step(keys: readonly KeyValue[]): ChapStep {
    const fail = (reason: string): ChapStep => ({ status: LoginStatus.AuthFailure, reason });
    const got = new Map<string, string>();
    for (const [k, v] of keys) {
      if (got.has(k)) return fail(`${k} sent twice`);
      got.set(k, v);
    }
    if (got.size === 0) return { answers: [], authenticated: this.state === 'done' };
    if (this.state === 'algorithm') {
      const a = got.get('CHAP_A');
      if (a === undefined || got.size !== 1) return fail(`expected CHAP_A first, got ${[...got.keys()].join(', ')}`);
      const allowed = this.creds.algorithms ?? CHAP_ALGORITHM_NAMES;
      // §12.1.3: the initiator lists algorithms by preference; we take the first we accept.
      const alg = a
        .split(',')
        .map((x) => CHAP_ALGORITHMS.find((c) => String(c.code) === x.trim()))
        .find((c) => c !== undefined && allowed.includes(c.name));
      if (!alg) return fail(`no acceptable CHAP algorithm in CHAP_A=${a.slice(0, 64)} (accepted: ${allowed.join(', ')})`);
      this.alg = alg;
      this.id = this.random(1)[0]!;
      this.challenge = this.random(Math.max(MIN_CHALLENGE_BYTES, alg.length));
      this.state = 'response';
      return {
        answers: [
          ['CHAP_A', String(alg.code)],
          ['CHAP_I', String(this.id)],
          ['CHAP_C', encodeBinary(this.challenge)],
        ],
        authenticated: false,
      };
    }
    if (this.state === 'done') return fail(`CHAP keys after the exchange completed (${[...got.keys()].join(', ')})`);
    const alg = this.alg!;
    this.state = 'done'; // one response per login: right or wrong, the exchange is over
    for (const k of got.keys()) if (!['CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C'].includes(k)) return fail(`unexpected ${k} in the CHAP response`);
    const name = got.get('CHAP_N');
    const r = got.get('CHAP_R');
    if (name === undefined || r === undefined) return fail('CHAP_N and CHAP_R are required');
    const response = decodeBinary(r);
    if (!response || response.length !== alg.length) return fail(`CHAP_R is not a ${alg.length}-byte ${alg.name} digest`);
    const iI = got.get('CHAP_I');
    const iC = got.get('CHAP_C');
    if ((iI === undefined) !== (iC === undefined)) return fail('mutual CHAP needs both CHAP_I and CHAP_C');
    let theirId = 0;
    let theirChallenge: Buffer | undefined;
    if (iI !== undefined && iC !== undefined) {
      if (!/^\d{1,3}$/.test(iI) || Number(iI) > 255) return fail(`CHAP_I=${iI.slice(0, 16)} is not 0-255`);
      theirId = Number(iI);
      theirChallenge = decodeBinary(iC);
      if (!theirChallenge || theirChallenge.length > MAX_CHALLENGE_BYTES) return fail('the initiator\'s CHAP_C is not a binary value of 1-1024 bytes');
    }
    const closed = this.gate?.();
    if (closed) return fail(closed);
    // Verify the initiator before answering its challenge: a target that answers first is an oracle.
    const expected = chapResponse(alg, this.id, this.creds.secret, this.challenge);
    const userOk = sameSecretText(name, this.creds.user);
    const responseOk = timingSafeEqual(expected, response);
    if (!userOk) return fail(`CHAP_N is not the configured user name`);
    if (!responseOk) return fail(`wrong CHAP response (${alg.name}) for the configured user`);
    if (!theirChallenge) return { answers: [], authenticated: true };
    const m = this.creds.mutual;
    if (!m) return fail('the initiator asks the target to authenticate (mutual CHAP), but no mutual credentials are configured');
    // §12.1.3: a challenge that reflects ours would make us compute the answer to our own question.
    if (theirChallenge.length === this.challenge.length && timingSafeEqual(theirChallenge, this.challenge)) return fail('the initiator\'s CHAP challenge reflects ours');
    if (sameSecretText(m.secret, this.creds.secret)) return fail('the target and initiator CHAP secrets are the same');
    this.mutual = true;
    return {
      answers: [
        ['CHAP_N', m.user],
        ['CHAP_R', encodeBinary(chapResponse(alg, theirId, m.secret, theirChallenge))],
      ],
      authenticated: true,
    };
  }
}

/** The initiator's side of CHAP, for tests and tools: its CHAP_N/CHAP_R (and mutual check). */
export function initiatorAnswer(alg: ChapAlgorithm, id: number, challenge: Buffer, creds: ChapSecret): KeyValue[] {
  return [
    ['CHAP_N', creds.user],
    ['CHAP_R', encodeBinary(chapResponse(alg, id, creds.secret, challenge))],
  ];
}
