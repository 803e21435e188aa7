// Tape data encryption (SSC-4 data encryption; security protocol 20h of SPC-4's SECURITY PROTOCOL
// IN/OUT, pages in SSC-4's security protocol parameters): the data encryption parameters an application sets with the
// SET DATA ENCRYPTION page, the key held in this process's memory only (never logged, never on
// the cartridge; zeroed when cleared), and what a read or write of a block does with them.
// Parameters have a scope (SSC-4 set data encryption page): PUBLIC and ALL I_T NEXUS apply to every nexus, LOCAL
// to the nexus that set them; they are cleared on I_T nexus loss (LOCAL), on unload (CKOD), and
// on a reset (the key is volatile).
import { CheckCondition, invalidParamField, parameterListLength } from '../../scsi/sense.ts';
import { SenseKey, type AscPair } from '../../scsi/constants.ts';
import { RecordFlag, type RawRecord, type Sealer } from '../../media/cartridge.ts';
import { AES_256_GCM, AuthenticationError, KEY_LENGTH, keyCheckValue, openEnvelope, parseEnvelope, seal } from '../../media/crypto.ts';

const p = (asc: number, ascq: number): AscPair => Object.freeze({ asc, ascq });

/** SPC-4 security sense codes (ASC 74h). */
export const CryptoAsc = {
  UNABLE_TO_DECRYPT_DATA: p(0x74, 0x01),
  UNENCRYPTED_DATA_WHILE_DECRYPTING: p(0x74, 0x02),
  INCORRECT_DATA_ENCRYPTION_KEY: p(0x74, 0x03),
  CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED: p(0x74, 0x04),
  ENCRYPTED_BLOCK_NOT_RAW_READ_ENABLED: p(0x74, 0x0a),
} as const;

export const EncryptMode = { DISABLE: 0, EXTERNAL: 1, ENCRYPT: 2 } as const;
export const DecryptMode = { DISABLE: 0, RAW: 1, DECRYPT: 2, MIXED: 3 } as const;
export const Scope = { PUBLIC: 0, LOCAL: 1, ALL_IT_NEXUS: 2 } as const;
/** RDMC: 10b the block is readable in RAW mode, 11b it is not (SSC-4 set data encryption page). */
const RDMC_PROTECT = 3;

export interface EncryptionParams {
  scope: number;
  lock: boolean;
  ceem: number;
  rdmc: number;
  ckod: boolean;
  ckorp: boolean;
  ckorl: boolean;
  encrypt: number;
  decrypt: number;
  algorithm: number;
  key: Buffer | undefined;
  ukad: Buffer | undefined;
  akad: Buffer | undefined;
  /** Nexus that set LOCAL parameters. */
  owner: string;
}

/** One KAD descriptor (SSC-4 key-associated data descriptors): type, AUTHENTICATED, length, data. */
function kadDescriptor(type: number, authenticated: number, data: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h[1] = authenticated;
  h.writeUInt16BE(data.length, 2);
  return Buffer.concat([h, data]);
}

function dataProtect(code: AscPair): CheckCondition {
  return new CheckCondition(SenseKey.DATA_PROTECT, code);
}

export class TapeEncryption {
  private params: EncryptionParams | undefined;
  /** KEY INSTANCE COUNTER: incremented every time parameters are set (SSC-4 data encryption status page). */
  keyInstance = 0;
  private readonly log: (message: string) => void;
  constructor(log: (message: string) => void) {
    this.log = log;
  }

  /** The parameters that apply to commands from `nexus` (none: encryption and decryption disabled). */
  forNexus(nexus: string): EncryptionParams | undefined {
    const x = this.params;
    if (!x || (x.scope === Scope.LOCAL && x.owner !== nexus)) return undefined;
    return x;
  }

  get active(): boolean {
    return this.params !== undefined;
  }

  /** Clears the parameters and zeroes the key. */
  clear(reason: string): void {
    const x = this.params;
    if (!x) return;
    x.key?.fill(0);
    this.params = undefined;
    this.log(`data encryption parameters cleared (${reason})`);
  }

  unloaded(): void {
    if (this.params?.ckod) this.clear('cartridge unloaded, CKOD');
  }

  nexusLost(nexus: string): void {
    if (this.params?.scope === Scope.LOCAL && this.params.owner === nexus) this.clear('I_T nexus loss');
  }

