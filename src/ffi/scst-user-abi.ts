// The scst_user (/dev/scst_user) kernel ABI, as TypeScript: struct layouts, ioctl numbers,
// subcommand codes and constants, plus DataView encoders/decoders for the structs the data path
// touches on every command. Mirrors kernel/scst_user/scst_user_abi.h; the unit test
// test/unit/scst-user-abi.test.ts compiles kernel/scst_user/abi-check.c and checks every number
// here against gcc, against koffi's own layout of the same structs, and against _IOC computed
// in JS.
//
// Conventions: little-endian (x86_64 / aarch64); pointers and opaque 64-bit handles are BigInt
// (as koffi 3 pointers are); 64-bit byte counts and LBAs are read as JS numbers (exact below
// 2^53); every encoder zero-fills the struct first, so padding and unused union bytes are 0.
//
// The ABI lives in src/ffi/scst-user/, one concern per file; this module re-exports its public
// surface:
//   ioctl.ts            _IOC helpers, ioctl numbers, subcodes
//   constants.ts        numeric constants of the header, device path
//   version.ts          version / license strings for REGISTER_DEVICE
//   layouts.ts          struct layouts, sizes and codec offsets
//   koffi-types.ts      koffi declarations of the same structs
//   scalars.ts          64-bit and C-string DataView helpers
//   get-cmd.ts          scst_user_get_cmd decoder
//   reply-cmd.ts        scst_user_reply_cmd encoders
//   get-multi.ts        REPLY_AND_GET_MULTI header
//   control-structs.ts  options, dev_desc and the other control structs
export * from './scst-user/ioctl.ts';
export * from './scst-user/constants.ts';
export * from './scst-user/version.ts';
export * from './scst-user/layouts.ts';
export * from './scst-user/koffi-types.ts';
export { getI64, setI64, setU64, setCString } from './scst-user/scalars.ts';
export * from './scst-user/get-cmd.ts';
export * from './scst-user/reply-cmd.ts';
export * from './scst-user/get-multi.ts';
export * from './scst-user/control-structs.ts';
