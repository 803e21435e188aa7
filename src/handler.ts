/**
 * The public API for writing a device handler: `import { ... } from 'fileio_tgt/handler'`.
 *
 * A handler module default-exports a {@link HandlerModule}: `{ description, create(config, host) }`.
 * `create` returns a {@link LogicalUnit}; the practical way to make one is
 * `new ScsiLogicalUnit(spec)`, where the {@link LogicalUnitSpec} names the device and lists its
 * commands. The core answers INQUIRY (standard and VPD 80h/83h), TEST UNIT READY, REQUEST SENSE,
 * REPORT LUNS, MODE SENSE/SELECT, REPORT SUPPORTED OPERATION CODES and unit attentions itself;
 * a command entry adds or replaces an opcode. README.md, "Adding a handler type", walks through
 * an example; `fileio_tgt/testing` runs raw CDBs against a unit in a unit test.
 *
 * Everything exported here is kept compatible within a major version; anything imported from
 * elsewhere in the package is internal.
 * @module
 */

// what a handler module exports and is given
export type { DeviceConfig, HandlerHost, HandlerModule, LogLevel } from './handlers/contract.ts';
export { logicalUnitProblem } from './handlers/contract.ts';

// the logical unit: the base class and what a handler supplies to it
export { ScsiLogicalUnit } from './scsi/logical-unit.ts';
export type { CommandHook, LogicalUnitSpec, LuLogger } from './scsi/logical-unit.ts';
export type { LogicalUnit, Nexus, ResizeOptions, ScsiCommand, ScsiResponse, TaskAttribute, TaskManagementFunction } from './scsi/command.ts';
export { identityOf } from './scsi/inquiry.ts';
export type { LuIdentity } from './scsi/inquiry.ts';
export type { ModePageDef } from './scsi/mode-pages.ts';

// command tables: one entry per opcode
export { requireDataOut, usage } from './scsi/table.ts';
export type { AccessClass, CommandContext, CommandEntry, CommandResult, CommandRunner, UaPolicy } from './scsi/table.ts';
export { allocationLength, cdbLengthForOpcode, checkReserved, truncate } from './scsi/cdb.ts';

// sense data: throw a CheckCondition from a command; the core builds fixed or descriptor sense
export { CheckCondition, invalidCdbField, invalidOpcode, invalidParamField, parameterListLength } from './scsi/sense.ts';
export type { CheckConditionInit, FieldPointer } from './scsi/sense.ts';
export { Asc, DeviceType, SenseKey, Status, VersionDescriptor } from './scsi/constants.ts';
export type { AscPair } from './scsi/constants.ts';