  /** SET DATA ENCRYPTION page (SSC-4 set data encryption page), from SECURITY PROTOCOL OUT. */
  setDataEncryption(nexus: string, page: Buffer): void {
    if (page.length < 20) throw parameterListLength(6);
    const len = page.readUInt16BE(2);
    if (4 + len > page.length) throw parameterListLength(6);
    if (len < 16) throw invalidParamField(2);
    const b4 = page[4]!;
    const b5 = page[5]!;
    const scope = b4 >> 5;
    if (scope > Scope.ALL_IT_NEXUS) throw invalidParamField(4, 7);
    if (b4 & 0x1e) throw invalidParamField(4, 4);
    const cur = this.params;
    if (cur?.lock && cur.owner !== nexus) throw new CheckCondition(SenseKey.DATA_PROTECT, p(0x2c, 0x00)); // COMMAND SEQUENCE ERROR: locked by another nexus
    const encrypt = page[6]!;
    const decrypt = page[7]!;
    if (encrypt !== EncryptMode.DISABLE && encrypt !== EncryptMode.ENCRYPT) throw invalidParamField(6);
    if (decrypt > DecryptMode.MIXED) throw invalidParamField(7);
    const algorithm = page[8]!;
    const on = encrypt === EncryptMode.ENCRYPT || decrypt === DecryptMode.DECRYPT || decrypt === DecryptMode.MIXED;
    if (on && algorithm !== AES_256_GCM.index) throw invalidParamField(8);
    if (page[9] !== 0) throw invalidParamField(9); // LOGICAL BLOCK ENCRYPTION KEY FORMAT: plain text only
    const keyLen = page.readUInt16BE(18);
    if (20 + keyLen > 4 + len) throw invalidParamField(18);
    if (on && keyLen !== KEY_LENGTH) throw invalidParamField(18);
    let ukad: Buffer | undefined;
    let akad: Buffer | undefined;
    let off = 20 + keyLen;
    while (off < 4 + len) {
      if (off + 4 > 4 + len) throw invalidParamField(off);
      const type = page[off]!;
      const l = page.readUInt16BE(off + 2);
      if (off + 4 + l > 4 + len) throw invalidParamField(off + 2);
      const data = Buffer.from(page.subarray(off + 4, off + 4 + l));
      if (type === 0 && l <= 32 && !ukad) ukad = data;
      else if (type === 1 && l <= 12 && !akad) akad = data;
      else throw invalidParamField(off); // nonce and metadata KADs are not accepted (NONCE_C = 01b)
      off += 4 + l;
    }
    if (!on && (ukad || akad)) throw invalidParamField(20 + keyLen);
    this.clear('new parameters');
    this.keyInstance = (this.keyInstance + 1) >>> 0;
    if (!on && scope === Scope.PUBLIC && !(b4 & 1)) {
      this.log('data encryption off');
      return;
    }
    this.params = {
      scope,
      lock: (b4 & 1) !== 0,
      ceem: b5 >> 6,
      rdmc: (b5 >> 4) & 3,
      ckod: (b5 & 0x04) !== 0,
      ckorp: (b5 & 0x02) !== 0,
      ckorl: (b5 & 0x01) !== 0,
      encrypt,
      decrypt,
      algorithm,
      key: on ? Buffer.from(page.subarray(20, 20 + keyLen)) : undefined,
      ukad,
      akad,
      owner: nexus,
    };
    // the key itself is never logged; its instance number identifies it
    this.log(`data encryption: encryption mode ${encrypt}, decryption mode ${decrypt}, ${on ? 'AES-256-GCM' : 'no algorithm'}, key instance ${this.keyInstance}, scope ${scope}`);
  }

  /** The sealer for blocks written by `nexus`, or undefined when it does not encrypt. */
  sealer(nexus: string): Sealer | undefined {
    const x = this.forNexus(nexus);
    if (!x || x.encrypt !== EncryptMode.ENCRYPT || !x.key) return undefined;
    const key = x.key;
    const o = { algorithmIndex: x.algorithm, rdmd: x.rdmc === RDMC_PROTECT, ukad: x.ukad, akad: x.akad };
    return (stored, seq) => seal(stored, key, seq, o);
  }

