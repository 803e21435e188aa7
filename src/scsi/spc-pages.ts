// Mode pages every device type shares (SPC-5 §7.5.8, §7.5.9, §7.5.12): control, control extension,
// informational exceptions. Device handlers add their own (caching, error recovery, ...).
import { makePage, type ModePageDef, type ModePages } from './mode-pages.ts';
import { invalidParamField } from './sense.ts';

export const CONTROL_PAGE = 0x0a;

export interface ControlPageOptions {
  /** Start write-protected (SWP = 1). */
  readonly swp?: boolean;
  /** Whether SWP may be changed by MODE SELECT (true for disks). */
  readonly swpChangeable?: boolean;
}

/**
 * Control page 0Ah. TST = 000b (one task set for all I_T nexuses: the LU's ordering is per LU);
 * QAM = 1 (unrestricted reordering: SIMPLE commands really run concurrently); QErr = 00b;
 * D_SENSE changeable (switches the LU to descriptor sense); SWP changeable when asked.
 */
export function controlPage(o: ControlPageOptions = {}): ModePageDef {
  const body = Buffer.alloc(10);
  body[1] = 0x10; // QAM = 1, QERR = 00b
  body[2] = o.swp ? 0x08 : 0;
  body[6] = 0xff; // BUSY TIMEOUT PERIOD: unlimited
  body[7] = 0xff;
  const defaults = makePage(CONTROL_PAGE, 0, body);
  const changeable = Buffer.alloc(defaults.length);
  changeable[2] = 0x04; // D_SENSE
  if (o.swpChangeable) changeable[4] = 0x08; // SWP
  return { page: CONTROL_PAGE, subpage: 0, defaults, changeable };
}

/** Control extension subpage 0Ah/01h: nothing changeable, no implicit ALUA, max sense length 0 (no limit). */
export function controlExtensionPage(): ModePageDef {
  const defaults = makePage(CONTROL_PAGE, 0x01, Buffer.alloc(0x1c));
  return { page: CONTROL_PAGE, subpage: 0x01, defaults, changeable: Buffer.alloc(defaults.length) };
}

/** Informational exceptions control page 1Ch: DEXCPT = 1 (no failure prediction), MRIE 0. */
export function informationalExceptionsPage(): ModePageDef {
  const body = Buffer.alloc(10);
  body[0] = 0x08; // DEXCPT
  const defaults = makePage(0x1c, 0, body);
  return {
    page: 0x1c,
    subpage: 0,
    defaults,
    changeable: Buffer.alloc(defaults.length),
    validate: (p) => {
      if ((p[3]! & 0x0f) > 6) throw invalidParamField(3, 3);
    },
  };
}

/** D_SENSE bit of the current control page. */
export function descriptorSenseEnabled(pages: ModePages): boolean {
  const c = pages.current(CONTROL_PAGE, 0);
  return c !== undefined && (c[2]! & 0x04) !== 0;
}

/** SWP bit of the current control page. */
export function softwareWriteProtect(pages: ModePages): boolean {
  const c = pages.current(CONTROL_PAGE, 0);
  return c !== undefined && (c[4]! & 0x08) !== 0;
}
