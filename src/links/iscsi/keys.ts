// Operational text keys of RFC 7143 §13: value syntax, ranges, defaults and the result function
// of each, as pure functions. The login state machine (negotiation.ts) and the full-feature
// Text handler both use them.

export type DigestName = 'None' | 'CRC32C';

/** What this target offers / accepts (all overridable through server options). */
export interface TargetOffer {
  maxRecvDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxOutstandingR2T: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  /** We implement ERL 0 only. */
  errorRecoveryLevel: number;
  /** Acceptable digests, in our order of preference. */
  headerDigests: readonly DigestName[];
  dataDigests: readonly DigestName[];
}

export const DEFAULT_OFFER: TargetOffer = {
  maxRecvDataSegmentLength: 256 * 1024,
  maxBurstLength: 8 * 1024 * 1024,
  firstBurstLength: 256 * 1024,
  initialR2T: false,
  immediateData: true,
  maxOutstandingR2T: 8,
  defaultTime2Wait: 2,
  defaultTime2Retain: 0,
  errorRecoveryLevel: 0,
  headerDigests: ['None', 'CRC32C'],
  dataDigests: ['None', 'CRC32C'],
};

/** The negotiated session/connection parameters. */
export interface SessionParams {
  headerDigest: boolean;
  dataDigest: boolean;
  /** What we receive per PDU (our declaration). */
  maxRecvDataSegmentLength: number;
  /** What we may send per PDU (the initiator's MaxRecvDataSegmentLength). */
  maxXmitDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxOutstandingR2T: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  errorRecoveryLevel: number;
  maxConnections: number;
}

/** RFC 7143 defaults, which hold for every key that is not negotiated. */
export function rfcDefaults(): SessionParams {
  return {
    headerDigest: false,
    dataDigest: false,
    maxRecvDataSegmentLength: 8192,
    maxXmitDataSegmentLength: 8192,
    maxBurstLength: 262144,
    firstBurstLength: 65536,
    initialR2T: true,
    immediateData: true,
    maxOutstandingR2T: 1,
    dataPDUInOrder: true,
    dataSequenceInOrder: true,
    defaultTime2Wait: 2,
    defaultTime2Retain: 20,
    errorRecoveryLevel: 0,
    maxConnections: 1,
  };
}

/**
 * Parses a numerical value (RFC 7143 §6.1): a decimal-constant (a single 0, or a digit 1-9 and
 * more digits: no sign, no spaces, no leading zeros) or a hex-constant (0x or 0X and one or more
 * hex digits), always less than 2^64. The base64 form (0b...) is for binary values only.
 * Returns undefined when malformed; values beyond 2^53 come back inexact, which only matters
 * to range checks that they fail anyway.
 */
export function parseNumber(v: string): number | undefined {
  if (!/^(?:0|[1-9][0-9]*|0[xX][0-9a-fA-F]+)$/.test(v)) return undefined;
  const n = BigInt(v);
  return n < 1n << 64n ? Number(n) : undefined;
}

/** A boolean-value (RFC 7143 §6.1): exactly Yes or No. */
export function parseBool(v: string): boolean | undefined {
  return v === 'Yes' ? true : v === 'No' ? false : undefined;
}

/** A list-of-values (RFC 7143 §6.1): non-empty values separated by commas; undefined if malformed. */
export function parseList(v: string): string[] | undefined {
  const list = v.split(',');
  return list.every((x) => x.length > 0) ? list : undefined;
}

/** Longest value of a key (RFC 7143 §6.1: 255 bytes unless the key says otherwise). */
export const MAX_SIMPLE_VALUE = 255;
/** Longest iSCSI name (RFC 7143 §4.2.7: 223 bytes in UTF-8). */
export const MAX_NAME_BYTES = 223;

/**
 * An iSCSI name in one of the three formats of RFC 7143 §4.2.7 (iqn.yyyy-mm.reversed-domain
 * with an optional ":..." part, eui. and 16 hex digits, naa. and 16 or 32 hex digits), of at
 * most 223 bytes, made of a-z, 0-9, '-', '.', ':' or non-ASCII characters (names are compared
 * after case folding, so upper case is folded rather than refused).
 */
export function isIscsiName(name: string): boolean {
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return false;
  const n = name.toLowerCase();
  if (!/^[a-z0-9.:\-\u0080-\uffff]+$/.test(n)) return false;
  if (n.startsWith('iqn.')) return /^iqn\.[0-9]{4}-(?:0[1-9]|1[0-2])\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::.+)?$/.test(n);
  if (n.startsWith('eui.')) return /^eui\.[0-9a-f]{16}$/.test(n);
  if (n.startsWith('naa.')) return /^naa\.(?:[0-9a-f]{16}|[0-9a-f]{32})$/.test(n);
  return false;
}

const yn = (b: boolean): string => (b ? 'Yes' : 'No');