  /**
   * The payload of a data block as `nexus` may see it (still compressed if it was): decrypted,
   * raw, or the check condition the decryption mode calls for.
   */
  open(nexus: string, raw: RawRecord): { payload: Buffer; raw: boolean } {
    const x = this.forNexus(nexus);
    const mode = x?.decrypt ?? DecryptMode.DISABLE;
    if (!(raw.flags & RecordFlag.ENCRYPTED)) {
      if (mode === DecryptMode.DECRYPT) throw dataProtect(CryptoAsc.UNENCRYPTED_DATA_WHILE_DECRYPTING);
      return { payload: raw.payload, raw: false };
    }
    const e = parseEnvelope(raw.payload, raw.seq);
    if (mode === DecryptMode.RAW) {
      if (!e || e.rdmd) throw dataProtect(CryptoAsc.ENCRYPTED_BLOCK_NOT_RAW_READ_ENABLED);
      return { payload: raw.payload, raw: true };
    }
    if (mode === DecryptMode.DISABLE || !x?.key || !e || e.algorithmIndex !== AES_256_GCM.index) throw dataProtect(CryptoAsc.UNABLE_TO_DECRYPT_DATA);
    if (!keyCheckValue(x.key).equals(e.kcv)) throw dataProtect(CryptoAsc.INCORRECT_DATA_ENCRYPTION_KEY);
    try {
      return { payload: openEnvelope(e, x.key), raw: false };
    } catch (err) {
      if (err instanceof AuthenticationError) throw dataProtect(CryptoAsc.CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED);
      throw err;
    }
  }

  /** DATA ENCRYPTION STATUS page (SSC-4 data encryption status page) for `nexus`. */
  statusPage(nexus: string): Buffer {
    const x = this.forNexus(nexus);
    const b = Buffer.alloc(24);
    b.writeUInt16BE(0x0020, 0);
    if (x) {
      b[4] = (x.scope << 5) | x.scope; // I_T NEXUS SCOPE, KEY SCOPE
      b[5] = x.encrypt;
      b[6] = x.decrypt;
      b[7] = x.key ? x.algorithm : 0;
      b[12] = (x.ceem << 1) | (x.rdmc === RDMC_PROTECT ? 1 : 0); // CEEMS, RDMD
    }
    b.writeUInt32BE(this.keyInstance, 8);
    const kads = x ? [...(x.ukad ? [kadDescriptor(0, 0, x.ukad)] : []), ...(x.akad ? [kadDescriptor(1, 0, x.akad)] : [])] : [];
    const out = Buffer.concat([b, ...kads]);
    out.writeUInt16BE(out.length - 4, 2);
    return out;
  }

  /**
   * NEXT BLOCK ENCRYPTION STATUS page (SSC-4 next block encryption status page) for the object at `pos`; `raw` is that
   * block (undefined for a filemark, a setmark or EOD).
   */
  nextBlockPage(nexus: string, pos: number, raw: RawRecord | undefined): Buffer {
    const b = Buffer.alloc(16);
    b.writeUInt16BE(0x0021, 0);
    b.writeBigUInt64BE(BigInt(pos), 4);
    const kads: Buffer[] = [];
    if (!raw) b[12] = 0x02; // the logical object is not a logical block
    else if (!(raw.flags & RecordFlag.ENCRYPTED)) b[12] = 0x03; // not encrypted
    else {
      const e = parseEnvelope(raw.payload, raw.seq);
      if (!e || e.algorithmIndex !== AES_256_GCM.index) b[12] = 0x04; // encrypted with an algorithm we do not know
      else {
        const key = this.forNexus(nexus)?.key;
        b[12] = key && keyCheckValue(key).equals(e.kcv) ? 0x05 : 0x06; // able to decrypt / not with this key
        b[13] = e.algorithmIndex;
        b[14] = e.rdmd ? 0x01 : 0x00; // RDMDS
        if (e.ukad?.length) kads.push(kadDescriptor(0, 1, e.ukad));
        if (e.akad?.length) kads.push(kadDescriptor(1, 3, e.akad));
      }
    }
    const out = Buffer.concat([b, ...kads]);
    out.writeUInt16BE(out.length - 4, 2);
    return out;
  }
}

/** DATA ENCRYPTION CAPABILITIES page (SSC-4 data encryption capabilities page): one algorithm, AES-256-GCM. */
export function capabilitiesPage(): Buffer {
  const b = Buffer.alloc(44);
  b.writeUInt16BE(0x0010, 0);
  b.writeUInt16BE(40, 2);
  b[4] = 0x01; // CFG_P = 01b: encryption may be configured
  const d = b.subarray(20);
  d[0] = AES_256_GCM.index;
  d.writeUInt16BE(20, 2); // descriptor length
  d[4] = 0x80 | 0x20 | 0x10 | (2 << 2) | 2; // AVFMV, MAC_C, DELB_C, DECRYPT_C = ENCRYPT_C = 10b (capable)
  d[5] = 0x10; // NONCE_C = 01b: the device generates the nonce
  d.writeUInt16BE(32, 6); // maximum U-KAD bytes
  d.writeUInt16BE(12, 8); // maximum A-KAD bytes
  d.writeUInt16BE(KEY_LENGTH, 10);
  d[12] = 0x08 | 0x01; // RDMC_C = 100b (RDMC honoured per block), EAREM
  d.writeUInt32BE(AES_256_GCM.id, 20);
  return b;
}
