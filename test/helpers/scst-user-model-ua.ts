// The SCST core's unit attention handling for one device in the scst_user model, as the stock
// kernel does it (scst_lib.c, scst_targ.c):
// - every new tgt_dev (an attached session) starts with 29/00 (scst_alloc_add_tgt_dev);
// - a LUN or target reset sets 29/00 for every session (scst_process_reset with setUA);
// - dev_double_ua_possible is set for a new device (scst_alloc_device) and by every reset; a
//   command that reaches the device while it is set carries double_ua_possible
//   (scst_check_local_events). The first such command that completes without a 29h UA and is not
//   an SCST_SKIP_UA opcode (INQUIRY, REQUEST SENSE, REPORT LUNS) clears it (scst_check_sense);
// - a 29h UA the device returns for a command carrying double_ua_possible is retried, and the
//   retry hits sBUG_ON(cmd->dbl_ua_orig_resp_data_len < 0): scst_user's EXEC reply path never
//   sets that field. The real machine dies there; the model records the BUG and fails the
//   command with it;
// - any other UA the device returns is set for every other session of the device
//   (scst_dev_check_set_UA), a 29h one after a device reset (scst_process_reset: the flag set
//   again); a UA already queued for a session is not queued twice (scst_check_set_UA);
// - a good MODE SELECT sets 2A/01, a good LOG SELECT 2A/02, for the other sessions
//   (scst_mode_select_checks).

export interface UaSession {
  readonly state: string;
  readonly pendingUa: { asc: number; ascq: number }[];
}

/** SCST_SKIP_UA opcodes: they neither get a pending UA nor clear dev_double_ua_possible. */
const SKIP_UA = new Set([0x03, 0x12, 0xa0]);

export const SCST_DOUBLE_UA_BUG = 'kernel BUG at scst/src/scst_targ.c:3023! (scst_check_sense: sBUG_ON(cmd->dbl_ua_orig_resp_data_len < 0))';

export class CoreUnitAttentions {
  /** dev_double_ua_possible: set for every new device. */
  doubleUaPossible = true;
  /** Kernel BUGs hit (the real kernel would have crashed at the first). */
  readonly bugs: string[] = [];
  readonly #sessions: () => Iterable<UaSession>;

  constructor(sessions: () => Iterable<UaSession>) {
    this.#sessions = sessions;
  }

  /** scst_alloc_add_tgt_dev: the new session's first UA. */
  attached(s: UaSession): void {
    set(s, 0x29, 0x00);
  }

  /** scst_process_reset with setUA (LUN reset, target reset). */
  reset(): void {
    this.doubleUaPossible = true;
    for (const s of this.#sessions()) if (s.state === 'attached') set(s, 0x29, 0x00);
  }

  /** The pending UA a command gets instead of running, or undefined (scst_set_pending_UA). */
  takePending(s: UaSession, op: number): { asc: number; ascq: number } | undefined {
    if (SKIP_UA.has(op)) return undefined;
    return s.pendingUa.shift();
  }

  /** scst_check_local_events: whether a command reaching the device now may see a double UA. */
  entering(): boolean {
    return this.doubleUaPossible;
  }

  /**
   * scst_check_sense and scst_mode_select_checks on the device's answer. Returns the BUG message
   * when the kernel would crash.
   */
  completed(from: UaSession, op: number, doubleUaPossible: boolean, status: number, sense: Buffer | undefined): string | undefined {
    const ua = status === 2 && sense ? unitAttention(sense) : undefined;
    if (ua?.asc === 0x29) {
      if (doubleUaPossible) {
        this.bugs.push(SCST_DOUBLE_UA_BUG);
        return SCST_DOUBLE_UA_BUG;
      }
      this.doubleUaPossible = true; // scst_process_reset
    }
    if (ua) this.#others(from, ua.asc, ua.ascq);
    if (doubleUaPossible && !SKIP_UA.has(op)) this.doubleUaPossible = false;
    if (status === 0 && (op === 0x15 || op === 0x55)) this.#others(from, 0x2a, 0x01);
    if (status === 0 && op === 0x4c) this.#others(from, 0x2a, 0x02);
    return undefined;
  }

  #others(from: UaSession, asc: number, ascq: number): void {
    for (const s of this.#sessions()) if (s !== from && s.state === 'attached') set(s, asc, ascq);
  }
}

function set(s: UaSession, asc: number, ascq: number): void {
  if (!s.pendingUa.some((u) => u.asc === asc && u.ascq === ascq)) s.pendingUa.push({ asc, ascq });
}

function unitAttention(sense: Buffer): { asc: number; ascq: number } | undefined {
  const descriptor = (sense[0]! & 0x7f) >= 0x72;
  const key = (descriptor ? sense[1]! : (sense[2] ?? 0)) & 0x0f;
  if (key !== 6) return undefined;
  return descriptor ? { asc: sense[2] ?? 0, ascq: sense[3] ?? 0 } : { asc: sense[12] ?? 0, ascq: sense[13] ?? 0 };
}
