// iSCSI (RFC 7143) wire constants: opcodes, flag bits, status and reason codes.

export const BHS_LENGTH = 48;
/** Reserved tag meaning "no task" (ITT/TTT 0xffffffff). */
export const RESERVED_TAG = 0xffffffff;

export const Opcode = {
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskMgmtRequest: 0x02,
  LoginRequest: 0x03,
  TextRequest: 0x04,
  DataOut: 0x05,
  LogoutRequest: 0x06,
  SnackRequest: 0x10,
  NopIn: 0x20,
  ScsiResponse: 0x21,
  TaskMgmtResponse: 0x22,
  LoginResponse: 0x23,
  TextResponse: 0x24,
  DataIn: 0x25,
  LogoutResponse: 0x26,
  R2T: 0x31,
  AsyncMessage: 0x32,
  Reject: 0x3f,
} as const;

export const OPCODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Opcode).map(([k, v]) => [v, k]),
);

/** Byte 0 bit: immediate delivery. */
export const FLAG_IMMEDIATE = 0x40;
/** Byte 1 bit: Final (F) / Transit (T) for login. */
export const FLAG_FINAL = 0x80;

export const ScsiCmdFlag = { Final: 0x80, Read: 0x40, Write: 0x20, AttrMask: 0x07 } as const;
export const DataInFlag = { Final: 0x80, Ack: 0x40, Overflow: 0x04, Underflow: 0x02, Status: 0x01 } as const;
export const ScsiRespFlag = {
  BidiOverflow: 0x10,
  BidiUnderflow: 0x08,
  Overflow: 0x04,
  Underflow: 0x02,
} as const;
export const LoginFlag = { Transit: 0x80, Continue: 0x40 } as const;
export const TextFlag = { Final: 0x80, Continue: 0x40 } as const;

/** Login stages (CSG/NSG). */
export const Stage = { Security: 0, Operational: 1, FullFeature: 3 } as const;

/** SCSI Response "Response" field. */
export const ScsiRespCode = { Completed: 0x00, TargetFailure: 0x01 } as const;

export const TmfFunction = {
  AbortTask: 1,
  AbortTaskSet: 2,
  ClearAca: 3,
  ClearTaskSet: 4,
  LogicalUnitReset: 5,
  TargetWarmReset: 6,
  TargetColdReset: 7,
  TaskReassign: 8,
} as const;

export const TmfResponse = {
  Complete: 0,
  TaskDoesNotExist: 1,
  LunDoesNotExist: 2,
  TaskStillAllegiant: 3,
  ReassignNotSupported: 4,
  NotSupported: 5,
  AuthorizationFailed: 6,
  Rejected: 255,
} as const;

export const LogoutReason = { CloseSession: 0, CloseConnection: 1, RemoveForRecovery: 2 } as const;
export const LogoutResponse = {
  Success: 0,
  CidNotFound: 1,
  RecoveryNotSupported: 2,
  CleanupFailed: 3,
} as const;

export const RejectReason = {
  DataDigestError: 0x02,
  SnackReject: 0x03,
  ProtocolError: 0x04,
  CommandNotSupported: 0x05,
  ImmediateCommandReject: 0x06,
  TaskInProgress: 0x07,
  InvalidDataAck: 0x08,
  InvalidPduField: 0x09,
  LongOpReject: 0x0a,
  WaitingForLogout: 0x0c,
} as const;

export const AsyncEvent = {
  ScsiAsyncEvent: 0,
  RequestLogout: 1,
  DropConnection: 2,
  DropAllConnections: 3,
  Renegotiate: 4,
  VendorSpecific: 255,
} as const;

/** Login Status-Class / Status-Detail as one 16-bit value (class << 8 | detail). */
export const LoginStatus = {
  Success: 0x0000,
  TargetMovedTemp: 0x0101,
  TargetMovedPerm: 0x0102,
  InitiatorError: 0x0200,
  AuthFailure: 0x0201,
  AuthorizationFailure: 0x0202,
  TargetNotFound: 0x0203,
  TargetRemoved: 0x0204,
  UnsupportedVersion: 0x0205,
  TooManyConnections: 0x0206,
  MissingParameter: 0x0207,
  CantIncludeInSession: 0x0208,
  SessionTypeNotSupported: 0x0209,
  SessionDoesNotExist: 0x020a,
  InvalidDuringLogin: 0x020b,
  TargetError: 0x0300,
  ServiceUnavailable: 0x0301,
  OutOfResources: 0x0302,
} as const;

/** SAM status codes used by the link itself. */
export const SamStatus = { Good: 0x00, CheckCondition: 0x02, Busy: 0x08, TaskAborted: 0x40 } as const;

/** Serial number arithmetic (RFC 1982, 32 bits): a < b. */
export function snLess(a: number, b: number): boolean {
  return a !== b && ((b - a) >>> 0) < 0x80000000;
}
/** a <= b in serial arithmetic. */
export function snLessEq(a: number, b: number): boolean {
  return a === b || snLess(a, b);
}
export function snAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
