// A processor device (SPC peripheral device type 3) with one vendor-specific command, in plain
// JavaScript, living outside the fileio_tgt tree:
//
//   C1h HELLO  CDB: C1h, 0, 0, ALLOCATION LENGTH (2 bytes, big-endian), CONTROL
//              data-in: "hello, <initiator name> (<count>)"
//
// Serve it:  fileio_tgt --handlers ./handlers.json --type hello hello1 -
// ("-": this device has no backing file.) Everything else an initiator may ask - INQUIRY, TEST
// UNIT READY, REQUEST SENSE, REPORT LUNS, REPORT SUPPORTED OPERATION CODES, unit attentions -
// the ScsiLogicalUnit core answers.
import { DeviceType, ScsiLogicalUnit, VersionDescriptor, allocationLength, identityOf, invalidCdbField, truncate } from 'fileio_tgt/handler';

export default {
  description: 'example: a processor device that greets its initiator (vendor opcode C1h)',

  async create(config, host) {
    let greetings = 0;
    return new ScsiLogicalUnit({
      name: config.name,
      type: config.type,
      peripheralType: DeviceType.PROCESSOR,
      removable: false,
      identity: identityOf(config), // vendor, product, serial and NAA id from the config
      versionDescriptors: [VersionDescriptor.SPC_4],
      modePages: [],
      commands: [
        {
          opcode: 0xc1,
          name: 'HELLO',
          // CDB USAGE DATA (REPORT SUPPORTED OPERATION CODES): the opcode, then one mask per CDB
          // byte with the bits the command looks at. C0h-FFh are vendor specific, so nothing else
          // says how long the CDB is: the length of this array does (6 bytes here).
          usage: [0xc1, 0x00, 0x00, 0xff, 0xff, 0x07],
          run: ({ cdb, cmd }) => {
            if (cdb[1] !== 0) throw invalidCdbField(1); // 05/24/00 with the field pointer at byte 1
            greetings++;
            const who = cmd.nexus.initiatorPort.split(',')[0];
            return truncate(Buffer.from(`hello, ${who} (${greetings})`), allocationLength(cdb, 3, 2));
          },
        },
      ],
      describe: () => ({ greetings }), // shown by fileio_tgt status
      flush: async () => {},
      close: async () => {},
      log: host.log,
    });
  },
};
