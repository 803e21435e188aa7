// A tiny iSCSI initiator for loopback tests: hand-built PDUs over net.Socket, responses framed
// with the link's PduReader. Only what the tests need; every wait is bounded.

import net from 'node:net';
import { PduReader } from '../../src/links/iscsi/framing.ts';
import type { RawPdu } from '../../src/links/iscsi/pdu.ts';
import { parseTextKeys } from '../../src/links/iscsi/text.ts';

export interface BhsFields {
  opcode: number;
  immediate?: boolean;
  flags?: number;
  b2?: number;
  b3?: number;
  lun?: number;
  itt?: number;
  /** Bytes 20..23 (TTT, EDTL, RefTaskTag, CID<<16 ...). */
  w20?: number;
  w24?: number;
  w28?: number;
  w32?: number;
  w36?: number;
  w40?: number;
  w44?: number;
  /** Up to 16 bytes; the rest of the BHS CDB field stays zero. */
  cdb?: Buffer | readonly number[];
  isid?: Buffer;
  tsih?: number;
}

export function buildBhs(f: BhsFields, dataLength: number): Buffer {
  const b = Buffer.alloc(48);
  b[0] = f.opcode | (f.immediate ? 0x40 : 0);
  b[1] = f.flags ?? 0x80;
  b[2] = f.b2 ?? 0;
  b[3] = f.b3 ?? 0;
  b[5] = dataLength >> 16;
  b[6] = (dataLength >> 8) & 0xff;
  b[7] = dataLength & 0xff;
  if (f.lun !== undefined) b[9] = f.lun;
  if (f.isid) f.isid.copy(b, 8);
  if (f.tsih !== undefined) b.writeUInt16BE(f.tsih, 14);
  b.writeUInt32BE((f.itt ?? 0) >>> 0, 16);
  const words: Array<[number, number | undefined]> = [
    [20, f.w20],
    [24, f.w24],
    [28, f.w28],
    [32, f.w32],
    [36, f.w36],
    [40, f.w40],
    [44, f.w44],
  ];
  for (const [o, v] of words) if (v !== undefined) b.writeUInt32BE(v >>> 0, o);
  if (f.cdb) Buffer.from(f.cdb).copy(b, 32);
  return b;
}

export class TestInitiator {
  readonly socket: net.Socket;
  private readonly reader = new PduReader({ maxDataSegmentLength: 0xffffff });
  private readonly queue: RawPdu[] = [];
  private waiter: (() => void) | undefined;
  closed = false;
  loginKeys = new Map<string, string>();
  readonly closedPromise: Promise<void>;
  cmdSN = 1;
  expStatSN = 0;
  private nextItt = 1;
  readonly isid: Buffer;

  private constructor(socket: net.Socket, isid: Buffer) {
    this.socket = socket;
    this.isid = isid;
    socket.setNoDelay(true);
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        this.waiter?.();
        resolve();
      });
    });
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => {
      this.reader.push(c);
      for (let p = this.reader.next(); p; p = this.reader.next()) this.queue.push(p);
      this.waiter?.();
    });
  }

  static connect(port: number, isidLast = 1): Promise<TestInitiator> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new TestInitiator(s, Buffer.from([0x80, 0, 0, 0, 0, isidLast]))));
      s.once('error', reject);
    });
  }

  itt(): number {
    return this.nextItt++;
  }

  send(f: BhsFields, data: Buffer = Buffer.alloc(0)): void {
    const pad = (4 - (data.length & 3)) & 3;
    this.socket.write(Buffer.concat([buildBhs(f, data.length), data, Buffer.alloc(pad)]));
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Next PDU from the target (rejects after timeoutMs or when the socket closes). */
  async recv(timeoutMs = 5000): Promise<RawPdu> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = this.queue.shift();
      if (p) {
        const op = p.bhs[0]! & 0x3f;
        // Track StatSN from status-bearing PDUs.
        if (op !== 0x25 || p.bhs[1]! & 0x01) this.expStatSN = (p.bhs.readUInt32BE(24) + 1) >>> 0;
        return p;
      }
      if (this.closed) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timeout waiting for a PDU');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = undefined;
          resolve();
        };
      });
    }
  }

  /** True if nothing arrives within ms. */
  async silent(ms: number): Promise<boolean> {
    try {
      await this.recv(ms);
      return false;
    } catch {
      return true;
    }
  }

  /** One-PDU login (operational stage straight to full feature phase). */
  async login(keys: Array<[string, string]>): Promise<{ status: number; keys: Map<string, string>; pdu: RawPdu }> {
    const data = Buffer.from(keys.map(([k, v]) => `${k}=${v}\0`).join(''));
    this.send(
      { opcode: 0x03, immediate: true, flags: 0x80 | (1 << 2) | 3, isid: this.isid, tsih: 0, itt: this.itt(), w20: 0, w24: this.cmdSN, w28: this.expStatSN },
      data,
    );
    const pdu = await this.recv();
    return { status: pdu.bhs.readUInt16BE(36), keys: new Map(parseTextKeys(pdu.data)), pdu };
  }

  close(): void {
    this.socket.destroy();
  }
}
