// LOG SENSE / LOG SELECT (SPC-4 §6.6, §6.7). Only pages this target can fill in truthfully:
// 00h supported pages, 00h/FFh supported pages and subpages, 2Fh informational exceptions
// (failure prediction is off: DEXCPT = 1 in mode page 1Ch, so there never is an exception and the
// temperature is reported as not available). No log parameter is saveable or changeable.
import { Op } from './constants.ts';
import { checkReserved, truncate, u16 } from './cdb.ts';
import { invalidCdbField, invalidParamField } from './sense.ts';
import { requireDataOut, usage, type CommandContext, type CommandEntry } from './table.ts';

export interface LogParameter {
  readonly code: number;
  /** Control byte: FORMAT AND LINKING etc. */
  readonly control: number;
  readonly value: Buffer;
}

export interface LogPage {
  readonly page: number;
  readonly subpage: number;
  /** Parameters, or raw page contents for the supported-pages lists. */
  readonly build: () => LogParameter[] | Buffer;
}

/** 00h supported pages and 00h/FFh supported pages and subpages, listing `all()` in its order. */
export function supportedPagesLists(all: () => readonly LogPage[]): [LogPage, LogPage] {
  return [
    { page: 0x00, subpage: 0x00, build: () => Buffer.from(all().filter((p) => p.subpage === 0).map((p) => p.page)) },
    { page: 0x00, subpage: 0xff, build: () => Buffer.from(all().flatMap((p) => [p.page, p.subpage])) },
  ];
}

/** 2Fh informational exceptions. */
export const INFORMATIONAL_EXCEPTIONS: LogPage = {
  page: 0x2f,
  subpage: 0x00,
  // parameter 0000h: ASC 00h, ASCQ 00h (no exception), most recent temperature FFh (not available)
  build: () => [{ code: 0x0000, control: 0x03, value: Buffer.from([0x00, 0x00, 0xff]) }],
};

const PAGES: readonly LogPage[] = [...supportedPagesLists(() => PAGES), INFORMATIONAL_EXCEPTIONS];

/** The page from PARAMETER POINTER on, with its header. */
export function encodeLogPage(p: LogPage, pointer: number): Buffer {
  const content = p.build();
  let body: Buffer;
  if (Buffer.isBuffer(content)) {
    if (pointer !== 0) throw invalidCdbField(5);
    body = content;
  } else {
    const max = content.reduce((m, x) => Math.max(m, x.code), 0);
    if (pointer > max) throw invalidCdbField(5);
    body = Buffer.concat(
      content
        .filter((x) => x.code >= pointer)
        .map((x) => {
          const h = Buffer.alloc(4);
          h.writeUInt16BE(x.code, 0);
          h[2] = x.control;
          h[3] = x.value.length;
          return Buffer.concat([h, x.value]);
        }),
    );
  }
  const h = Buffer.alloc(4);
  // DS = 1 (parameters are not saveable) except for the supported-pages lists; SPF for subpages
  h[0] = (p.page === 0 ? 0 : 0x80) | (p.subpage !== 0 ? 0x40 : 0) | p.page;
  h[1] = p.subpage;
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
}

/** The fields of a LOG SENSE CDB, its reserved bits checked. */
export function decodeLogSense(cdb: Buffer): { pageCode: number; subpage: number; pointer: number; alloc: number } {
  checkReserved(cdb, 1, 0xfc);
  if (cdb[1]! & 0x01) throw invalidCdbField(1, 0); // SP: no saveable parameters
  checkReserved(cdb, 1, 0x02); // PPC (obsolete)
  checkReserved(cdb, 4, 0xff);
  // PAGE CONTROL (bits 7..6): every value reads the same data (no thresholds, nothing accumulates)
  return { pageCode: cdb[2]! & 0x3f, subpage: cdb[3]!, pointer: u16(cdb, 5), alloc: u16(cdb, 7) };
}

/** The page a LOG SENSE asks for; an unknown page or subpage is an invalid CDB field. */
export function findLogPage(pages: readonly LogPage[], pageCode: number, subpage: number): LogPage {
  const page = pages.find((p) => p.page === pageCode && p.subpage === subpage);
  if (!page) throw invalidCdbField(pages.some((p) => p.page === pageCode) ? 3 : 2, pages.some((p) => p.page === pageCode) ? undefined : 5);
  return page;
}

function logSense(ctx: CommandContext): Buffer {
  const { pageCode, subpage, pointer, alloc } = decodeLogSense(ctx.cdb);
  return truncate(encodeLogPage(findLogPage(PAGES, pageCode, subpage), pointer), alloc);
}

function logSelect(ctx: CommandContext): void {
  const cdb = ctx.cdb;
  checkReserved(cdb, 1, 0xfc);
  if (cdb[1]! & 0x01) throw invalidCdbField(1, 0); // SP: nothing can be saved
  for (let i = 4; i <= 6; i++) checkReserved(cdb, i, 0xff);
  const pcr = (cdb[1]! & 0x02) !== 0;
  const len = u16(cdb, 7);
  if (pcr) {
    // reset every log parameter: there is nothing that accumulates; a parameter list is not allowed
    if (len !== 0) throw invalidCdbField(7);
    return;
  }
  if (len === 0) {
    // PC with page 0 / no list: reset to defaults (no-op). A named page must exist.
    const pageCode = cdb[2]! & 0x3f;
    if (pageCode !== 0 && !PAGES.some((p) => p.page === pageCode && p.subpage === cdb[3]!)) throw invalidCdbField(2, 5);
    return;
  }
  // no log parameter is changeable: refuse any parameter list at its first byte
  requireDataOut(ctx, len);
  throw invalidParamField(0);
}

export const logCommands: readonly CommandEntry[] = [
  {
    opcode: Op.LOG_SELECT,
    name: 'LOG SELECT',
    usage: usage(Op.LOG_SELECT, 0x03, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0x07),
    run: logSelect,
    exclusive: true,
  },
  {
    opcode: Op.LOG_SENSE,
    name: 'LOG SENSE',
    usage: usage(Op.LOG_SENSE, 0x01, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0xff, 0x07),
    run: logSense,
  },
];
