// I_T nexus identity for iSCSI (RFC 7143 §4.4.2, SPC-4 §7.6.4.6 TransportID).

import type { Nexus } from '../../scsi/command.ts';

/** iSCSI protocol identifier in SPC TransportIDs. */
export const PROTOCOL_ID_ISCSI = 5;

export function isidHex(isid: Buffer): string {
  return isid.subarray(0, 6).toString('hex');
}

/** "<initiator name>,i,0x<isid>" */
export function initiatorPortName(initiatorName: string, isid: Buffer): string {
  return `${initiatorName},i,0x${isidHex(isid)}`;
}

/** "<target name>,t,0x<tpgt>" */
export function targetPortName(targetName: string, tpgt: number): string {
  return `${targetName},t,0x${tpgt.toString(16).padStart(4, '0')}`;
}

/**
 * SPC-4 iSCSI TransportID, format code 01b (initiator port): byte 0 = 0x40 | protocol id 5,
 * bytes 2..3 = additional length, then the NUL-terminated "name,i,0x<isid>" padded with NULs to
 * a multiple of 4 (at least 20 bytes).
 */
export function iscsiTransportId(initiatorName: string, isid: Buffer): Buffer {
  const name = Buffer.from(initiatorPortName(initiatorName, isid), 'utf8');
  const addl = Math.max(20, (name.length + 1 + 3) & ~3);
  const out = Buffer.alloc(4 + addl);
  out[0] = 0x40 | PROTOCOL_ID_ISCSI;
  out.writeUInt16BE(addl, 2);
  name.copy(out, 4);
  return out;
}

export function makeNexus(initiatorName: string, isid: Buffer, targetName: string, tpgt: number): Nexus {
  const initiatorPort = initiatorPortName(initiatorName, isid);
  const targetPort = targetPortName(targetName, tpgt);
  return {
    id: `${initiatorPort}|${targetPort}`,
    initiatorPort,
    targetPort,
    relativeTargetPort: 1,
    transportId: iscsiTransportId(initiatorName, isid),
  };
}
