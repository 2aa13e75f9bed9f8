// formatCiliumTable prints what `cilium bpf metrics list` prints: checked
// against output Cilium itself printed (in the description of Cilium PR
// #30972, which added LINE and FILE) and the example.
import assert from 'node:assert/strict';
import type { Counter } from '../../../src/bpf/contract.js';
import { ciliumRow } from '../../../src/collect/cilium/cilium-row.js';
import type { CiliumDirection } from '../../../src/collect/cilium/metrics-key.js';
import type { CiliumRelease } from '../../../src/collect/cilium/source-files.js';
import type { DatapathRow } from '../../../src/collect/rows.js';
import { formatCiliumTable } from '../../../src/cli/cilium-format.js';

function row(
  reason: number,
  direction: CiliumDirection,
  packets: number,
  bytes: number,
  line: number,
  file: number,
  release: CiliumRelease = '1.16',
) {
  const counter: Counter = { packets: BigInt(packets), bytes: BigInt(bytes) };
  return ciliumRow({ reason, direction, line, file }, counter, release);
}

describe('formatCiliumTable (the `cilium bpf metrics list` layout)', function () {
  it('prints exactly what Cilium printed for the same counters (PR #30972)', function () {
    // Given in another order: the table sorts like Cilium's CLI.
    const rows = [
      row(139, 'EGRESS', 6, 460, 1466, 2),
      row(0, 'INGRESS', 1403, 299078, 231, 111),
      row(3, 'INGRESS', 731, 139248, 659, 3),
      row(0, 'EGRESS', 9, 744, 1286, 2),
      row(3, 'INGRESS', 151, 9368, 1092, 1),
      row(0, 'INGRESS', 11, 926, 86, 110),
      row(0, 'EGRESS', 137, 8212, 1531, 1),
    ];
    assert.equal(
      formatCiliumTable(rows),
      [
        'REASON                    DIRECTION   PACKETS   BYTES    LINE   FILE',
        'Interface                 INGRESS     151       9368     1092   bpf_host.c',
        'Interface                 INGRESS     731       139248   659    bpf_overlay.c',
        'Success                   EGRESS      137       8212     1531   bpf_host.c',
        'Success                   EGRESS      9         744      1286   bpf_lxc.c',
        'Success                   INGRESS     11        926      86     l3.h',
        'Success                   INGRESS     1403      299078   231    trace.h',
        'Unsupported L3 protocol   EGRESS      6         460      1466   bpf_lxc.c',
        '',
      ].join('\n'),
    );
  });

  it('pads each column to its widest cell plus 3: the issue example', function () {
    const rows = [
      row(133, 'INGRESS', 2, 108, 2110, 2, '1.18'),
      // 20-character reason, 10-digit packets, 13-digit bytes set the widths.
      row(136, 'EGRESS', 1234567890, 1234567890123, 99, 1, '1.18'),
    ];
    assert.equal(
      formatCiliumTable(rows),
      [
        'REASON                 DIRECTION   PACKETS      BYTES           LINE   FILE',
        'Fragmentation needed   EGRESS      1234567890   1234567890123   99     bpf_host.c',
        'Policy denied          INGRESS     2            108             2110   bpf_lxc.c',
        '',
      ].join('\n'),
    );
  });

  it('prints an unnamed reason as its number and an unknown file id as unknown(ID)', function () {
    const out = formatCiliumTable([row(250, 'EGRESS', 5, 500, 7777, 250)]);
    assert.equal(out.split('\n')[1], '250      EGRESS      5         500     7777   unknown(250)');
  });

  it('prints SERVICE, and line 0 / unknown(0) for keys of Cilium before 1.16', function () {
    const out = formatCiliumTable([row(3, 'SERVICE', 1, 60, 0, 0)]);
    assert.equal(out.split('\n')[1], 'Interface   SERVICE     1         60      0      unknown(0)');
  });

  it("prints the agent's own rows in the same columns: reason, function, offset", function () {
    const kernel: DatapathRow = {
      kind: 'drop',
      source: 'kernel',
      reason: 'NO_SOCKET',
      direction: 'ingress',
      site: { file: '__udp4_lib_rcv', line: 1234 },
      location: '__udp4_lib_rcv',
      packets: 37n,
      bytes: 4736n,
    };
    const tc: DatapathRow = {
      kind: 'forward',
      source: 'tc',
      reason: '',
      direction: 'egress',
      site: { file: 'forward.bpf.c', line: 0 },
      location: '',
      packets: 3n,
      bytes: 300n,
    };
    assert.equal(
      formatCiliumTable([tc, kernel, row(133, 'INGRESS', 2, 108, 2110, 2)]),
      [
        'REASON          DIRECTION   PACKETS   BYTES   LINE   FILE',
        'FORWARDED       EGRESS      3         300     0      forward.bpf.c',
        'NO_SOCKET       INGRESS     37        4736    1234   __udp4_lib_rcv',
        'Policy denied   INGRESS     2         108     2110   bpf_lxc.c',
        '',
      ].join('\n'),
    );
  });

  it('prints nothing for no rows (Cilium says "No entries found." on stderr)', function () {
    assert.equal(formatCiliumTable([]), '');
  });
});
