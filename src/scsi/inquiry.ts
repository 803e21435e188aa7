// INQUIRY (SPC-5 §6.7): standard data and the VPD pages every device type has (00h, 80h, 83h, 86h).
// Handler-specific VPD pages (B0h/B1h/B2h for block devices) come from LU options.
import { createHash } from 'node:crypto';
import type { Nexus } from './command.ts';
import { checkReserved, truncate, u16 } from './cdb.ts';
import { invalidCdbField } from './sense.ts';
import type { CommandContext } from './table.ts';

/** How a logical unit names itself. */
export interface LuIdentity {
  /** T10 vendor identification, 8 ASCII characters (padded). */
  readonly vendor: string;
  /** Product identification, 16 ASCII characters (padded). */
  readonly product: string;
  /** Product revision level, 4 ASCII characters (padded). */
  readonly revision: string;
  /** Unit serial number (VPD 80h). */
  readonly serial: string;
  /** 16-byte NAA IEEE Registered Extended identifier (VPD 83h). */
  readonly naa: Buffer;
}

/**
 * IEEE company id in our NAA 6 designators. This project owns no OUI; we use 00-14-05, the id the
 * Linux LIO target puts in its NAA designators (see target_core_spc.c), so initiators that special-
 * case it already treat such LUs as software targets. The 100 vendor-specific bits are a SHA-256 of
 * vendor, serial and name, so a collision with a LIO LU is improbable. Override with
 * DeviceConfig.options.naaCompanyId (a 24-bit number) if you own an OUI.
 */
export const DEFAULT_NAA_COMPANY_ID = 0x001405;

/** Derives the identity of a device from its configuration. */
export function deriveIdentity(o: {
  name: string;
  vendor?: string;
  product?: string;
  revision?: string;
  serial?: string;
  companyId?: number;
}): LuIdentity {
  const vendor = o.vendor ?? 'FILEIO';
  const product = o.product ?? o.name;
  const serial = o.serial ?? createHash('sha256').update(`fileio_tgt\0${o.name}`).digest('hex').slice(0, 16);
  const h = createHash('sha256').update(`${vendor}\0${serial}\0${o.name}`).digest();
  const cid = (o.companyId ?? DEFAULT_NAA_COMPANY_ID) & 0xffffff;
  const naa = Buffer.alloc(16);
  // NAA 6h | 24-bit company id | 36-bit vendor specific | 64-bit vendor specific extension
  naa[0] = 0x60 | (cid >> 20);
  naa[1] = (cid >> 12) & 0xff;
  naa[2] = (cid >> 4) & 0xff;
  naa[3] = ((cid & 0x0f) << 4) | (h[0]! & 0x0f);
  h.copy(naa, 4, 1, 13);
  return { vendor, product, revision: o.revision ?? '0001', serial, naa };
}

/**
 * The identity of a configured device: its name, vendor, product, revision and serial, and the
 * NAA company id from the handler option naaCompanyId (a number) when there is one.
 */
export function identityOf(config: { name: string; vendor?: string; product?: string; revision?: string; serial?: string; options?: Record<string, unknown> }): LuIdentity {
  const companyId = config.options?.['naaCompanyId'];
  return deriveIdentity({
    name: config.name,
    vendor: config.vendor,
    product: config.product,
    revision: config.revision,
    serial: config.serial,
    companyId: typeof companyId === 'number' ? companyId : undefined,
  });
}

/** ASCII field padded with spaces; non-printable characters become '_'. */
export function asciiField(s: string, len: number): Buffer {
  const clean = [...s].map((c) => (c >= ' ' && c <= '~' ? c : '_')).join('');
  return Buffer.from(clean.slice(0, len).padEnd(len, ' '), 'ascii');
}

export interface InquiryProfile {
  readonly peripheralType: number;
  readonly removable: boolean;
  readonly identity: LuIdentity;
  readonly versionDescriptors: readonly number[];
  /** Extended INQUIRY flags. */
  readonly volatileCache: boolean;
  readonly nonVolatileCache: boolean;
  /** Extra VPD pages: page code -> payload after the 4-byte header. */
  readonly vpd: ReadonlyMap<number, (ctx: CommandContext) => Buffer>;
}

/** Standard INQUIRY data, 96 bytes. `qualifier` is 0 (connected) or 3 (not capable). */
export function standardInquiry(p: {
  qualifier: number;
  peripheralType: number;
  removable: boolean;
  identity: LuIdentity;
  versionDescriptors: readonly number[];
}): Buffer {
  const b = Buffer.alloc(96);
  b[0] = ((p.qualifier & 7) << 5) | (p.peripheralType & 0x1f);
  b[1] = p.removable ? 0x80 : 0;
  b[2] = 0x06; // SPC-4
  b[3] = 0x10 | 0x02; // HISUP, RESPONSE DATA FORMAT 2
  b[4] = b.length - 5;
  b[7] = 0x02; // CMDQUE
  asciiField(p.identity.vendor, 8).copy(b, 8);
  asciiField(p.identity.product, 16).copy(b, 16);
  asciiField(p.identity.revision, 4).copy(b, 32);
  p.versionDescriptors.slice(0, 8).forEach((v, i) => b.writeUInt16BE(v, 58 + 2 * i));
  return b;
}

