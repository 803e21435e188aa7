// scst_user ABI (part of src/ffi/scst-user-abi.ts): the REPLY_AND_GET_MULTI argument header
// and its command slots.
import { GET_CMD_SIZE, GET_MULTI_HEADER_SIZE } from './layouts.ts';

// ---------------------------------------------------------------------------------------------
// scst_user_get_multi
// ---------------------------------------------------------------------------------------------

/** Bytes needed for a REPLY_AND_GET_MULTI argument with room for `cmds` commands. */
export const getMultiSize = (cmds: number): number => GET_MULTI_HEADER_SIZE + cmds * GET_CMD_SIZE;
/** Offset of command slot i within a REPLY_AND_GET_MULTI argument at base. */
export const getMultiCmdOffset = (base: number, i: number): number => base + GET_MULTI_HEADER_SIZE + i * GET_CMD_SIZE;

const MAX_S16 = 0x7fff;

/** Header: preplies → replies_cnt × scst_user_reply_cmd; cmds_cnt = slots following the header. */
export function encodeGetMulti(dv: DataView, base: number, preplies: bigint, replies_cnt: number, cmds_cnt: number): void {
  if (replies_cnt < 0 || replies_cnt > MAX_S16 || cmds_cnt < 0 || cmds_cnt > MAX_S16) {
    throw new RangeError('replies_cnt and cmds_cnt are int16');
  }
  dv.setBigUint64(base, preplies, true);
  dv.setInt16(base + 8, replies_cnt, true);
  dv.setInt16(base + 10, 0, true);
  dv.setInt16(base + 12, cmds_cnt, true);
  dv.setInt16(base + 14, 0, true);
}

/** After the ioctl (read it even when the ioctl failed): replies consumed, commands filled. */
export function decodeGetMultiResult(dv: DataView, base: number): { replies_done: number; cmds_cnt: number } {
  return { replies_done: dv.getInt16(base + 10, true), cmds_cnt: dv.getInt16(base + 12, true) };
}