type NumKey = 'maxBurstLength' | 'firstBurstLength' | 'maxOutstandingR2T' | 'defaultTime2Wait' | 'defaultTime2Retain' | 'errorRecoveryLevel' | 'maxConnections';
type BoolKey = 'initialR2T' | 'immediateData' | 'dataPDUInOrder' | 'dataSequenceInOrder';

interface NumSpec {
  kind: 'min' | 'max';
  field: NumKey;
  lo: number;
  hi: number;
  ours: (o: TargetOffer) => number;
}
interface BoolSpec {
  kind: 'or' | 'and';
  field: BoolKey;
  ours: (o: TargetOffer) => boolean;
}

const NUMERIC: Record<string, NumSpec> = {
  MaxBurstLength: { kind: 'min', field: 'maxBurstLength', lo: 512, hi: 0xffffff, ours: (o) => o.maxBurstLength },
  FirstBurstLength: { kind: 'min', field: 'firstBurstLength', lo: 512, hi: 0xffffff, ours: (o) => o.firstBurstLength },
  MaxOutstandingR2T: { kind: 'min', field: 'maxOutstandingR2T', lo: 1, hi: 65535, ours: (o) => o.maxOutstandingR2T },
  DefaultTime2Wait: { kind: 'max', field: 'defaultTime2Wait', lo: 0, hi: 3600, ours: (o) => o.defaultTime2Wait },
  DefaultTime2Retain: { kind: 'min', field: 'defaultTime2Retain', lo: 0, hi: 3600, ours: (o) => o.defaultTime2Retain },
  ErrorRecoveryLevel: { kind: 'min', field: 'errorRecoveryLevel', lo: 0, hi: 2, ours: (o) => o.errorRecoveryLevel },
  MaxConnections: { kind: 'min', field: 'maxConnections', lo: 1, hi: 65535, ours: () => 1 },
};

const BOOLEAN: Record<string, BoolSpec> = {
  InitialR2T: { kind: 'or', field: 'initialR2T', ours: (o) => o.initialR2T },
  ImmediateData: { kind: 'and', field: 'immediateData', ours: (o) => o.immediateData },
  DataPDUInOrder: { kind: 'or', field: 'dataPDUInOrder', ours: () => true },
  DataSequenceInOrder: { kind: 'or', field: 'dataSequenceInOrder', ours: () => true },
};

/** Keys that make no sense in a discovery session (RFC 7143 §13: "Irrelevant when: SessionType=Discovery"). */
const IRRELEVANT_IN_DISCOVERY = new Set([
  'MaxConnections',
  'InitialR2T',
  'ImmediateData',
  'MaxBurstLength',
  'FirstBurstLength',
  'MaxOutstandingR2T',
  'DataPDUInOrder',
  'DataSequenceInOrder',
  'TaskReporting',
]);

/** Keys only the target sends (RFC 7143 §13.6, §13.8, §13.9: "Senders: Target"). */
export const TARGET_DECLARED = new Set(['TargetAlias', 'TargetAddress', 'TargetPortalGroupTag']);

/**
 * Constants a responder answers with, never a value to offer: offering one is a protocol error
 * (RFC 7143 §6.2).
 */
export const ANSWER_VALUES = new Set(['NotUnderstood', 'Irrelevant', 'Reject']);

/**
 * What one key sent by the initiator comes to: an answer (undefined: none, the key is
 * declarative), or a protocol error, which ends a login with Initiator Error (02/00).
 */
export interface KeyOutcome {
  answer?: string;
  error?: string;
}

const malformed = (key: string, value: string, form: string): KeyOutcome => ({
  error: `${key}=${JSON.stringify(value.slice(0, 40))} is not ${form} (RFC 7143 §6.1)`,
});

/**
 * Negotiates one operational key offered or declared by the initiator, updating params. The
 * rules (RFC 7143 §6.1-6.2, §13): a value that is not of the key's form (decimal or 0x hex
 * numbers below 2^64, Yes/No, a list of non-empty values, at most 255 bytes) or a reserved
 * answer constant offered as a value is a protocol error; a well-formed offer outside the key's
 * range is answered Reject and the key keeps its value (§6.2.2); a declaration we cannot take
 * (MaxRecvDataSegmentLength out of 512..2^24-1) is a protocol error, since there is no answer
 * to refuse it with; keys only the target sends are a protocol error from the initiator.
 * Login-only keys (InitiatorName, TargetName, SessionType, AuthMethod, CHAP_*) are the caller's
 * business.
 */
