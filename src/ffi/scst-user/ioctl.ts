// scst_user ABI (part of src/ffi/scst-user-abi.ts): the _IOC encoding, the ioctl numbers of
// /dev/scst_user and the subcommand codes of scst_user_get_cmd.

// ---------------------------------------------------------------------------------------------
// _IOC (asm-generic/ioctl.h: nr 8 bits, type 8 bits, size 14 bits, dir 2 bits)
// ---------------------------------------------------------------------------------------------

export const IOC_DIR = { NONE: 0, WRITE: 1, READ: 2 } as const;

export function ioc(dir: number, type: string, nr: number, size: number): number {
  if (dir < 0 || dir > 3 || nr < 0 || nr > 0xff || size < 0 || size > 0x3fff || type.length !== 1) {
    throw new RangeError(`_IOC(${dir}, '${type}', ${nr}, ${size}) out of range`);
  }
  return ((dir << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;
}
export const io = (type: string, nr: number): number => ioc(IOC_DIR.NONE, type, nr, 0);
export const ior = (type: string, nr: number, size: number): number => ioc(IOC_DIR.READ, type, nr, size);
export const iow = (type: string, nr: number, size: number): number => ioc(IOC_DIR.WRITE, type, nr, size);
export const iowr = (type: string, nr: number, size: number): number =>
  ioc(IOC_DIR.READ | IOC_DIR.WRITE, type, nr, size);
export const iocNr = (req: number): number => req & 0xff;
export const iocType = (req: number): string => String.fromCharCode((req >>> 8) & 0xff);
export const iocSize = (req: number): number => (req >>> 16) & 0x3fff;
export const iocDir = (req: number): number => req >>> 30;

// ---------------------------------------------------------------------------------------------
// ioctl numbers and subcodes (hard-coded from scst_user.h; kernel/scst_user/abi-check.c and its unit test verify them)
// ---------------------------------------------------------------------------------------------

export const SCST_USER_IOCTLS = {
  SCST_USER_REGISTER_DEVICE: 0x40a07501, //       _IOW('u', 1, scst_user_dev_desc)
  SCST_USER_UNREGISTER_DEVICE: 0x00007502, //     _IO('u', 2)   obsolete: only wakes waiters
  SCST_USER_SET_OPTIONS: 0x40147503, //           _IOW('u', 3, scst_user_opt)
  SCST_USER_GET_OPTIONS: 0x80147504, //           _IOR('u', 4, scst_user_opt)
  SCST_USER_REPLY_AND_GET_CMD: 0xc2207505, //     _IOWR('u', 5, scst_user_get_cmd)
  SCST_USER_REPLY_CMD: 0x40387506, //             _IOW('u', 6, scst_user_reply_cmd)
  SCST_USER_FLUSH_CACHE: 0x00007507, //           _IO('u', 7)
  SCST_USER_DEVICE_CAPACITY_CHANGED: 0x00007508, // _IO('u', 8)  TYPE_DISK only
  SCST_USER_GET_EXTENDED_CDB: 0xc0107509, //      _IOWR('u', 9, scst_user_get_ext_cdb)
  SCST_USER_PREALLOC_BUFFER: 0xc010750a, //       _IOWR('u', 10, union scst_user_prealloc_buffer)
  SCST_USER_REPLY_AND_GET_MULTI: 0xc010750b, //   _IOWR('u', 11, scst_user_get_multi)
} as const;

/** scst_user_get_cmd.subcode values; a reply must echo the received subcode exactly. */
export const SCST_USER_SUBCODES = {
  SCST_USER_ATTACH_SESS: 0x82187320, //           _IOR('s', 0x20, scst_user_sess)
  SCST_USER_DETACH_SESS: 0x82187321, //           _IOR('s', 0x21, scst_user_sess)
  SCST_USER_PARSE: 0xc0507301, //                 _IOWR('s', 1, scst_user_scsi_cmd_parse)
  SCST_USER_ALLOC_MEM: 0xc0287302, //             _IOWR('s', 2, scst_user_scsi_cmd_alloc_mem)
  SCST_USER_EXEC: 0xc0687303, //                  _IOWR('s', 3, scst_user_scsi_cmd_exec)
  SCST_USER_ON_FREE_CMD: 0x80107304, //           _IOR('s', 4, scst_user_scsi_on_free_cmd)
  SCST_USER_ON_CACHED_MEM_FREE: 0x80087305, //    _IOR('s', 5, scst_user_on_cached_mem_free)
  SCST_USER_TASK_MGMT_RECEIVED: 0xc0187308, //    _IOWR('s', 8, scst_user_tm)
  SCST_USER_TASK_MGMT_DONE: 0xc0187309, //        _IOWR('s', 9, scst_user_tm)
  SCST_USER_EXT_COPY_REMAP: 0xc0307306, //        _IOWR('s', 6, scst_user_ext_copy_remap)
} as const;

export type SubcodeName = keyof typeof SCST_USER_SUBCODES;
const SUBCODE_NAMES = new Map<number, SubcodeName>(
  (Object.entries(SCST_USER_SUBCODES) as [SubcodeName, number][]).map(([k, v]) => [v, k]),
);
/** The C name of a subcode, or undefined if this ABI does not know it. */
export const subcodeName = (subcode: number): SubcodeName | undefined => SUBCODE_NAMES.get(subcode >>> 0);
