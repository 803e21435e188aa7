// Mode page model (SPC-5 §7.5): current / changeable / default values per page, MODE SENSE
// rendering and a validate-then-apply MODE SELECT. Pages are byte strings including their header.
import { CheckCondition, invalidCdbField, invalidParamField } from './sense.ts';
import { Asc, SenseKey } from './constants.ts';

export interface ModePageDef {
  readonly page: number;
  /** 0 = page_0 format; otherwise sub_page format (SPF = 1). */
  readonly subpage: number;
  /** Default values: the whole page including header (page byte, [subpage], page length). */
  readonly defaults: Buffer;
  /** Changeable mask, same length; header bytes are zero. */
  readonly changeable: Buffer;
  /**
   * Extra checks of a proposed page (after the changeable-mask check). Throw
   * invalidParamField(byteWithinPage, bit): the model rebases the pointer to the parameter list.
   */
  readonly validate?: (proposed: Buffer) => void;
}

/** Builds a page_0 or sub_page format page with its header; `body` is the bytes after the header. */
export function makePage(page: number, subpage: number, body: number[] | Buffer): Buffer {
  const b = Buffer.from(body);
  if (subpage === 0) return Buffer.concat([Buffer.from([page & 0x3f, b.length]), b]);
  const h = Buffer.from([0x40 | (page & 0x3f), subpage, b.length >> 8, b.length & 0xff]);
  return Buffer.concat([h, b]);
}

export type PageControl = 0 | 1 | 2 | 3;
export type ModeChangeListener = (page: number, subpage: number, current: Buffer) => void;

function pk(page: number, subpage: number): number {
  return (page << 8) | subpage;
}

export class ModePages {
  private readonly defs = new Map<number, ModePageDef>();
  private readonly currents = new Map<number, Buffer>();
  private readonly listeners: ModeChangeListener[] = [];

  constructor(defs: readonly ModePageDef[]) {
    for (const d of defs) {
      if (d.defaults.length !== d.changeable.length) throw new Error(`mode page ${d.page}/${d.subpage}: mask length`);
      this.defs.set(pk(d.page, d.subpage), d);
      this.currents.set(pk(d.page, d.subpage), Buffer.from(d.defaults));
    }
  }

  onChange(l: ModeChangeListener): void {
    this.listeners.push(l);
  }

  has(page: number, subpage = 0): boolean {
    return this.defs.has(pk(page, subpage));
  }

  /** Live current values of a page (including header); do not modify. */
  current(page: number, subpage = 0): Buffer | undefined {
    return this.currents.get(pk(page, subpage));
  }

  /** Sets current values directly (handler-initiated changes, e.g. -t at start-up). */
  setCurrent(page: number, subpage: number, next: Buffer): void {
    const k = pk(page, subpage);
    if (!this.defs.has(k)) throw new Error(`no mode page ${page}/${subpage}`);
    this.currents.set(k, Buffer.from(next));
  }

  /** Restores default values (logical unit reset). Listeners are told about every page. */
  reset(): void {
    for (const [k, d] of this.defs) {
      const cur = this.currents.get(k)!;
      if (!cur.equals(d.defaults)) {
        d.defaults.copy(cur);
        for (const l of this.listeners) l(d.page, d.subpage, cur);
      }
    }
  }

  private sorted(): ModePageDef[] {
    return [...this.defs.values()].sort((a, b) => pk(a.page, a.subpage) - pk(b.page, b.subpage));
  }

  private render(d: ModePageDef, pc: PageControl): Buffer {
    if (pc === 1) {
      const m = Buffer.from(d.changeable);
      // header bytes carry the page code and length in every page control
      d.defaults.copy(m, 0, 0, d.subpage === 0 ? 2 : 4);
      return m;
    }
    return Buffer.from(pc === 2 ? d.defaults : this.currents.get(pk(d.page, d.subpage))!);
  }

  /**
   * The pages for MODE SENSE. `page`/`subpage` from CDB bytes 2 and 3. Throws 05/39/00 for saved
   * values and 05/24/00 pointing at the page or subpage code for unknown ones.
   */
  sense(pc: PageControl, page: number, subpage: number): Buffer {
    if (pc === 3) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.SAVING_PARAMETERS_NOT_SUPPORTED, { field: { inCdb: true, byte: 2, bit: 7 } });
    let chosen: ModePageDef[];
    if (page === 0x3f) {
      if (subpage === 0x00) chosen = this.sorted().filter((d) => d.subpage === 0);
      else if (subpage === 0xff) chosen = this.sorted();
      else throw invalidCdbField(3, 7);
    } else if (subpage === 0xff) {
      chosen = this.sorted().filter((d) => d.page === page);
      if (chosen.length === 0) throw invalidCdbField(2, 5);
    } else {
      const d = this.defs.get(pk(page, subpage));
      if (!d) throw this.sorted().some((x) => x.page === page) ? invalidCdbField(3, 7) : invalidCdbField(2, 5);
      chosen = [d];
    }
    return Buffer.concat(chosen.map((d) => this.render(d, pc)));
  }

  /**
   * Validates every page in `pages` (the mode pages part of a MODE SELECT parameter list, found at
   * `base` within it) and only then applies them. Returns true when a current value changed.
   */
  select(pages: Buffer, base: number): boolean {
    const staged: Array<[ModePageDef, Buffer]> = [];
    let off = 0;
    while (off < pages.length) {
      const at = base + off;
      const b0 = pages[off]!;
      const spf = (b0 & 0x40) !== 0;
      const page = b0 & 0x3f;
      if ((spf && off + 4 > pages.length) || (!spf && off + 2 > pages.length)) {
        throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.PARAMETER_LIST_LENGTH_ERROR);
      }
      const subpage = spf ? pages[off + 1]! : 0;
      const hdr = spf ? 4 : 2;
      const len = spf ? pages.readUInt16BE(off + 2) : pages[off + 1]!;
      const d = spf && subpage === 0 ? undefined : this.defs.get(pk(page, subpage));
      if (!d) throw invalidParamField(at + (spf ? 1 : 0), spf ? 7 : 5);
      if (len !== d.defaults.length - hdr) throw invalidParamField(at + hdr - 1, 7);
      if (off + hdr + len > pages.length) {
        throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.PARAMETER_LIST_LENGTH_ERROR);
      }
      const proposed = Buffer.from(pages.subarray(off, off + hdr + len));
      proposed[0] = proposed[0]! & 0x7f; // PS is reserved in MODE SELECT
      const cur = this.currents.get(pk(page, subpage))!;
      for (let i = hdr; i < proposed.length; i++) {
        const diff = (proposed[i]! ^ cur[i]!) & ~d.changeable[i]! & 0xff;
        if (diff) {
          let bit = 7;
          while (!(diff & (1 << bit))) bit--;
          throw invalidParamField(at + i, bit);
        }
      }
      if (d.validate) {
        try {
          d.validate(proposed);
        } catch (e) {
          if (e instanceof CheckCondition && e.init.field && !e.init.field.inCdb) {
            throw invalidParamField(at + e.init.field.byte, e.init.field.bit);
          }
          throw e;
        }
      }
      staged.push([d, proposed]);
      off += hdr + len;
    }
    let changed = false;
    for (const [d, proposed] of staged) {
      const cur = this.currents.get(pk(d.page, d.subpage))!;
      if (cur.equals(proposed)) continue;
      proposed.copy(cur);
      changed = true;
      for (const l of this.listeners) l(d.page, d.subpage, cur);
    }
    return changed;
  }
}
