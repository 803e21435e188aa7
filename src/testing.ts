/**
 * Unit-testing a handler on raw CDBs, without a link: `import { ... } from 'fileio_tgt/testing'`.
 *
 * ```js
 * const lu = await handler.create(testConfig('proc1'), testHost());
 * const nx = testNexus();
 * await clearUnitAttention(lu, nx);            // the power-on unit attention every new nexus gets
 * const r = await sendCdb(lu, [0xc1, 0, 0, 0, 64, 0], nx);
 * assert.equal(r.status, Status.GOOD);
 * console.log(responseData(r).toString());
 * ```
 * @module
 */
import type { DeviceConfig, HandlerHost, LogLevel } from './handlers/contract.ts';
import type { LogicalUnit, Nexus, ScsiCommand, ScsiResponse, TaskAttribute } from './scsi/command.ts';
import { dataBytes } from './scsi/data-in.ts';
import { parseSense } from './scsi/sense.ts';
import { deviceDefaults } from './host/config.ts';

let nexusCount = 0;

/** An I_T nexus for tests: initiator `iqn.2026-01.test:initN`, distinct from every other one made. */
export function testNexus(n = ++nexusCount, initiator = `iqn.2026-01.test:init${n}`): Nexus {
  return {
    id: `nexus-${n}-${Math.random().toString(36).slice(2)}`,
    initiatorPort: `${initiator},i,0x23d00000000${n}`,
    targetPort: 'iqn.2026-11.org.fileio-tgt:disk1,t,0x0001',
    relativeTargetPort: 1,
    transportId: Buffer.from([0x05, 0, 0, 0]),
  };
}

export interface SendOptions {
  /** Data-out (the parameter list, or the blocks of a write). */
  dataOut?: Buffer;
  lun?: number;
  attribute?: TaskAttribute;
  /** What the initiator expects to transfer (default 1 MiB); the link cuts data-in to it. */
  expectedLength?: number;
}

/** The ScsiCommand a link would deliver for `cdb`. */
export function testCommand(cdb: number[] | Buffer, nexus: Nexus, o: SendOptions = {}): ScsiCommand {
  return {
    cdb: Buffer.from(cdb),
    nexus,
    lun: o.lun ?? 0,
    tag: 1,
    attribute: o.attribute ?? 'simple',
    expectedLength: o.expectedLength ?? 1 << 20,
    dataOut: o.dataOut,
  };
}

/** Runs one CDB on a logical unit (or anything with execute(), such as a ScsiTarget). */
export function sendCdb(lu: Pick<LogicalUnit, 'execute'>, cdb: number[] | Buffer, nexus: Nexus, o: SendOptions = {}): Promise<ScsiResponse> {
  return lu.execute(testCommand(cdb, nexus, o));
}

/** Sends TEST UNIT READY until GOOD: a new nexus first gets the power-on unit attention (29h). */
export async function clearUnitAttention(lu: Pick<LogicalUnit, 'execute'>, nexus: Nexus, lun = 0): Promise<void> {
  for (let i = 0; i < 20; i++) if ((await sendCdb(lu, [0, 0, 0, 0, 0, 0], nexus, { lun })).status === 0) return;
  throw new Error('a unit attention is still pending after 20 TEST UNIT READY');
}

/** The data-in of a response as one Buffer (empty when there is none). */
export function responseData(r: ScsiResponse): Buffer {
  return dataBytes(r.data);
}

/** Sense key, ASC and ASCQ of a CHECK CONDITION response (fixed or descriptor format). */
export function responseSense(r: ScsiResponse): { key: number; asc: number; ascq: number } | undefined {
  return r.sense ? parseSense(r.sense) : undefined;
}

/** A DeviceConfig with the defaults the command line gives (block size 512, no flags, FILE "-"). */
export function testConfig(name: string, o: Partial<DeviceConfig> = {}): DeviceConfig {
  return { ...deviceDefaults(name, o.type ?? 'test'), file: '-', ...o };
}

/** A HandlerHost whose log lines are kept in `lines` ("level: message"). */
export function testHost(): HandlerHost & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (level: LogLevel, message: string) => void lines.push(`${level}: ${message}`) };
}
