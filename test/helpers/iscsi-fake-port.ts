// A small in-memory ScsiTargetPort for iSCSI link tests: one or more RAM disks (512-byte
// blocks) with TUR, INQUIRY, READ CAPACITY, READ/WRITE 6/10/16, REPORT LUNS and MODE SENSE(6).
// Writes report dataOutLength so the link can compute write residuals.

import type { Nexus, ScsiCommand, ScsiResponse, ScsiTargetPort, TaskManagementFunction, TaskManagementOutcome } from '../../src/scsi/command.ts';

const GOOD = 0;
const CHECK = 2;

function sense(key: number, asc: number, ascq: number): Buffer {
  const s = Buffer.alloc(18);
  s[0] = 0x70;
  s[2] = key;
  s[7] = 10;
  s[12] = asc;
  s[13] = ascq;
  return s;
}

export interface FakePortOptions {
  luns?: number[];
  blocks?: number;
  /** Delay every command by this many ms (abortable), or per call. */
  delayMs?: number | ((cmd: ScsiCommand) => number);
}

export class FakePort implements ScsiTargetPort {
  readonly blockSize = 512;
  readonly blocks: number;
  readonly disks = new Map<number, Buffer>();
  readonly tmfCalls: Array<{ fn: TaskManagementFunction; nexus: Nexus; lun: number }> = [];
  readonly lostNexus: Nexus[] = [];
  readonly commands: ScsiCommand[] = [];
  aborted = 0;
  delayMs: number | ((cmd: ScsiCommand) => number);

  constructor(o: FakePortOptions = {}) {
    this.blocks = o.blocks ?? 2048;
    for (const l of o.luns ?? [0]) this.disks.set(l, Buffer.alloc(this.blocks * this.blockSize));
    this.delayMs = o.delayMs ?? 0;
  }

  hasLun(lun: number): boolean {
    return this.disks.has(lun);
  }

  async taskManagement(fn: TaskManagementFunction, nexus: Nexus, lun: number): Promise<TaskManagementOutcome> {
    this.tmfCalls.push({ fn, nexus, lun });
    return 'complete';
  }

  nexusLost(nexus: Nexus): void {
    this.lostNexus.push(nexus);
  }

  async execute(cmd: ScsiCommand): Promise<ScsiResponse & { dataOutLength?: number }> {
    this.commands.push(cmd);
    const d = typeof this.delayMs === 'function' ? this.delayMs(cmd) : this.delayMs;
    if (d > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, d);
        cmd.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          this.aborted++;
          resolve();
        });
      });
    }
    const disk = this.disks.get(cmd.lun);
    const c = cmd.cdb;
    if (c[0] === 0xa0) return this.reportLuns(c);
    if (!disk) {
      if (c[0] === 0x12) {
        const inq = Buffer.alloc(36);
        inq[0] = 0x7f;
        return { status: GOOD, data: inq.subarray(0, Math.min(36, c.readUInt16BE(3))) };
      }
      return { status: CHECK, sense: sense(5, 0x25, 0) };
    }
    switch (c[0]) {
      case 0x00:
        return { status: GOOD };
      case 0x12: {
        const alloc = c.readUInt16BE(3);
        if (c[1]! & 1) {
          const page = c[2]!;
          let data: Buffer;
          if (page === 0x00) data = Buffer.from([0, 0, 0, 3, 0x00, 0x80, 0x83]);
          else if (page === 0x80) data = Buffer.concat([Buffer.from([0, 0x80, 0, 8]), Buffer.from('FAKE0001')]);
          else if (page === 0x83) data = Buffer.from([0, 0x83, 0, 12, 0x01, 0x03, 0, 8, 0x60, 1, 2, 3, 4, 5, 6, 7]);
          else return { status: CHECK, sense: sense(5, 0x24, 0) };
          return { status: GOOD, data: data.subarray(0, Math.min(alloc, data.length)) };
        }
        const inq = Buffer.alloc(36);
        inq[2] = 6;
        inq[3] = 2;
        inq[4] = 31;
        inq[7] = 0x02; // CMDQUE
        inq.write('FAKE    ', 8, 'latin1');
        inq.write('RAMDISK         ', 16, 'latin1');
        inq.write('0001', 32, 'latin1');
        return { status: GOOD, data: inq.subarray(0, Math.min(alloc, 36)) };
      }
      case 0x25: {
        const d = Buffer.alloc(8);
        d.writeUInt32BE(this.blocks - 1, 0);
        d.writeUInt32BE(this.blockSize, 4);
        return { status: GOOD, data: d };
      }
      case 0x9e: {
        if ((c[1]! & 0x1f) !== 0x10) return { status: CHECK, sense: sense(5, 0x24, 0) };
        const d = Buffer.alloc(32);
        d.writeBigUInt64BE(BigInt(this.blocks - 1), 0);
        d.writeUInt32BE(this.blockSize, 8);
        return { status: GOOD, data: d.subarray(0, Math.min(32, c.readUInt32BE(10))) };
      }
      case 0x1a: {
        const d = Buffer.from([3, 0, 0, 0]);
        return { status: GOOD, data: d.subarray(0, Math.min(4, c[4]!)) };
      }
      case 0x08:
      case 0x28:
      case 0x88:
        return this.rw(disk, c, cmd, false);
      case 0x0a:
      case 0x2a:
      case 0x8a:
        return this.rw(disk, c, cmd, true);
      default:
        return { status: CHECK, sense: sense(5, 0x20, 0) };
    }
  }

  private reportLuns(c: Buffer): ScsiResponse {
    const luns = [...this.disks.keys()].sort((a, b) => a - b);
    const d = Buffer.alloc(8 + 8 * luns.length);
    d.writeUInt32BE(8 * luns.length, 0);
    luns.forEach((l, i) => {
      if (l < 256) d[8 + i * 8 + 1] = l;
      else {
        d[8 + i * 8] = 0x40 | (l >> 8);
        d[8 + i * 8 + 1] = l & 0xff;
      }
    });
    return { status: GOOD, data: d.subarray(0, Math.min(d.length, c.readUInt32BE(6))) };
  }

  private rw(disk: Buffer, c: Buffer, cmd: ScsiCommand, write: boolean): ScsiResponse & { dataOutLength?: number } {
    let lba: number;
    let n: number;
    if (c[0] === 0x08 || c[0] === 0x0a) {
      lba = ((c[1]! & 0x1f) << 16) | c.readUInt16BE(2);
      n = c[4] || 256;
    } else if (c[0] === 0x28 || c[0] === 0x2a) {
      lba = c.readUInt32BE(2);
      n = c.readUInt16BE(7);
    } else {
      lba = Number(c.readBigUInt64BE(2));
      n = c.readUInt32BE(10);
    }
    const bytes = n * this.blockSize;
    if (lba + n > this.blocks) return { status: CHECK, sense: sense(5, 0x21, 0), ...(write ? { dataOutLength: bytes } : {}) };
    const off = lba * this.blockSize;
    if (write) {
      const data = cmd.dataOut ?? Buffer.alloc(0);
      const len = Math.min(bytes, data.length);
      data.copy(disk, off, 0, len);
      return { status: GOOD, dataOutLength: bytes };
    }
    return { status: GOOD, data: Buffer.from(disk.subarray(off, off + bytes)) };
  }
}
