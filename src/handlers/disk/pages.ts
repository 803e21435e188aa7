// Disk mode pages (SBC-4 §6.5) and block-device VPD pages (SBC-4 §6.6: B0h, B1h, B2h).
import { makePage, type ModePageDef } from '../../scsi/mode-pages.ts';
import { controlExtensionPage, controlPage, informationalExceptionsPage } from '../../scsi/spc-pages.ts';

export const CACHING_PAGE = 0x08;
export const RW_ERROR_RECOVERY_PAGE = 0x01;

/** Read-write error recovery page 01h: we never retry or reallocate; nothing changeable. */
function rwErrorRecoveryPage(): ModePageDef {
  const defaults = makePage(RW_ERROR_RECOVERY_PAGE, 0, Buffer.alloc(10));
  return { page: RW_ERROR_RECOVERY_PAGE, subpage: 0, defaults, changeable: Buffer.alloc(defaults.length) };
}

/**
 * Caching page 08h. WCE = write-back (changeable; with WCE = 0 every write is made durable before
 * GOOD); RCD = 0 (reads may come from the host page cache; with -o O_DIRECT they never do, but RCD
 * stays 0 because the data returned is identical). Prefetch fields zero: we do not prefetch.
 */
function cachingPage(wce: boolean): ModePageDef {
  const body = Buffer.alloc(18);
  body[0] = wce ? 0x04 : 0;
  const defaults = makePage(CACHING_PAGE, 0, body);
  const changeable = Buffer.alloc(defaults.length);
  changeable[2] = 0x04;
  return { page: CACHING_PAGE, subpage: 0, defaults, changeable };
}

export function diskModePages(o: { writeThrough: boolean }): ModePageDef[] {
  return [
    rwErrorRecoveryPage(),
    cachingPage(!o.writeThrough),
    controlPage({ swpChangeable: true }),
    controlExtensionPage(),
    informationalExceptionsPage(),
  ];
}

/** Block limits VPD page B0h payload (60 bytes). */
export function blockLimits(o: {
  granularityBlocks: number;
  maxTransferBlocks: number;
  optimalTransferBlocks: number;
  maxCompareAndWriteBlocks?: number;
  unmap?: { maxLbaCount: number; maxDescriptors: number; granularity: number };
  maxWriteSameBlocks?: bigint;
  /** MAXIMUM ATOMIC TRANSFER LENGTH (WRITE ATOMIC(16)); alignment and granularity 0 (none). */
  maxAtomicBlocks?: number;
}): Buffer {
  const b = Buffer.alloc(60);
  b[1] = Math.min(255, o.maxCompareAndWriteBlocks ?? 0);
  b.writeUInt16BE(Math.min(0xffff, o.granularityBlocks), 2);
  b.writeUInt32BE(o.maxTransferBlocks, 4);
  b.writeUInt32BE(o.optimalTransferBlocks, 8);
  if (o.unmap) {
    b.writeUInt32BE(o.unmap.maxLbaCount, 16);
    b.writeUInt32BE(o.unmap.maxDescriptors, 20);
    b.writeUInt32BE(o.unmap.granularity, 24);
    b.writeUInt32BE(0x80000000, 28); // UGAVALID, UNMAP GRANULARITY ALIGNMENT 0
  }
  if (o.maxWriteSameBlocks !== undefined) b.writeBigUInt64BE(o.maxWriteSameBlocks, 32);
  if (o.maxAtomicBlocks !== undefined) b.writeUInt32BE(o.maxAtomicBlocks, 40);
  return b;
}

/**
 * Block device characteristics VPD page B1h payload: non-rotating medium. With SANITIZE BLOCK
 * ERASE (thin LUs) WABEREQ = 01b: reads after a block erase complete with GOOD (zeros).
 * WACEREQ = 0: no CRYPTO ERASE.
 */
export function blockDeviceCharacteristics(o: { blockErase?: boolean } = {}): Buffer {
  const b = Buffer.alloc(60);
  b.writeUInt16BE(1, 0); // MEDIUM ROTATION RATE 0001h: non-rotating
  if (o.blockErase) b[3] = 0x40; // page byte 7: WABEREQ (7..6) = 01b
  return b;
}

/** Logical block provisioning VPD page B2h payload. */
export function logicalBlockProvisioning(o: { unmap: boolean; writeSame16: boolean; writeSame10: boolean; lbprz: boolean; thin: boolean }): Buffer {
  const b = Buffer.alloc(4);
  b[1] = (o.unmap ? 0x80 : 0) | (o.writeSame16 ? 0x40 : 0) | (o.writeSame10 ? 0x20 : 0) | (o.lbprz ? 0x04 : 0);
  b[2] = o.thin ? 0x02 : 0x00; // PROVISIONING TYPE: 0 full, 2 thin
  return b;
}
