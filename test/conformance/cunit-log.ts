// Reads iscsi-test-cu's verbose CUnit log. CUnit reports a skipped test as "passed", so a test
// block that printed "[SKIPPED]" and passed counts as skipped; "[FAILED]" lines inside a block
// are informational and only the status after "..." decides.

export type Outcome = 'passed' | 'failed' | 'skipped';

export interface TestResult {
  suite: string;
  test: string;
  status: Outcome;
  /** First [SKIPPED] or [FAILED] message of the block, or the first failed assert. */
  reason: string;
}

export function parseCunitLog(log: string): TestResult[] {
  const out: TestResult[] = [];
  let suite = '';
  let current: { test: string; lines: string[] } | undefined;
  const finish = () => {
    if (!current) return;
    out.push(classify(suite, current.test, current.lines));
    current = undefined;
  };
  for (const line of log.split('\n')) {
    const s = /^Suite: (\S+)/.exec(line);
    if (s) {
      finish();
      suite = s[1];
      continue;
    }
    const t = /^ {2}Test: (\S+) \.\.\.(.*)$/.exec(line);
    if (t) {
      finish();
      current = { test: t[1], lines: [t[2]] };
      continue;
    }
    if (/^Run Summary:/.test(line)) {
      finish();
      continue;
    }
    current?.lines.push(line);
  }
  finish();
  return out;
}

function classify(suite: string, test: string, lines: string[]): TestResult {
  // The status is the word right after "Test: X ..." or at the start of a later line;
  // indented [FAILED] and [SKIPPED] lines are messages.
  let status: 'passed' | 'failed' | undefined;
  // Suite teardown messages may follow the status on its line ("passed    [SKIPPED] ...").
  for (const l of lines) {
    const m = /^(passed|FAILED)\b/.exec(l);
    if (m) status = m[1] === 'passed' ? 'passed' : 'failed';
  }
  const text = lines.join('\n');
  const skipped = /\[SKIPPED\]\s*(.*)/.exec(text);
  const failed = /\[FAILED\]\s*(.*)/.exec(text) ?? /^\s+\d+\. (.*)$/m.exec(text);
  if (status === 'failed') return { suite, test, status, reason: failed?.[1].trim() ?? '' };
  if (status === 'passed' && skipped) return { suite, test, status: 'skipped', reason: skipped[1].trim() };
  if (status === 'passed') return { suite, test, status, reason: '' };
  // No status line: the run was cut off (timeout, crash) inside this test.
  return { suite, test, status: 'failed', reason: 'no result (run interrupted)' };
}

export function tally(results: TestResult[]): Record<Outcome, number> {
  const t = { passed: 0, failed: 0, skipped: 0 };
  for (const r of results) t[r.status]++;
  return t;
}
