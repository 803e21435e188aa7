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

/** Parses an RFC 7143 numeric value: decimal, 0x hex. Returns undefined when malformed. */
export function parseNumber(v: string): number | undefined {
  if (/^[0-9]{1,15}$/.test(v)) return Number(v);
  if (/^0[xX][0-9a-fA-F]{1,12}$/.test(v)) return parseInt(v.slice(2), 16);
  return undefined;
}

function parseBool(v: string): boolean | undefined {
  return v === 'Yes' ? true : v === 'No' ? false : undefined;
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
]);

/** Keys only the target declares; an initiator sending them gets no answer. */
export const TARGET_DECLARED = new Set(['TargetAlias', 'TargetAddress', 'TargetPortalGroupTag']);

/** Special answer values a peer sends back instead of a value. */
export const ANSWER_VALUES = new Set(['NotUnderstood', 'Irrelevant', 'Reject']);

export interface KeyOutcome {
  /** The value to answer with; undefined means no answer (declarative key). */
  answer?: string;
}

/**
 * Negotiates one operational key offered by the initiator, updating params. Login-only keys
 * (InitiatorName, TargetName, SessionType, AuthMethod) are the caller's business.
 */
export function negotiateOperationalKey(
  key: string,
  value: string,
  offer: TargetOffer,
  params: SessionParams,
  discovery: boolean,
): KeyOutcome {
  if (ANSWER_VALUES.has(value)) return {}; // an answer to something we never offered: ignore
  if (discovery && IRRELEVANT_IN_DISCOVERY.has(key)) return { answer: 'Irrelevant' };
  const num = NUMERIC[key];
  if (num) {
    const n = parseNumber(value);
    if (n === undefined || n < num.lo || n > num.hi) return { answer: 'Reject' };
    const ours = num.ours(offer);
    const result = num.kind === 'min' ? Math.min(n, ours) : Math.max(n, ours);
    params[num.field] = result;
    return { answer: String(result) };
  }
  const bool = BOOLEAN[key];
  if (bool) {
    const b = parseBool(value);
    if (b === undefined) return { answer: 'Reject' };
    const ours = bool.ours(offer);
    const result = bool.kind === 'or' ? b || ours : b && ours;
    params[bool.field] = result;
    return { answer: yn(result) };
  }
  switch (key) {
    case 'HeaderDigest':
    case 'DataDigest': {
      const allowed = key === 'HeaderDigest' ? offer.headerDigests : offer.dataDigests;
      const offered = value.split(',');
      // The responder picks the first value of the offerer's list that it supports.
      const pick = offered.find((v): v is DigestName => (allowed as readonly string[]).includes(v));
      if (!pick) return { answer: 'Reject' };
      if (key === 'HeaderDigest') params.headerDigest = pick === 'CRC32C';
      else params.dataDigest = pick === 'CRC32C';
      return { answer: pick };
    }
    case 'MaxRecvDataSegmentLength': {
      const n = parseNumber(value);
      if (n === undefined || n < 512 || n > 0xffffff) return { answer: 'Reject' };
      params.maxXmitDataSegmentLength = n;
      return {}; // declarative
    }
    case 'OFMarker':
    case 'IFMarker':
      return { answer: parseBool(value) === undefined ? 'Reject' : 'No' };
    case 'OFMarkInt':
    case 'IFMarkInt':
      return { answer: 'Irrelevant' };
    case 'RDMAExtensions':
      return { answer: parseBool(value) === undefined ? 'Reject' : 'No' };
    case 'TaskReporting': {
      const list = value.split(',');
      return { answer: list.includes('RFC3720') ? 'RFC3720' : 'Reject' };
    }
    case 'iSCSIProtocolLevel': {
      const n = parseNumber(value);
      if (n === undefined || n > 31) return { answer: 'Reject' };
      return { answer: String(Math.min(n, 1)) };
    }
    case 'InitiatorAlias':
      return {};
    case 'SendTargets':
      return { answer: 'Irrelevant' };
    default:
      if (TARGET_DECLARED.has(key)) return {};
      return { answer: 'NotUnderstood' };
  }
}

/** Clamps values whose relation the RFC fixes (FirstBurstLength <= MaxBurstLength). */
export function finalizeParams(p: SessionParams): SessionParams {
  if (p.firstBurstLength > p.maxBurstLength) p.firstBurstLength = p.maxBurstLength;
  return p;
}
