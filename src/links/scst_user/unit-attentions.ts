// Unit attentions through scst_user: which ones SCST's core keeps itself, and what the core does
// with a UA sense a user-space device returns.
//
// The core keeps a UA list per tgt_dev (one per session and LUN) and establishes these itself:
// - 29/00 on every new tgt_dev (scst_alloc_add_tgt_dev), 29/00 after a LUN or target reset
//   (scst_process_reset), 29/07 on I_T nexus loss (scst_nexus_loss);
// - 2A/01 and 2A/02 for the other sessions after a good MODE SELECT / LOG SELECT
//   (scst_mode_select_checks);
// - 2A/09 when user space reports DEVICE_CAPACITY_CHANGED (scst_capacity_data_changed, TYPE_DISK
//   only);
// - 3F/0E when LUNs change (the core owns the LUN maps and answers REPORT LUNS);
// - 2A/03-05 and 2F/00 from its own RESERVE/RELEASE and PERSISTENT RESERVE (scst_pres.c; those
//   commands never reach user space).
//
// A UA sense in an EXEC reply is not passed through untouched (scst_check_sense):
// - any 29h UA makes the core retry the command when the device may still owe a reset UA
//   (dev_double_ua_possible: set for every new device and after every reset). The retry ends in
//   sBUG_ON(cmd->dbl_ua_orig_resp_data_len < 0) (scst_targ.c), because that field is filled only
//   by the pass-through completion path and scst_set_cmd_error_status, never by
//   dev_user_process_reply_exec: the kernel crashes. Without the flag, a 29h UA still runs
//   scst_process_reset: every command of the device is aborted and a reset UA set for all.
// - any other UA is copied by the core to every other session of the device
//   (scst_dev_check_set_UA -> scst_dev_check_set_local_UA): the core fans it out.
// So the link hands the core-owned UAs to the core (never queued in the LU), and a UA the LU
// returns to one session is cleared from the LU's other sessions, which get the core's copy.
import type { AscPair } from '../../scsi/constants.ts';
import { DeviceType, SenseKey } from '../../scsi/constants.ts';
import { parseSense } from '../../scsi/sense.ts';
import type { ExternalUa } from '../../scsi/unit-attention.ts';

/** The UAs SCST's core establishes itself for a device of `peripheralType` (see above). */
export function scstCoreUas(peripheralType: number): ExternalUa {
  return ({ asc, ascq }: AscPair) =>
    asc === 0x29 ||
    (asc === 0x3f && ascq === 0x0e) ||
    asc === 0x2f ||
    (asc === 0x2a && (ascq === 0x01 || ascq === 0x02 || ascq === 0x03 || ascq === 0x04 || ascq === 0x05)) ||
    (asc === 0x2a && ascq === 0x09 && peripheralType === DeviceType.DISK);
}

/** The ASC/ASCQ of a UNIT ATTENTION sense, or undefined for anything else. */
export function unitAttentionOf(sense: Buffer | undefined): AscPair | undefined {
  if (!sense || sense.length < 4) return undefined;
  const s = parseSense(sense);
  return s.key === SenseKey.UNIT_ATTENTION ? { asc: s.asc, ascq: s.ascq } : undefined;
}
