// Per-session state of one scst_user device. SCST announces every I_T_L nexus that may use the
// device with ATTACH_SESS (sess_h is its tgt_dev) before any of its commands, and DETACH_SESS
// after the last one. Each session gets a Nexus for the logical unit: unit attentions, PREVENT
// and reservations are kept per nexus by the LU, and a session that goes away is reported with
// nexusLost (29/07 when the same initiator returns).
import type { Nexus } from '../../scsi/command.ts';
import type { SessCmd } from '../../ffi/scst-user-abi.ts';

export interface Session {
  readonly handle: bigint;
  readonly nexus: Nexus;
  readonly lun: number;
  /** The LUN was added read-only for this session (kernel rd_only). */
  readonly readOnly: boolean;
  readonly initiator: string;
  readonly target: string;
}

export class SessionTable {
  readonly #device: string;
  readonly #byHandle = new Map<bigint, Session>();
  readonly #relativeTargetPort: (target: string) => number;
  #seq = 0;

  constructor(device: string, relativeTargetPort: (target: string) => number = () => 1) {
    this.#device = device;
    this.#relativeTargetPort = relativeTargetPort;
  }

  /** A new session (an existing handle is replaced: the kernel reuses a tgt_dev only after DETACH). */
  attach(c: SessCmd): { session: Session; replaced?: Session } {
    const replaced = this.#byHandle.get(c.sess_h);
    const initiator = c.initiator_name || `sess-${c.sess_h.toString(16)}`;
    const target = c.target_name;
    const session: Session = {
      handle: c.sess_h,
      // sess_h is a kernel pointer that may come back for another session: the sequence number
      // keeps nexus ids unique for the life of the process.
      nexus: {
        id: `scst_user:${this.#device}:${c.sess_h.toString(16)}:${++this.#seq}`,
        initiatorPort: initiator,
        targetPort: target,
        relativeTargetPort: this.#relativeTargetPort(target),
        transportId: Buffer.alloc(0),
      },
      lun: Number(c.lun),
      readOnly: c.rd_only !== 0,
      initiator,
      target,
    };
    this.#byHandle.set(c.sess_h, session);
    return replaced ? { session, replaced } : { session };
  }

  detach(handle: bigint): Session | undefined {
    const s = this.#byHandle.get(handle);
    this.#byHandle.delete(handle);
    return s;
  }

  get(handle: bigint): Session | undefined {
    return this.#byHandle.get(handle);
  }

  get size(): number {
    return this.#byHandle.size;
  }

  all(): Session[] {
    return [...this.#byHandle.values()];
  }

  /** Forget every session (the fd closed): returns them so their nexuses can be reported lost. */
  clear(): Session[] {
    const all = this.all();
    this.#byHandle.clear();
    return all;
  }
}
