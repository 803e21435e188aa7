import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCunitLog, tally } from '../conformance/cunit-log.ts';

// Captured from iscsi-test-cu 1.19.0 against tgt 1.0.85 (two suites, trimmed banner).
const LOG = `found matching LU device identifier for all (2) paths

     CUnit - A unit testing framework for C - Version 2.1-3

Suite: CompareAndWrite
  Test: Simple ...    [SKIPPED] COMPAREANDWRITE is not implemented.
    [SKIPPED] COMPAREANDWRITE is not implemented.
passed
  Test: InvalidDataOutSize ...    [SKIPPED] Logical unit is fully provisioned. Skipping test
passed    [SKIPPED] PERSISTENT RESERVE IN is not implemented.
    [SKIPPED] PERSISTENT RESERVE IN is not implemented.

Suite: GetLBAStatus
  Test: Simple ...passed
  Test: BeyondEol ...    [FAILED] GET_LBA_STATUS successful but should have failed with ILLEGAL_REQUEST(0x05)/LBA_OUT_OF_RANGE(0x2100)
FAILED
    1. test_get_lba_status_beyond_eol.c:38  - CU_ASSERT_EQUAL(_r,0)
  Test: UnmapVPD ...    [FAILED] informational line printed by a passing test
passed
  Test: LUNReset ...passed    [FAILED] PRIN command: failed with sense. SENSE KEY:UNIT_ATTENTION(6) ASCQ:BUS_RESET(0x2900)
    [FAILED] PRIN command: failed with sense. SENSE KEY:UNIT_ATTENTION(6) ASCQ:BUS_RESET(0x2900)

  Test: Broken ...
Run Summary:    Type  Total    Ran Passed Failed Inactive
`;

test('classifies passed, failed, skipped, and interrupted tests', () => {
  const r = parseCunitLog(LOG);
  assert.deepEqual(
    r.map((x) => [x.suite, x.test, x.status]),
    [
      ['CompareAndWrite', 'Simple', 'skipped'],
      ['CompareAndWrite', 'InvalidDataOutSize', 'skipped'],
      ['GetLBAStatus', 'Simple', 'passed'],
      ['GetLBAStatus', 'BeyondEol', 'failed'],
      ['GetLBAStatus', 'UnmapVPD', 'passed'],
      ['GetLBAStatus', 'LUNReset', 'passed'],
      ['GetLBAStatus', 'Broken', 'failed'],
    ],
  );
  assert.equal(r[0].reason, 'COMPAREANDWRITE is not implemented.');
  assert.match(r[3].reason, /^GET_LBA_STATUS successful but should have failed/);
  assert.equal(r[6].reason, 'no result (run interrupted)');
  assert.deepEqual(tally(r), { passed: 3, failed: 2, skipped: 2 });
});
