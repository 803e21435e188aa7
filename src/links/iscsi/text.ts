// Text segment codec (RFC 7143 §6.1): "key=value\0" pairs, carried by Login and Text PDUs, and
// split over several PDUs with the C (continue) bit when it does not fit in one.

export type KeyValue = readonly [key: string, value: string];

export class TextFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TextFormatError';
  }
}

/** Longest key name (§6.1: 63 bytes) and value we accept (SendTargets lists may be long). */
export const MAX_KEY_LENGTH = 63;
/**
 * A key name (§6.1): letters, digits, '.', '-', '+', '@', '_', starting with a letter (RFC 7144's
 * iSCSIProtocolLevel starts with a small one); public extension keys start with "X#" (§13).
 */
const KEY_NAME = /^(?:[A-Za-z]|X#)[A-Za-z0-9.\-+@_]*$/;
export const MAX_VALUE_LENGTH = 8192;

/** Parses a complete text segment (all continuation PDUs joined). Empty strings are skipped. */
export function parseTextKeys(data: Buffer): KeyValue[] {
  const out: KeyValue[] = [];
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0, start);
    if (end < 0) end = data.length; // tolerate a missing final NUL
    if (end > start) {
      const s = data.toString('utf8', start, end);
      const eq = s.indexOf('=');
      if (eq <= 0) throw new TextFormatError(`malformed text key "${s.slice(0, 80)}"`);
      const key = s.slice(0, eq);
      const value = s.slice(eq + 1);
      if (key.length > MAX_KEY_LENGTH) throw new TextFormatError(`text key "${key.slice(0, 80)}" is too long`);
      if (!KEY_NAME.test(key)) throw new TextFormatError(`malformed text key name ${JSON.stringify(key)}`);
      if (value.length > MAX_VALUE_LENGTH) throw new TextFormatError(`value of ${key} is too long`);
      out.push([key, value]);
    }
    start = end + 1;
  }
  return out;
}

export function encodeTextKeys(pairs: readonly KeyValue[]): Buffer {
  if (pairs.length === 0) return Buffer.alloc(0);
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

/**
 * Joins the data segments of a PDU sequence sent with C=1 until the PDU with C=0.
 * Bounded: a sequence longer than maxBytes is an error.
 */
export class TextAccumulator {
  private parts: Buffer[] = [];
  private size = 0;
  private readonly maxBytes: number;

  constructor(maxBytes = 64 * 1024) {
    this.maxBytes = maxBytes;
  }

  get pending(): boolean {
    return this.parts.length > 0;
  }

  /** Adds one PDU's data; returns the whole segment when `cont` is false, else undefined. */
  add(data: Buffer, cont: boolean): Buffer | undefined {
    this.size += data.length;
    if (this.size > this.maxBytes) {
      this.reset();
      throw new TextFormatError(`text sequence longer than ${this.maxBytes} bytes`);
    }
    if (data.length) this.parts.push(data);
    if (cont) {
      if (!data.length) this.parts.push(data); // remember that a sequence is open
      return undefined;
    }
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.reset();
    return all;
  }

  reset(): void {
    this.parts = [];
    this.size = 0;
  }
}

/**
 * Splits an outgoing text segment into PDU-sized pieces: every piece but the last goes out
 * with C=1, and the initiator asks for the next one with an empty request.
 */
export class TextSender {
  private readonly data: Buffer;
  private offset = 0;

  constructor(data: Buffer) {
    this.data = data;
  }

  get done(): boolean {
    return this.offset >= this.data.length;
  }

  /** The next piece of at most maxLen bytes and whether more follow (the C bit). */
  nextPiece(maxLen: number): { data: Buffer; cont: boolean } {
    const end = Math.min(this.data.length, this.offset + Math.max(1, maxLen));
    const data = this.data.subarray(this.offset, end);
    this.offset = end;
    return { data, cont: end < this.data.length };
  }
}

/**
 * The TargetName a first Login Request asks for (normal sessions: RFC 7143 §13.4 has the
 * initiator send it in its first Login Request), from the complete key=value pairs of its text;
 * undefined for a discovery session or when it is not there.
 */
export function loginTargetName(data: Buffer): string | undefined {
  let name: string | undefined;
  let start = 0;
  for (let end = data.indexOf(0, start); end >= 0; end = data.indexOf(0, start)) {
    const pair = data.toString('utf8', start, end);
    start = end + 1;
    if (pair === 'SessionType=Discovery') return undefined;
    if (pair.startsWith('TargetName=')) name = pair.slice('TargetName='.length);
  }
  return name;
}