function vpdPage(peripheral: number, page: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = peripheral;
  h[1] = page;
  h.writeUInt16BE(payload.length, 2);
  return Buffer.concat([h, payload]);
}

function designator(codeSet: number, piv: boolean, proto: number, assoc: number, type: number, value: Buffer): Buffer {
  const h = Buffer.from([
    ((piv ? proto : 0) << 4) | codeSet,
    (piv ? 0x80 : 0) | (assoc << 4) | type,
    0,
    value.length,
  ]);
  return Buffer.concat([h, value]);
}

/** A NUL-terminated UTF-8 string padded to a multiple of 4 bytes (SCSI name string). */
function nameString(s: string): Buffer {
  const raw = Buffer.from(s, 'utf8');
  const len = Math.min(256, (raw.length + 1 + 3) & ~3);
  const out = Buffer.alloc(len);
  raw.copy(out, 0, 0, len - 1);
  return out;
}

/** VPD 83h: NAA, T10 vendor id, relative target port, target port group, SCSI name strings. */
export function deviceIdentification(identity: LuIdentity, nexus: Nexus | undefined): Buffer {
  const parts: Buffer[] = [];
  parts.push(designator(1, false, 0, 0, 3, identity.naa));
  parts.push(designator(2, false, 0, 0, 1, Buffer.concat([asciiField(identity.vendor, 8), Buffer.from(identity.serial, 'ascii')])));
  if (nexus) {
    const proto = nexus.transportId.length > 0 ? nexus.transportId[0]! & 0x0f : 0;
    const piv = nexus.transportId.length > 0;
    const rtp = Buffer.alloc(4);
    rtp.writeUInt16BE(nexus.relativeTargetPort & 0xffff, 2);
    parts.push(designator(1, piv, proto, 1, 4, rtp));
    const tpg = Buffer.alloc(4);
    tpg.writeUInt16BE(1, 2); // one target port group holding every port
    parts.push(designator(1, piv, proto, 1, 5, tpg));
    if (nexus.targetPort) {
      parts.push(designator(3, piv, proto, 1, 8, nameString(nexus.targetPort)));
      const t = nexus.targetPort.indexOf(',t,');
      if (t > 0) parts.push(designator(3, piv, proto, 2, 8, nameString(nexus.targetPort.slice(0, t))));
    }
  }
  return Buffer.concat(parts);
}

/** Extended INQUIRY data VPD page 86h payload (60 bytes). */
export function extendedInquiry(p: InquiryProfile): Buffer {
  const b = Buffer.alloc(60);
  b[1] = 0x07; // HEADSUP ORDSUP SIMPSUP
  b[2] = (p.nonVolatileCache ? 0x02 : 0) | (p.volatileCache ? 0x01 : 0);
  return b;
}

/** The INQUIRY command for a present logical unit. */
export function inquiry(ctx: CommandContext, p: InquiryProfile): Buffer {
  const cdb = ctx.cdb;
  checkReserved(cdb, 1, 0xfe); // CMDDT (bit 1, obsolete) and reserved bits
  const evpd = (cdb[1]! & 0x01) !== 0;
  const page = cdb[2]!;
  const alloc = u16(cdb, 3);
  if (!evpd) {
    if (page !== 0) throw invalidCdbField(2);
    const std = standardInquiry({ qualifier: 0, ...p });
    // TPGS 01b: implicit ALUA, REPORT TARGET PORT GROUPS (maintenance.ts); 3PC when EXTENDED COPY exists
    std[5] = 0x10 | (ctx.lu.table.find(0x83, 0x00) ? 0x08 : 0);
    return truncate(std, alloc);
  }
  const peripheral = p.peripheralType & 0x1f;
  const builders: Map<number, () => Buffer> = new Map<number, () => Buffer>([
    [0x00, () => Buffer.from([...builders.keys()].sort((a, b) => a - b))],
    [0x80, () => Buffer.from(p.identity.serial, 'ascii')],
    [0x83, () => deviceIdentification(p.identity, ctx.cmd.nexus)],
    [0x86, () => extendedInquiry(p)],
  ]);
  for (const [code, fn] of p.vpd) builders.set(code, () => fn(ctx));
  const build = builders.get(page);
  if (!build) throw invalidCdbField(2);
  return truncate(vpdPage(peripheral, page, build()), alloc);
}
