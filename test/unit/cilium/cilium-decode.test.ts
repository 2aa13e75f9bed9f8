// Decoding Cilium's metrics keys into rows: both key layouts, reason texts
// and their UPPER_SNAKE labels, per-release file ids, directions.
import assert from 'node:assert/strict';
import { ciliumRow } from '../../../src/collect/cilium/cilium-row.js';
import { ciliumReasonText, isCiliumDrop } from '../../../src/collect/cilium/drop-reasons.js';
import { decodeCiliumMetricsKey } from '../../../src/collect/cilium/metrics-key.js';
import { CILIUM_RELEASES, ciliumFileName, DEFAULT_CILIUM_RELEASE, isCiliumRelease } from '../../../src/collect/cilium/source-files.js';
import { upperSnake } from '../../../src/collect/cilium/upper-snake.js';

describe('Cilium metrics keys', function () {
  it('decodes the Cilium 1.16+ key: reason, dir (low 2 bits), line, file', function () {
    // reason 133, dir 1 with pad bits set, line 2110 (LE), file 2, reserved.
    const key = Buffer.from([133, 0b1111_1101, 0x3e, 0x08, 2, 9, 9, 9]);
    assert.deepEqual(decodeCiliumMetricsKey(key), { reason: 133, direction: 'INGRESS', line: 2110, file: 2 });
  });

  it('decodes the key of Cilium before 1.16 (u16 reserved[3], zero) as line 0, file 0', function () {
    const key = Buffer.from([0, 3, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(decodeCiliumMetricsKey(key), { reason: 0, direction: 'SERVICE', line: 0, file: 0 });
  });

  it('reads a key at an offset in a batch buffer', function () {
    const keys = Buffer.from([0, 1, 0, 0, 0, 0, 0, 0, 181, 2, 1, 0, 1, 0, 0, 0]);
    assert.deepEqual(decodeCiliumMetricsKey(keys, 8), { reason: 181, direction: 'EGRESS', line: 1, file: 1 });
  });
});

describe('Cilium reasons', function () {
  it("names codes with Cilium's text, and an unnamed code by its number", function () {
    assert.equal(ciliumReasonText(0), 'Success');
    assert.equal(ciliumReasonText(3), 'Interface');
    assert.equal(ciliumReasonText(133), 'Policy denied');
    assert.equal(ciliumReasonText(181), 'Policy denied by denylist');
    assert.equal(ciliumReasonText(250), '250');
  });

  it('names the newest codes, 199-205, and labels them UPPER_SNAKE', function () {
    const texts = [199, 200, 201, 202, 203, 204, 205].map(ciliumReasonText);
    assert.deepEqual(texts, [
      'IGMP handled',
      'IGMP subscribed',
      'Multicast handled',
      'Host datapath not ready',
      'Endpoint policy program not available',
      'No Egress IP configured',
      'Punt to proxy',
    ]);
    assert.deepEqual(texts.map(upperSnake), [
      'IGMP_HANDLED',
      'IGMP_SUBSCRIBED',
      'MULTICAST_HANDLED',
      'HOST_DATAPATH_NOT_READY',
      'ENDPOINT_POLICY_PROGRAM_NOT_AVAILABLE',
      'NO_EGRESS_IP_CONFIGURED',
      'PUNT_TO_PROXY',
    ]);
    assert.equal(ciliumReasonText(206), '206');
    const row = ciliumRow({ reason: 204, direction: 'EGRESS', line: 12, file: 1 }, { packets: 1n, bytes: 60n }, '1.18');
    assert.equal(row.kind, 'drop');
    assert.equal(row.reason, 'NO_EGRESS_IP_CONFIGURED');
  });

  it("counts drops by Cilium's rule: 2 and 130 up; Success, Interface, ... are forwards", function () {
    assert.deepEqual([0, 2, 3, 4, 11, 129, 130, 133, 250].map(isCiliumDrop), [false, true, false, false, false, false, true, true, true]);
  });

  it('turns texts into UPPER_SNAKE labels', function () {
    assert.equal(upperSnake('Policy denied'), 'POLICY_DENIED');
    assert.equal(upperSnake('CT: Truncated or invalid header'), 'CT_TRUNCATED_OR_INVALID_HEADER');
    assert.equal(upperSnake("CT: Can't create entry from packet"), 'CT_CANT_CREATE_ENTRY_FROM_PACKET');
    assert.equal(upperSnake('No tunnel/encapsulation endpoint (datapath BUG!)'), 'NO_TUNNEL_ENCAPSULATION_ENDPOINT_DATAPATH_BUG');
    assert.equal(upperSnake('L3 translation from IPv4 to IPv6 failed (NAT46)'), 'L3_TRANSLATION_FROM_IPV4_TO_IPV6_FAILED_NAT46');
    assert.equal(upperSnake('250'), '250');
  });
});

describe('Cilium source file ids', function () {
  it('has a table per release; the default is the newest', function () {
    assert.deepEqual([...CILIUM_RELEASES], ['1.16', '1.17', '1.18']);
    assert.equal(DEFAULT_CILIUM_RELEASE, '1.18');
    assert.ok(isCiliumRelease('1.17'));
    assert.ok(!isCiliumRelease('1.15'));
  });

  it('names .c files alike in every release', function () {
    for (const release of CILIUM_RELEASES) {
      assert.equal(ciliumFileName(release, 1), 'bpf_host.c');
      assert.equal(ciliumFileName(release, 2), 'bpf_lxc.c');
    }
    assert.equal(ciliumFileName('1.16', 7), 'unknown(7)', 'bpf_wireguard.c came in 1.17');
    assert.equal(ciliumFileName('1.17', 7), 'bpf_wireguard.c');
  });

  it('names headers by the release that numbered them', function () {
    assert.equal(ciliumFileName('1.16', 101), 'arp.h');
    assert.equal(ciliumFileName('1.17', 115), 'nodeport_egress.h');
    assert.equal(ciliumFileName('1.18', 101), 'drop.h');
    assert.equal(ciliumFileName('1.18', 115), 'classifiers.h');
  });

  it('prints an id in no table as unknown(ID)', function () {
    assert.equal(ciliumFileName('1.18', 0), 'unknown(0)');
    assert.equal(ciliumFileName('1.18', 250), 'unknown(250)');
  });
});

describe('Cilium rows', function () {
  const counter = { packets: 2n, bytes: 108n };

  it('makes a drop row: UPPER_SNAKE reason, lower-case direction, file.c:LINE', function () {
    const row = ciliumRow({ reason: 133, direction: 'INGRESS', line: 2110, file: 2 }, counter, '1.18');
    assert.equal(row.kind, 'drop');
    assert.equal(row.source, 'cilium');
    assert.equal(row.reason, 'POLICY_DENIED');
    assert.equal(row.direction, 'ingress');
    assert.deepEqual(row.site, { file: 'bpf_lxc.c', line: 2110 });
    assert.equal(row.location, 'bpf_lxc.c:2110');
    assert.equal(row.packets, 2n);
    assert.equal(row.bytes, 108n);
    assert.deepEqual(row.cilium, {
      reasonCode: 133,
      reasonText: 'Policy denied',
      direction: 'INGRESS',
      line: 2110,
      fileId: 2,
      file: 'bpf_lxc.c',
    });
  });

  it('makes a forward row with an empty reason; SERVICE becomes unknown, kept in cilium', function () {
    const row = ciliumRow({ reason: 3, direction: 'SERVICE', line: 659, file: 3 }, counter, '1.18');
    assert.equal(row.kind, 'forward');
    assert.equal(row.reason, '');
    assert.equal(row.direction, 'unknown');
    assert.equal(row.cilium.direction, 'SERVICE');
    assert.equal(row.location, 'bpf_overlay.c:659');
  });

  it('labels an unnamed reason and file by number', function () {
    const row = ciliumRow({ reason: 250, direction: 'EGRESS', line: 7777, file: 250 }, counter, '1.18');
    assert.equal(row.kind, 'drop');
    assert.equal(row.reason, '250');
    assert.equal(row.location, 'unknown(250):7777');
  });

  it('gives keys of Cilium before 1.16 (no line, no file) no location', function () {
    const row = ciliumRow({ reason: 133, direction: 'INGRESS', line: 0, file: 0 }, counter, '1.18');
    assert.equal(row.location, '');
    assert.deepEqual(row.site, { file: 'unknown(0)', line: 0 });
  });
});
