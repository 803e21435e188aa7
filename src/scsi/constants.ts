// SAM/SPC/SBC numbers used by the SCSI core and the handlers. `as const` objects, no enums.

/** SAM-5 status codes. */
export const Status = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  ACA_ACTIVE: 0x30,
  TASK_ABORTED: 0x40,
} as const;

/** Operation codes (SPC-5, SBC-4). Service-action opcodes carry the action in CDB byte 1. */
export const Op = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  FORMAT_UNIT: 0x04,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  INQUIRY: 0x12,
  MODE_SELECT_6: 0x15,
  RESERVE_6: 0x16,
  RELEASE_6: 0x17,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  SEND_DIAGNOSTIC: 0x1d,
  PREVENT_ALLOW_MEDIUM_REMOVAL: 0x1e,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  WRITE_AND_VERIFY_10: 0x2e,
  VERIFY_10: 0x2f,
  PRE_FETCH_10: 0x34,
  SYNCHRONIZE_CACHE_10: 0x35,
  WRITE_SAME_10: 0x41,
  UNMAP: 0x42,
  LOG_SELECT: 0x4c,
  LOG_SENSE: 0x4d,
  MODE_SELECT_10: 0x55,
  RESERVE_10: 0x56,
  RELEASE_10: 0x57,
  MODE_SENSE_10: 0x5a,
  PERSISTENT_RESERVE_IN: 0x5e,
  PERSISTENT_RESERVE_OUT: 0x5f,
  VARIABLE_LENGTH: 0x7f,
  READ_16: 0x88,
  COMPARE_AND_WRITE: 0x89,
  WRITE_16: 0x8a,
  WRITE_AND_VERIFY_16: 0x8e,
  VERIFY_16: 0x8f,
  PRE_FETCH_16: 0x90,
  SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93,
  SERVICE_ACTION_IN_16: 0x9e,
  SERVICE_ACTION_OUT_16: 0x9f,
  REPORT_LUNS: 0xa0,
  MAINTENANCE_IN: 0xa3,
  MAINTENANCE_OUT: 0xa4,
  READ_12: 0xa8,
  WRITE_12: 0xaa,
  WRITE_AND_VERIFY_12: 0xae,
  VERIFY_12: 0xaf,
} as const;

/** Service actions of SERVICE ACTION IN(16) (9Eh). */
export const SaiAction = { READ_CAPACITY_16: 0x10, GET_LBA_STATUS: 0x12 } as const;
/** Service actions of MAINTENANCE IN (A3h). */
export const MaintenanceIn = {
  REPORT_TARGET_PORT_GROUPS: 0x0a,
  REPORT_SUPPORTED_OPERATION_CODES: 0x0c,
  REPORT_SUPPORTED_TMFS: 0x0d,
} as const;

/** Opcodes whose CDB byte 1 bits 4..0 hold a service action (SPC-5 §4.2.5.1). */
export const SERVICE_ACTION_OPCODES: ReadonlySet<number> = new Set([
  0x48, 0x5e, 0x5f, 0x83, 0x84, 0x9e, 0x9f, 0xa3, 0xa4,
]);

export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  BLANK_CHECK: 0x8,
  ABORTED_COMMAND: 0xb,
  MISCOMPARE: 0xe,
} as const;

/** An additional sense code and qualifier. */
export interface AscPair {
  readonly asc: number;
  readonly ascq: number;
}

const p = (asc: number, ascq: number): AscPair => Object.freeze({ asc, ascq });

/** ASC/ASCQ pairs used in this project (SPC-5 Annex F). */
export const Asc = {
  NO_ADDITIONAL_SENSE: p(0x00, 0x00),
  LUN_NOT_READY_CAUSE_NOT_REPORTABLE: p(0x04, 0x00),
  LUN_NOT_READY_MANUAL_INTERVENTION: p(0x04, 0x03),
  WRITE_ERROR: p(0x0c, 0x00),
  INVALID_FIELD_IN_COMMAND_IU: p(0x0e, 0x03),
  UNRECOVERED_READ_ERROR: p(0x11, 0x00),
  MISCOMPARE_DURING_VERIFY: p(0x1d, 0x00),
  PARAMETER_LIST_LENGTH_ERROR: p(0x1a, 0x00),
  INVALID_COMMAND_OPERATION_CODE: p(0x20, 0x00),
  LBA_OUT_OF_RANGE: p(0x21, 0x00),
  INVALID_FIELD_IN_CDB: p(0x24, 0x00),
  LOGICAL_UNIT_NOT_SUPPORTED: p(0x25, 0x00),
  INVALID_FIELD_IN_PARAMETER_LIST: p(0x26, 0x00),
  WRITE_PROTECTED: p(0x27, 0x00),
  HARDWARE_WRITE_PROTECTED: p(0x27, 0x01),
  SOFTWARE_WRITE_PROTECTED: p(0x27, 0x02),
  NOT_READY_TO_READY_CHANGE: p(0x28, 0x00),
  POWER_ON_RESET_OR_BUS_DEVICE_RESET: p(0x29, 0x00),
  POWER_ON_OCCURRED: p(0x29, 0x01),
  SCSI_BUS_RESET_OCCURRED: p(0x29, 0x02),
  BUS_DEVICE_RESET_FUNCTION_OCCURRED: p(0x29, 0x03),
  I_T_NEXUS_LOSS_OCCURRED: p(0x29, 0x07),
  MODE_PARAMETERS_CHANGED: p(0x2a, 0x01),
  RESERVATIONS_PREEMPTED: p(0x2a, 0x03),
  RESERVATIONS_RELEASED: p(0x2a, 0x04),
  REGISTRATIONS_PREEMPTED: p(0x2a, 0x05),
  CAPACITY_DATA_HAS_CHANGED: p(0x2a, 0x09),
  COMMANDS_CLEARED_BY_ANOTHER_INITIATOR: p(0x2f, 0x00),
  SAVING_PARAMETERS_NOT_SUPPORTED: p(0x39, 0x00),
  MEDIUM_NOT_PRESENT: p(0x3a, 0x00),
  REPORTED_LUNS_DATA_HAS_CHANGED: p(0x3f, 0x0e),
  INTERNAL_TARGET_FAILURE: p(0x44, 0x00),
  MEDIUM_REMOVAL_PREVENTED: p(0x53, 0x02),
} as const;

/** Version descriptors (SPC-5 Table 'Version descriptor values'). */
export const VersionDescriptor = {
  SAM_5: 0x00a0,
  SPC_4: 0x0460,
  SBC_3: 0x04c0,
  ISCSI: 0x0960,
} as const;

/** Peripheral device types. */
export const DeviceType = {
  DISK: 0x00,
  TAPE: 0x01,
  CDROM: 0x05,
  CHANGER: 0x08,
  UNKNOWN: 0x1f,
} as const;