export function negotiateOperationalKey(
  key: string,
  value: string,
  offer: TargetOffer,
  params: SessionParams,
  discovery: boolean,
): KeyOutcome {
  const num = NUMERIC[key];
  const bool = BOOLEAN[key];
  const known = num !== undefined || bool !== undefined || KNOWN_OTHER.has(key);
  if (!known) return key === 'SendTargets' ? { answer: 'Irrelevant' } : { answer: 'NotUnderstood' }; // §13.3: full feature phase only
  if (ANSWER_VALUES.has(value)) return { error: `${key}=${value}: ${value} is an answer, not a value to offer (RFC 7143 §6.2)` };
  if (Buffer.byteLength(value, 'utf8') > MAX_SIMPLE_VALUE) return { error: `value of ${key} longer than ${MAX_SIMPLE_VALUE} bytes (RFC 7143 §6.1)` };
  if (TARGET_DECLARED.has(key)) return { error: `${key} is sent by targets only (RFC 7143 §13)` };
  if (discovery && IRRELEVANT_IN_DISCOVERY.has(key)) return { answer: 'Irrelevant' };
  if (num) {
    const n = parseNumber(value);
    if (n === undefined) return malformed(key, value, 'a decimal or 0x hex number below 2^64');
    if (n < num.lo || n > num.hi) return { answer: 'Reject' };
    const ours = num.ours(offer);
    const result = num.kind === 'min' ? Math.min(n, ours) : Math.max(n, ours);
    params[num.field] = result;
    return { answer: String(result) };
  }
  if (bool) {
    const b = parseBool(value);
    if (b === undefined) return malformed(key, value, 'Yes or No');
    const ours = bool.ours(offer);
    const result = bool.kind === 'or' ? b || ours : b && ours;
    params[bool.field] = result;
    return { answer: yn(result) };
  }
  switch (key) {
    case 'HeaderDigest':
    case 'DataDigest': {
      const offered = parseList(value);
      if (!offered) return malformed(key, value, 'a list of values');
      const allowed = key === 'HeaderDigest' ? offer.headerDigests : offer.dataDigests;
      // §6.2.1: the responder picks the first value of the offerer's list that it supports.
      const pick = offered.find((v): v is DigestName => (allowed as readonly string[]).includes(v));
      if (!pick) return { answer: 'Reject' };
      if (key === 'HeaderDigest') params.headerDigest = pick === 'CRC32C';
      else params.dataDigest = pick === 'CRC32C';
      return { answer: pick };
    }
    case 'MaxRecvDataSegmentLength': {
      const n = parseMaxRecvDataSegmentLength(value);
      if (typeof n === 'string') return { error: n };
      params.maxXmitDataSegmentLength = n;
      return {}; // declarative
    }
    case 'OFMarker':
    case 'IFMarker':
    case 'RDMAExtensions':
      // §13.25: obsoleted markers may be answered No (we have none); RFC 7145: no iSER on TCP
      return parseBool(value) === undefined ? malformed(key, value, 'Yes or No') : { answer: 'No' };
    case 'OFMarkInt':
    case 'IFMarkInt':
      return { answer: 'Reject' }; // §13.25: MUST be answered Reject
    case 'TaskReporting': {
      const list = parseList(value);
      if (!list) return malformed(key, value, 'a list of values');
      return { answer: list.includes('RFC3720') ? 'RFC3720' : 'Reject' };
    }
    case 'iSCSIProtocolLevel': {
      const n = parseNumber(value);
      if (n === undefined) return malformed(key, value, 'a decimal or 0x hex number below 2^64');
      if (n > 31) return { answer: 'Reject' };
      return { answer: String(Math.min(n, 1)) };
    }
    default:
      return {}; // InitiatorAlias: declarative
  }
}

/** Keys of §13 (and RFC 7144/7145) handled here besides the numerical and boolean ones. */
const KNOWN_OTHER = new Set([
  'HeaderDigest',
  'DataDigest',
  'MaxRecvDataSegmentLength',
  'OFMarker',
  'IFMarker',
  'OFMarkInt',
  'IFMarkInt',
  'RDMAExtensions',
  'TaskReporting',
  'iSCSIProtocolLevel',
  'InitiatorAlias',
  ...TARGET_DECLARED,
]);

/**
 * MaxRecvDataSegmentLength as declared by the initiator (RFC 7143 §13.12: 512..2^24-1), in the
 * login or in a Text Request; a string says why it cannot be taken.
 */
export function parseMaxRecvDataSegmentLength(value: string): number | string {
  const n = parseNumber(value);
  if (n === undefined) return `MaxRecvDataSegmentLength=${JSON.stringify(value.slice(0, 40))} is not a decimal or 0x hex number (RFC 7143 §6.1)`;
  if (n < 512 || n > 0xffffff) return `MaxRecvDataSegmentLength=${value} is outside 512..16777215 (RFC 7143 §13.12)`;
  return n;
}

/** Clamps values whose relation the RFC fixes (FirstBurstLength <= MaxBurstLength). */
export function finalizeParams(p: SessionParams): SessionParams {
  if (p.firstBurstLength > p.maxBurstLength) p.firstBurstLength = p.maxBurstLength;
  return p;
}
