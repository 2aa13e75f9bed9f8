// A verifier rejection's one line: the verifier's own reason, or kernel
// lockdown when a locked-down kernel refused the probe-read helpers. The
// logs are the tails seen on Debian's 6.12 (tcp.bpf.o) and 6.1 (drops.bpf.o)
// booted with lockdown=confidentiality, and on this machine's kernel
// (test/fixtures' rejected program).
import assert from 'node:assert/strict';
import { BpfError, verifierVerdict } from '../../../src/bpf/errors.js';

const LOCKED_DOWN_TAIL = [
  '437: (79) r3 = *(u64 *)(r10 -144)     ; R3_w=scalar(id=9) R10=fp0 fp-144=scalar(id=9) refs=17',
  '438: (85) call bpf_probe_read#4',
  'program of this type cannot use helper bpf_probe_read#4',
  'processed 243 insns (limit 1000000) max_states_per_insn 0 total_states 17 peak_states 17 mark_read 12',
];
const NULL_DEREF_TAIL = [
  '; return *v; @ verifier_rejects.bpf.c:20',
  '5: (61) r0 = *(u32 *)(r0 +0)',
  "R0 invalid mem access 'map_value_or_null'",
  'verification time 20 usec',
  'stack depth 4',
  'processed 5 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
];

describe('a verifier rejection in one line', () => {
  it("finds the verifier's reason past its statistics, instructions and source lines", () => {
    assert.equal(verifierVerdict(LOCKED_DOWN_TAIL), 'program of this type cannot use helper bpf_probe_read#4');
    assert.equal(verifierVerdict(NULL_DEREF_TAIL), "R0 invalid mem access 'map_value_or_null'");
    assert.equal(verifierVerdict(['processed 1 insns']), undefined);
  });

  it('names kernel lockdown when a confidentiality-mode kernel refused a probe read', () => {
    const e = BpfError.verifierRejected('tcp.bpf.o', 22, LOCKED_DOWN_TAIL, 'confidentiality');
    assert.equal(
      e.message,
      "the kernel's verifier rejected a program of tcp.bpf.o (EINVAL): kernel lockdown (confidentiality) refuses the probe-read helpers it calls " +
        "(program of this type cannot use helper bpf_probe_read#4); the verifier's last lines are in the log at --log-level debug",
    );
    assert.deepEqual(e.verifierLog, LOCKED_DOWN_TAIL);
  });

  it("names lockdown for 6.1's wording of the same refusal too", () => {
    const tail = [
      '40: (bf) r3 = r6',
      '41: (85) call bpf_probe_read#4',
      'unknown func bpf_probe_read#4',
      'processed 41 insns (limit 1000000)',
    ];
    const e = BpfError.verifierRejected('drops.bpf.o', 22, tail, 'confidentiality');
    assert.match(
      e.message,
      /\(EINVAL\): kernel lockdown \(confidentiality\) refuses the probe-read helpers it calls \(unknown func bpf_probe_read#4\)/,
    );
  });

  it("gives the verifier's reason otherwise, also for the same refusal without lockdown", () => {
    for (const [tail, lockdown] of [
      [NULL_DEREF_TAIL, 'confidentiality'],
      [LOCKED_DOWN_TAIL, 'none'],
      [LOCKED_DOWN_TAIL, undefined],
    ] as const) {
      const e = BpfError.verifierRejected('x.bpf.o', 13, [...tail], lockdown);
      assert.doesNotMatch(e.message, /lockdown/);
      assert.ok(e.message.includes(`(EACCES): ${verifierVerdict(tail)}: this kernel lacks something it needs`), e.message);
    }
  });
});
