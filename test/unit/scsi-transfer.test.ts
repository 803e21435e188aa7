// Direction, length and medium-write flag of CDBs per device type (src/scsi/transfer.ts), on bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transferOf } from '../../src/scsi/transfer.ts';

const t = (cdb: number[], type: number, blockSize = 512, fixed?: number) =>
  transferOf(Buffer.from(cdb), type, { blockSize, fixedBlockLength: () => fixed });

test('SPC commands for every type: allocation and parameter list lengths', () => {
  for (const type of [0, 1, 5, 8]) {
    assert.deepEqual(t([0x12, 0, 0, 0x01, 0x00, 0], type), { direction: 'read', length: 256, mediumWrite: false }, 'INQUIRY');
    assert.deepEqual(t([0, 0, 0, 0, 0, 0], type), { direction: 'none', length: 0, mediumWrite: false }, 'TUR');
    assert.deepEqual(t([0x55, 0x10, 0, 0, 0, 0, 0, 0, 24, 0], type), { direction: 'write', length: 24, mediumWrite: false }, 'MODE SELECT(10)');
    assert.deepEqual(t([0xa0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], type), { direction: 'read', length: 65536, mediumWrite: false }, 'REPORT LUNS');
    assert.deepEqual(t([0x1a, 0, 0x3f, 0, 0, 0], type), { direction: 'none', length: 0, mediumWrite: false }, 'allocation length 0 moves nothing');
  }
  assert.equal(t([0x12, 0, 0, 1], 0), undefined, 'a CDB too short for its length field');
  assert.equal(t([0xd8, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0), undefined, 'vendor opcode');
  assert.equal(transferOf(Buffer.alloc(0), 0, { blockSize: 512 }), undefined);
});

test('SBC: blocks times block size, READ(6) 0 means 256, VERIFY by BYTCHK, WRITE SAME, medium writes', () => {
  assert.deepEqual(t([0x08, 0, 0, 0, 0, 0], 0), { direction: 'read', length: 256 * 512, mediumWrite: false });
  assert.deepEqual(t([0x2a, 0, 0, 0, 0, 1, 0, 0, 8, 0], 0, 4096), { direction: 'write', length: 32768, mediumWrite: true });
  assert.deepEqual(t([0x88, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0], 0), { direction: 'read', length: 1536, mediumWrite: false });
  assert.deepEqual(t([0x2f, 0, 0, 0, 0, 0, 0, 0, 4, 0], 0), { direction: 'none', length: 0, mediumWrite: false }, 'VERIFY BYTCHK=0');
  assert.deepEqual(t([0x2f, 0x02, 0, 0, 0, 0, 0, 0, 4, 0], 0), { direction: 'write', length: 2048, mediumWrite: false }, 'BYTCHK=1');
  assert.deepEqual(t([0x2f, 0x06, 0, 0, 0, 0, 0, 0, 4, 0], 0), { direction: 'write', length: 512, mediumWrite: false }, 'BYTCHK=3: one block');
  assert.deepEqual(t([0x93, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], 0), { direction: 'write', length: 512, mediumWrite: true });
  assert.deepEqual(t([0x93, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], 0), { direction: 'none', length: 0, mediumWrite: true }, 'NDOB');
  assert.deepEqual(t([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], 0), { direction: 'write', length: 24, mediumWrite: true }, 'UNMAP');
  assert.deepEqual(t([0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0], 0), { direction: 'write', length: 2048, mediumWrite: true }, 'COMPARE AND WRITE: twice the blocks');
  assert.deepEqual(t([0x04, 0, 0, 0, 0, 0], 0), { direction: 'none', length: 0, mediumWrite: true }, 'FORMAT UNIT without data');
  assert.equal(t([0x04, 0x10, 0, 0, 0, 0], 0), undefined, 'FORMAT UNIT data length is not in the CDB');
});

test('MMC, SSC and SMC reuse opcodes with their own meanings', () => {
  assert.deepEqual(t([0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0], 5, 2048), { direction: 'read', length: 4096, mediumWrite: false });
  assert.deepEqual(t([0xa4, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], 5), { direction: 'read', length: 8, mediumWrite: false }, 'REPORT KEY, not MAINTENANCE OUT');
  assert.deepEqual(t([0xa4, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], 0), { direction: 'write', length: 8, mediumWrite: false }, 'MAINTENANCE OUT on a disk (bytes 6-9)');
  assert.deepEqual(t([0xbe, 0, 0, 0, 0, 0, 0, 0, 2, 0x10, 0, 0], 5), { direction: 'read', length: 4096, mediumWrite: false }, 'READ CD user data');
  assert.deepEqual(t([0xbe, 0, 0, 0, 0, 0, 0, 0, 2, 0xf8, 0, 0], 5), { direction: 'read', length: 4704, mediumWrite: false }, 'READ CD raw');
  // tape READ/WRITE(6): bytes in variable mode, blocks of the current length in fixed mode
  assert.deepEqual(t([0x0a, 0, 0x01, 0x00, 0x00, 0], 1), { direction: 'write', length: 65536, mediumWrite: true });
  assert.deepEqual(t([0x08, 1, 0, 0, 4, 0], 1, 512, 1024), { direction: 'read', length: 4096, mediumWrite: false });
  assert.equal(t([0x08, 1, 0, 0, 4, 0], 1, 512, 0), undefined, 'fixed mode with no block length known');
  assert.deepEqual(t([0x10, 0, 0, 0, 1, 0], 1), { direction: 'none', length: 0, mediumWrite: true }, 'WRITE FILEMARKS');
  assert.deepEqual(t([0x34, 0x00, 0, 0, 0, 0, 0, 0, 0, 0], 1), { direction: 'read', length: 20, mediumWrite: false }, 'READ POSITION short');
  assert.deepEqual(t([0x34, 0x08, 0, 0, 0, 0, 0, 0, 40, 0], 1), { direction: 'read', length: 40, mediumWrite: false }, 'READ POSITION extended');
  assert.deepEqual(t([0x34, 0x00, 0, 0, 0, 0, 0, 0, 0, 0], 0), { direction: 'none', length: 0, mediumWrite: false }, '34h is PRE-FETCH on a disk');
  assert.deepEqual(t([0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1), { direction: 'none', length: 0, mediumWrite: false }, 'SPACE(16)');
  assert.deepEqual(t([0xb8, 0x10, 0, 0, 0, 10, 0, 0x01, 0, 0, 0, 0], 8), { direction: 'read', length: 65536, mediumWrite: false }, 'READ ELEMENT STATUS 24-bit');
  assert.deepEqual(t([0xa5, 0, 0, 0, 4, 1, 0, 1, 0, 0, 0, 0], 8), { direction: 'none', length: 0, mediumWrite: false }, 'MOVE MEDIUM');
  assert.deepEqual(t([0x37, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8), { direction: 'none', length: 0, mediumWrite: false }, 'INITIALIZE ELEMENT STATUS WITH RANGE');
  assert.deepEqual(t([0x37, 0, 0, 0, 0, 0, 0, 0, 8, 0], 0), { direction: 'read', length: 8, mediumWrite: false }, 'READ DEFECT DATA(10) on a disk');
});
