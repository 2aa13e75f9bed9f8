// A program the kernel's verifier rejects is one clear error that says so,
// with the verifier's last lines kept for the log at debug level (libbpf's own
// dump of the log never reaches the log as a warning), and nothing pinned.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfError } from '../../src/bpf/errors.js';
import { type LibbpfPrintLevel, setLibbpfPrint } from '../../src/bpf/libbpf.js';
import { BpfObject } from '../../src/bpf/object.js';
import { removePinDir, testPinDir } from '../support/exporter.js';
import { requireBpf } from '../support/privileges.js';

const REJECTED = fileURLToPath(new URL('../../../test/fixtures/bpf/verifier_rejects.bpf.o', import.meta.url));
const REJECTED_LONG = fileURLToPath(new URL('../../../test/fixtures/bpf/verifier_rejects_long.bpf.o', import.meta.url));

describe('a program the verifier rejects', function () {
  let pinDir: string;

  before(function () {
    requireBpf(this);
    pinDir = testPinDir();
    mkdirSync(pinDir);
  });

  after(function () {
    if (pinDir) removePinDir(pinDir);
  });

  it('fails with one line naming the verifier, its last lines kept for the debug log', function () {
    const messages: Array<[LibbpfPrintLevel, string]> = [];
    setLibbpfPrint((level, message) => messages.push([level, message]));
    let error: unknown;
    try {
      BpfObject.load(REJECTED, pinDir).close();
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof BpfError, `a BpfError, got ${String(error)}`);
    assert.match(error.message, /^the kernel's verifier rejected a program of verifier_rejects\.bpf\.o \(E[A-Z]+\): .*--log-level debug$/);
    assert.doesNotMatch(error.message, /\n/, 'one line');
    const tail = error.verifierLog ?? [];
    assert.ok(tail.length > 0 && tail.length <= 20, `the last lines, at most 20: ${tail.length}`);
    assert.ok(
      tail.some((l) => /invalid mem access|map_value_or_null/.test(l)),
      `the verifier's reason is among them:\n${tail.join('\n')}`,
    );
    const warnings = messages.filter(([level]) => level === 'warn').map(([, m]) => m);
    assert.deepEqual(
      warnings.filter((m) => /PROG LOAD LOG|load failed|failed to load/.test(m)),
      [],
      'no load-failure warnings',
    );
    assert.ok(
      messages.some(([level, m]) => level === 'debug' && m.includes('BEGIN PROG LOAD LOG')),
      "libbpf's dump went to debug",
    );
    assert.equal(existsSync(join(pinDir, 'rejected_counter')), false, 'nothing left pinned');
  });

  it('finds the end of a verifier log longer than any fixed buffer, and its last lines', function () {
    const messages: Array<[LibbpfPrintLevel, string]> = [];
    setLibbpfPrint((level, message) => messages.push([level, message]));
    let error: unknown;
    try {
      BpfObject.load(REJECTED_LONG, pinDir).close();
    } catch (e) {
      error = e;
    }
    const dump = messages.find(([, m]) => m.includes('BEGIN PROG LOAD LOG'))?.[1] ?? '';
    assert.ok(dump.length > 256 * 1024, `the log is long (${dump.length} bytes)`);
    assert.ok(dump.includes('END PROG LOAD LOG'), 'and arrives whole');
    assert.ok(error instanceof BpfError, `a BpfError, got ${String(error)}`);
    assert.match(error.message, /^the kernel's verifier rejected a program of verifier_rejects_long\.bpf\.o/);
    const tail = error.verifierLog ?? [];
    assert.ok(
      tail.some((l) => /invalid mem access|map_value_or_null/.test(l)),
      `the verifier's reason is among the last lines:\n${tail.join('\n')}`,
    );
  });
});
