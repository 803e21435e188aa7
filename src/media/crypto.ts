// Encrypted data blocks (SSC-4 data encryption, algorithm AES-256-GCM): the payload of
// an encrypted record is an envelope — its own header, the key-associated data the application
// gave (U-KAD in the clear, A-KAD authenticated), a per-block 96-bit nonce from node:crypto's
// CSPRNG, the GCM tag and the ciphertext. The key never reaches the cartridge: only an 8-byte
// key check value (a SHA-256 of a label and the key), so a read with another key is told apart
// from a damaged block without trying it. The record's logical object number is authenticated
// too, so a block copied to another position does not decrypt.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export const KEY_LENGTH = 32;
export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;
/** SSC-4 algorithm index 1 of our data encryption capabilities page: AES-256-GCM (00010014h). */
export const AES_256_GCM = { index: 1, id: 0x00010014 } as const;
const HEAD = 44;
const VERSION = 1;

export interface EnvelopeOptions {
  algorithmIndex: number;
  /** RDMD: raw decryption mode disabled for this block (the block is not returned in RAW mode). */
  rdmd: boolean;
  ukad?: Buffer;
  akad?: Buffer;
}

export interface Envelope extends EnvelopeOptions {
  kcv: Buffer;
  nonce: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
  /** Bytes 0..27 of the envelope header plus the KADs: authenticated with the sequence number. */
  aad: Buffer;
}

export class AuthenticationError extends Error {}

/** Key check value: identifies a key without revealing it. */
export function keyCheckValue(key: Buffer): Buffer {
  return createHash('sha256').update('fileio_tgt tape key check value\0').update(key).digest().subarray(0, 8);
}

function aadOf(head: Buffer, ukad: Buffer, akad: Buffer, seq: number): Buffer {
  const s = Buffer.alloc(8);
  s.writeBigUInt64LE(BigInt(seq));
  return Buffer.concat([head.subarray(0, 16), head.subarray(16, 28), ukad, akad, s]);
}

/** Encrypts one stored payload (after compression) for logical object `seq`. */
export function seal(plain: Buffer, key: Buffer, seq: number, o: EnvelopeOptions): Buffer {
  if (key.length !== KEY_LENGTH) throw new Error('AES-256-GCM needs a 32-byte key');
  const ukad = o.ukad ?? Buffer.alloc(0);
  const akad = o.akad ?? Buffer.alloc(0);
  const head = Buffer.alloc(HEAD);
  head[0] = VERSION;
  head[1] = o.algorithmIndex;
  head[2] = o.rdmd ? 1 : 0;
  head[3] = ukad.length;
  head[4] = akad.length;
  keyCheckValue(key).copy(head, 8);
  const nonce = randomBytes(NONCE_LENGTH);
  nonce.copy(head, 16);
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_LENGTH });
  c.setAAD(aadOf(head, ukad, akad, seq));
  const ct = Buffer.concat([c.update(plain), c.final()]);
  c.getAuthTag().copy(head, 28);
  return Buffer.concat([head, ukad, akad, ct]);
}

/** Splits an envelope; undefined when it is not one (too short, unknown version). */
export function parseEnvelope(payload: Buffer, seq: number): Envelope | undefined {
  if (payload.length < HEAD || payload[0] !== VERSION) return undefined;
  const ul = payload[3]!;
  const al = payload[4]!;
  if (HEAD + ul + al > payload.length) return undefined;
  const head = payload.subarray(0, HEAD);
  const ukad = payload.subarray(HEAD, HEAD + ul);
  const akad = payload.subarray(HEAD + ul, HEAD + ul + al);
  return {
    algorithmIndex: payload[1]!,
    rdmd: (payload[2]! & 1) !== 0,
    ukad,
    akad,
    kcv: head.subarray(8, 16),
    nonce: head.subarray(16, 28),
    tag: head.subarray(28, 44),
    ciphertext: payload.subarray(HEAD + ul + al),
    aad: aadOf(head, ukad, akad, seq),
  };
}

/** Decrypts and checks the tag; AuthenticationError when the tag does not match. */
export function openEnvelope(e: Envelope, key: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, e.nonce, { authTagLength: TAG_LENGTH });
  d.setAAD(e.aad);
  d.setAuthTag(e.tag);
  try {
    return Buffer.concat([d.update(e.ciphertext), d.final()]);
  } catch {
    throw new AuthenticationError('authentication tag mismatch');
  }
}
