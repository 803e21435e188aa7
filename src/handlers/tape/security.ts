// SECURITY PROTOCOL IN (A2h, SPC-4) and SECURITY PROTOCOL OUT (B5h, SPC-4) of the
// tape drive: security protocol 00h (supported protocols, certificate data: SPC-4 security protocol information) and the
// tape data encryption protocol 20h (SSC-4 security protocol parameters): in/out support, capabilities, key formats,
// key management capabilities, data encryption status, next block encryption status, and SET
// DATA ENCRYPTION. The parameters and key live in TapeEncryption (encryption.ts).
import { checkReserved, truncate, u16, u32 } from '../../scsi/cdb.ts';
import { invalidCdbField, invalidParamField } from '../../scsi/sense.ts';
import { requireDataOut, usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import { RecordKind } from '../../media/cartridge.ts';
import { capabilitiesPage } from './encryption.ts';
import type { TapeDrive } from './drive.ts';

export const SecurityOp = { SECURITY_PROTOCOL_IN: 0xa2, SECURITY_PROTOCOL_OUT: 0xb5 } as const;
const PROTOCOL_INFORMATION = 0x00;
const TAPE_DATA_ENCRYPTION = 0x20;
const IN_PAGES = [0x0000, 0x0001, 0x0010, 0x0011, 0x0012, 0x0020, 0x0021];
const OUT_PAGES = [0x0010];

function pageList(code: number, list: readonly number[]): Buffer {
  const b = Buffer.alloc(4 + 2 * list.length);
  b.writeUInt16BE(code, 0);
  b.writeUInt16BE(2 * list.length, 2);
  list.forEach((p, i) => b.writeUInt16BE(p, 4 + 2 * i));
  return b;
}

/** Allocation or transfer length, in bytes (INC_512: in 512-byte units). */
function length(cdb: Buffer): number {
  const n = u32(cdb, 6);
  return cdb[4]! & 0x80 ? n * 512 : n;
}

export function securityCommands(drive: TapeDrive): CommandEntry[] {
  const enc = drive.encryption;

  async function tapeDataEncryptionIn(ctx: CommandContext, sps: number): Promise<Buffer> {
    switch (sps) {
      case 0x0000:
        return pageList(0x0000, IN_PAGES);
      case 0x0001:
        return pageList(0x0001, OUT_PAGES);
      case 0x0010:
        return capabilitiesPage();
      case 0x0011:
        return Buffer.from([0x00, 0x11, 0x00, 0x01, 0x00]); // SUPPORTED KEY FORMATS: plain text
      case 0x0012: {
        const b = Buffer.alloc(16); // DATA ENCRYPTION MANAGEMENT CAPABILITIES (SSC-4 data encryption management capabilities page)
        b.writeUInt16BE(0x0012, 0);
        b.writeUInt16BE(12, 2);
        b[4] = 0x01; // LOCK_C
        b[5] = 0x07; // CKOD_C, CKORP_C, CKORL_C
        b[7] = 0x07; // AITN_C, LOCAL_C, PUBLIC_C
        return b;
      }
      case 0x0020:
        return enc.statusPage(ctx.cmd.nexus.id);
      case 0x0021: {
        const c = drive.checkReady();
        await drive.settle();
        const pos = drive.pos;
        const raw = pos < c.count && c.kind(pos) === RecordKind.DATA ? await c.readRaw(pos) : undefined;
        return enc.nextBlockPage(ctx.cmd.nexus.id, pos, raw);
      }
      default:
        throw invalidCdbField(2);
    }
  }

  async function securityProtocolIn(ctx: CommandContext): Promise<Buffer> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 4, 0x7f);
    checkReserved(cdb, 5, 0xff);
    checkReserved(cdb, 10, 0xff);
    const sps = u16(cdb, 2);
    const alloc = length(cdb);
    let body: Buffer;
    if (cdb[1] === PROTOCOL_INFORMATION) {
      if (sps === 0x0000) body = Buffer.from([0, 0, 0, 0, 0, 0, 0, 2, PROTOCOL_INFORMATION, TAPE_DATA_ENCRYPTION]);
      else if (sps === 0x0001) body = Buffer.alloc(4); // CERTIFICATE DATA: none
      else throw invalidCdbField(2);
    } else if (cdb[1] === TAPE_DATA_ENCRYPTION) body = await tapeDataEncryptionIn(ctx, sps);
    else throw invalidCdbField(1);
    return truncate(body, alloc);
  }

  function securityProtocolOut(ctx: CommandContext): void {
    const cdb = ctx.cdb;
    checkReserved(cdb, 4, 0x7f);
    checkReserved(cdb, 5, 0xff);
    checkReserved(cdb, 10, 0xff);
    if (cdb[1] !== TAPE_DATA_ENCRYPTION) throw invalidCdbField(1);
    if (u16(cdb, 2) !== 0x0010) throw invalidCdbField(2);
    const len = length(cdb);
    if (len === 0) return;
    const page = requireDataOut(ctx, len);
    if (page.length < 2 || page.readUInt16BE(0) !== 0x0010) throw invalidParamField(0);
    enc.setDataEncryption(ctx.cmd.nexus.id, page);
  }

  const sp = (op: number) => usage(op, 0xff, 0xff, 0xff, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07);
  return [
    { opcode: SecurityOp.SECURITY_PROTOCOL_IN, name: 'SECURITY PROTOCOL IN', usage: sp(SecurityOp.SECURITY_PROTOCOL_IN), run: securityProtocolIn, exclusive: true },
    { opcode: SecurityOp.SECURITY_PROTOCOL_OUT, name: 'SECURITY PROTOCOL OUT', usage: sp(SecurityOp.SECURITY_PROTOCOL_OUT), run: securityProtocolOut, exclusive: true },
  ];
}
