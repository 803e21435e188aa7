// Test setup for the scst_user link: the real ScstUserLink serving logical units to the kernel
// model, plus small CDB and sense helpers used by the scst-user-* tests.
import assert from 'node:assert/strict';
import type { LogicalUnit, Nexus, ScsiCommand, ScsiResponse, TaskManagementFunction } from '../../src/scsi/command.ts';
import { ScstUserLink, type ScstUserLinkOptions } from '../../src/links/scst_user/index.ts';
import { ScstUserModel, type ModelDevice, type ModelOptions, type ModelResult, type ModelSession } from './scst-user-model.ts';

export interface Served {
  readonly model: ScstUserModel;
  readonly link: ScstUserLink;
  readonly logs: string[];
  close(): Promise<void>;
}

export async function serve(lus: readonly LogicalUnit[], o: { model?: ModelOptions; link?: Partial<ScstUserLinkOptions> } = {}): Promise<Served> {
  const model = new ScstUserModel(o.model);
  const logs: string[] = [];
  const link = new ScstUserLink({
    targets: [{ iqn: 'iqn.2026-11.test:t', luns: new Map(lus.map((lu, i) => [i, lu])) }],
    portal: { host: '127.0.0.1', port: 3260 },
    log: (level, message) => logs.push(`${level}: ${message}`),
    openPort: model.open,
    includeDirs: [],
    sysfsRoot: '/nonexistent/scst_tgt',
    ...o.link,
  });
  await link.start();
  return {
    model,
    link,
    logs,
    close: async () => {
      await link.close(5000);
      await Promise.all(lus.map((lu) => lu.close()));
    },
  };
}

let initiators = 0;
export async function session(dev: ModelDevice, o: { rdOnly?: boolean; initiator?: string } = {}): Promise<ModelSession> {
  return dev.attach({ initiator: o.initiator ?? `iqn.2026-01.test:init${++initiators}`, target: 'iqn.2026-11.test:t', rdOnly: o.rdOnly });
}

/** Sends TEST UNIT READY until GOOD (the LU's power-on unit attention for a new nexus). */
export async function clearUa(dev: ModelDevice, s: ModelSession): Promise<void> {
  for (let i = 0; i < 10; i++) if ((await dev.submit(s, { cdb: [0, 0, 0, 0, 0, 0], expected: { dir: 'none', length: 0 } })).status === 0) return;
  throw new Error('unit attention never cleared');
}

export function good(r: ModelResult): Buffer {
  if (r.status !== 0) assert.fail(`expected GOOD, got status ${r.status}${r.sense ? ` sense ${senseKey(r.sense)}` : ''}`);
  return r.data;
}

export function senseKey(s: Buffer): string {
  const f = (s[0]! & 0x7f) === 0x72 ? [s[1]! & 0xf, s[2]!, s[3]!] : [s[2]! & 0xf, s[12]!, s[13]!];
  return f.map((x) => x.toString(16).padStart(2, '0')).join('/');
}

export function check(r: ModelResult, key: string): void {
  assert.equal(r.status, 2, `expected CHECK CONDITION ${key}, got status ${r.status}`);
  assert.equal(senseKey(r.sense!), key);
}

export const cdb10 = (op: number, lba: number, n: number, b1 = 0): number[] => [op, b1, (lba >>> 24) & 0xff, (lba >> 16) & 0xff, (lba >> 8) & 0xff, lba & 0xff, 0, (n >> 8) & 0xff, n & 0xff, 0];
export const cdb16 = (op: number, lba: number, n: number, b1 = 0): number[] => {
  const b = Buffer.alloc(16);
  b[0] = op;
  b[1] = b1;
  b.writeBigUInt64BE(BigInt(lba), 2);
  b.writeUInt32BE(n, 10);
  return [...b];
};

/** Polls cond every few ms until true (bounded). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A logical unit that holds the commands `gate` picks until released or aborted (their
 * AbortSignal: TASK ABORTED), and passes everything else to `inner`.
 */
export class GatedLu implements LogicalUnit {
  readonly inner: LogicalUnit;
  readonly #gate: (cmd: ScsiCommand) => boolean;
  readonly held: { cmd: ScsiCommand; release: () => void }[] = [];
  aborted = 0;
  readonly name: string;
  readonly type: string;
  readonly peripheralType: number;

  constructor(inner: LogicalUnit, gate: (cmd: ScsiCommand) => boolean) {
    this.inner = inner;
    this.#gate = gate;
    this.name = inner.name;
    this.type = inner.type;
    this.peripheralType = inner.peripheralType;
  }

  get ua(): LogicalUnit['ua'] {
    return this.inner.ua;
  }

  async execute(cmd: ScsiCommand): Promise<ScsiResponse> {
    if (!this.#gate(cmd)) return this.inner.execute(cmd);
    const released = await new Promise<boolean>((resolve) => {
      const entry = { cmd, release: () => resolve(true) };
      this.held.push(entry);
      cmd.signal?.addEventListener('abort', () => {
        const i = this.held.indexOf(entry);
        if (i >= 0) this.held.splice(i, 1);
        resolve(false);
      }, { once: true });
    });
    if (!released) {
      this.aborted++;
      return { status: 0x40 };
    }
    return this.inner.execute(cmd);
  }

  releaseAll(): void {
    for (const h of this.held.splice(0)) h.release();
  }

  taskManagement(fn: TaskManagementFunction, nexus: Nexus): Promise<void> {
    return this.inner.taskManagement(fn, nexus);
  }
  nexusLost(nexus: Nexus): void {
    this.inner.nexusLost(nexus);
  }
  describe(): Record<string, unknown> {
    return this.inner.describe();
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
