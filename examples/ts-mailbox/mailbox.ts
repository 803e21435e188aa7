// A processor device that keeps one message, in TypeScript: two vendor-specific commands with
// 10-byte CDBs, one with data-out and one with data-in.
//
//   C2h PUT MESSAGE  CDB: C2h, 0 x6, PARAMETER LIST LENGTH (bytes 7-8), CONTROL   data-out: the message
//   C3h GET MESSAGE  CDB: C3h, 0 x6, ALLOCATION LENGTH (bytes 7-8), CONTROL       data-in: the message
//
// A message longer than 4096 bytes is 05/24/00 INVALID FIELD IN CDB pointing at byte 7; GET
// before any PUT is 02/3A/00 MEDIUM NOT PRESENT. Serve it:
//   fileio_tgt --handlers examples/ts-mailbox/handlers.json --type mailbox box1 -
import {
  Asc,
  CheckCondition,
  DeviceType,
  ScsiLogicalUnit,
  SenseKey,
  VersionDescriptor,
  allocationLength,
  identityOf,
  invalidCdbField,
  requireDataOut,
  truncate,
  usage,
  type CommandEntry,
  type HandlerModule,
} from 'fileio_tgt/handler';

const MAX_MESSAGE = 4096;
/** The bits these CDBs use: bytes 7-8 (the length) and the NACA/LINK bits of CONTROL. */
const LENGTH_AT_7 = [0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07];

const mailbox: HandlerModule = {
  description: 'example: a processor device that keeps one message (vendor opcodes C2h PUT, C3h GET)',

  async create(config, host) {
    let message: Buffer | undefined;
    const commands: CommandEntry[] = [
      {
        opcode: 0xc2,
        name: 'PUT MESSAGE',
        usage: usage(0xc2, ...LENGTH_AT_7), // 10 masks after the opcode: a 10-byte CDB
        access: 'write',
        run: (ctx) => {
          const length = allocationLength(ctx.cdb, 7, 2);
          if (length > MAX_MESSAGE) throw invalidCdbField(7);
          message = Buffer.from(requireDataOut(ctx, length)); // 05/0E/03 if the initiator sent less
        },
      },
      {
        opcode: 0xc3,
        name: 'GET MESSAGE',
        usage: usage(0xc3, ...LENGTH_AT_7),
        access: 'read',
        run: ({ cdb }) => {
          if (!message) throw new CheckCondition(SenseKey.NOT_READY, Asc.MEDIUM_NOT_PRESENT);
          return truncate(message, allocationLength(cdb, 7, 2));
        },
      },
    ];
    return new ScsiLogicalUnit({
      name: config.name,
      type: config.type,
      peripheralType: DeviceType.PROCESSOR,
      removable: false,
      identity: identityOf(config),
      versionDescriptors: [VersionDescriptor.SPC_4],
      commands,
      modePages: [],
      describe: () => ({ messageBytes: message?.length ?? 0 }),
      flush: async () => {},
      close: async () => {},
      log: host.log,
    });
  },
};

export default mailbox;
