// CiliumMetricsSource against the real kernel: a map with Cilium's exact
// definition, filled by a tc program from real packets in the lab, read
// through libbpf. Counts are exact; the map is never changed by the reader.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { libbpf } from '../../src/bpf/libbpf.js';
import { BpfMap } from '../../src/bpf/map.js';
import { CiliumMetricsSource } from '../../src/collect/cilium/cilium-source.js';
import type { CiliumRow } from '../../src/collect/cilium/cilium-row.js';
import type { BpfObject } from '../../src/bpf/object.js';
import { formatCiliumTable } from '../../src/cli/cilium-format.js';
import { requireBpf } from '../support/privileges.js';
import {
  bpftoolSnapshot,
  captureLogger,
  FakeCilium,
  FIXTURES,
  INFO,
  L2_UDP_IPV4_OVERHEAD,
  loadFixture,
  MAP,
  makeTestPinDir,
  removeTestPinDir,
  waitFor,
  WARN,
} from './cilium-lab.js';

const cpus = () => libbpf.libbpf_num_possible_cpus();

/** The row of a map key, by its location and Cilium reason code. */
function find(rows: CiliumRow[], location: string, reasonCode: number): CiliumRow | undefined {
  return rows.find((r) => r.location === location && r.cilium.reasonCode === reasonCode);
}

function packetsAt(rows: CiliumRow[], location: string, reasonCode: number): bigint {
  return find(rows, location, reasonCode)?.packets ?? 0n;
}

describe("Cilium's metrics map, counted by real packets (Cilium 1.16+ key)", function () {
  let cilium: FakeCilium | undefined;
  let source: CiliumMetricsSource | undefined;

  before(function () {
    requireBpf(this);
    cilium = new FakeCilium(makeTestPinDir(), FIXTURES.current, 1);
  });

  afterEach(function () {
    source?.close();
    source = undefined;
  });

  after(function () {
    cilium?.destroy();
  });

  it("counts drops and forwards exactly, with Cilium's reasons, directions and locations", async function () {
    const c = cilium as FakeCilium;
    const { log } = captureLogger();
    source = new CiliumMetricsSource({ path: c.pinPath, release: '1.18', cpus: cpus(), log });
    const s = source;
    const before = s.read();
    const base = (location: string, code: number) => find(before, location, code) ?? { packets: 0n, bytes: 0n };
    const sends = [
      { port: 2110, count: 21, payload: 100, location: 'bpf_lxc.c:2110', code: 133 },
      { port: 5000, count: 13, payload: 60, location: 'bpf_lxc.c:4242', code: 0 },
      { port: 7777, count: 5, payload: 10, location: 'unknown(250):7777', code: 250 },
      { port: 3333, count: 3, payload: 20, location: 'bpf_host.c:3333', code: 3 },
    ];
    for (const x of sends) c.send(x.port, x.count, x.payload);

    const rows = await waitFor(
      () => s.read(),
      (r) => sends.every((x) => packetsAt(r, x.location, x.code) >= base(x.location, x.code).packets + BigInt(x.count)),
    );
    for (const x of sends) {
      const row = find(rows, x.location, x.code);
      assert.ok(row, `a row at ${x.location} for reason ${x.code}`);
      assert.equal(row.packets - base(x.location, x.code).packets, BigInt(x.count), `packets at ${x.location}`);
      assert.equal(
        row.bytes - base(x.location, x.code).bytes,
        BigInt(x.count * (x.payload + L2_UDP_IPV4_OVERHEAD)),
        `bytes at ${x.location} (skb->len)`,
      );
    }

    const denied = find(rows, 'bpf_lxc.c:2110', 133);
    assert.deepEqual(
      denied && { kind: denied.kind, source: denied.source, reason: denied.reason, direction: denied.direction, site: denied.site },
      { kind: 'drop', source: 'cilium', reason: 'POLICY_DENIED', direction: 'ingress', site: { file: 'bpf_lxc.c', line: 2110 } },
    );
    const forwarded = find(rows, 'bpf_lxc.c:4242', 0);
    assert.deepEqual(forwarded && [forwarded.kind, forwarded.reason, forwarded.direction], ['forward', '', 'egress']);
    const unknown = find(rows, 'unknown(250):7777', 250);
    assert.deepEqual(unknown && [unknown.kind, unknown.reason, unknown.direction], ['drop', '250', 'egress']);
    const service = find(rows, 'bpf_host.c:3333', 3);
    assert.deepEqual(service && [service.kind, service.reason, service.direction, service.cilium.direction, service.cilium.reasonText], [
      'forward',
      '',
      'unknown',
      'SERVICE',
      'Interface',
    ]);

    const table = formatCiliumTable(rows);
    assert.match(table, /^REASON {2,}DIRECTION {3}PACKETS {3,}BYTES {3,}LINE {3}FILE$/m);
    assert.match(table, new RegExp(`^Policy denied {3,}INGRESS {5}${denied?.packets} +${denied?.bytes} +2110 {3}bpf_lxc\\.c$`, 'm'));
    assert.match(table, new RegExp(`^250 {3,}EGRESS {6}${unknown?.packets} +${unknown?.bytes} +7777 {3}unknown\\(250\\)$`, 'm'));
    assert.match(table, /^Interface {3,}SERVICE {5}\d+ +\d+ +3333 {3}bpf_host\.c$/m);
  });

  it("never changes Cilium's map: same map id and the same bytes after reads and a restart", async function () {
    const c = cilium as FakeCilium;
    const { log } = captureLogger();
    c.send(2110, 3, 1);
    await waitFor(
      () => bpftoolSnapshot(c.pinPath).dump,
      (d) => d.includes('"value"'),
    );
    const before = bpftoolSnapshot(c.pinPath);
    const probe = BpfMap.fromPinReadOnly(c.pinPath);
    const idBefore = probe.info().id;
    probe.close();

    source = new CiliumMetricsSource({ path: c.pinPath, release: '1.18', cpus: cpus(), log });
    let first: CiliumRow[] = [];
    for (let i = 0; i < 5; i++) first = source.read();
    source.close();
    // A restarted agent: a second instance reading the same map.
    source = new CiliumMetricsSource({ path: c.pinPath, release: '1.18', cpus: cpus(), log });
    let second: CiliumRow[] = [];
    for (let i = 0; i < 3; i++) second = source.read();
    source.close();

    const after = bpftoolSnapshot(c.pinPath);
    const probeAfter = BpfMap.fromPinReadOnly(c.pinPath);
    const idAfter = probeAfter.info().id;
    probeAfter.close();
    assert.equal(after.id, before.id, 'same map (bpftool)');
    assert.equal(idAfter, idBefore, 'same map (info().id)');
    assert.equal(after.dump, before.dump, 'byte-identical contents');
    assert.ok(first.length > 0);
    assert.deepEqual(second, first, 'the restarted reader sees the same counts: nothing was reset');
  });
});

describe("Cilium's metrics map with the key of Cilium before 1.16", function () {
  let cilium: FakeCilium | undefined;
  let source: CiliumMetricsSource | undefined;

  before(function () {
    requireBpf(this);
    cilium = new FakeCilium(makeTestPinDir(), FIXTURES.old, 2);
  });

  after(function () {
    source?.close();
    cilium?.destroy();
  });

  it('decodes it: the same reasons and counts, line 0 and no file, no location', async function () {
    const c = cilium as FakeCilium;
    const { log } = captureLogger();
    source = new CiliumMetricsSource({ path: c.pinPath, release: '1.16', cpus: cpus(), log });
    const s = source;
    const N = 17;
    const PAYLOAD = 30;
    c.send(2110, N, PAYLOAD);
    const rows = await waitFor(
      () => s.read(),
      (r) => packetsAt(r, '', 133) >= BigInt(N),
    );
    const denied = find(rows, '', 133);
    assert.ok(denied);
    assert.equal(denied.packets, BigInt(N));
    assert.equal(denied.bytes, BigInt(N * (PAYLOAD + L2_UDP_IPV4_OVERHEAD)));
    assert.equal(denied.reason, 'POLICY_DENIED');
    assert.equal(denied.direction, 'ingress');
    assert.deepEqual(denied.site, { file: 'unknown(0)', line: 0 });
    assert.match(formatCiliumTable(rows), new RegExp(`^Policy denied {3,}INGRESS {5}${N} +${denied.bytes} +0 {6}unknown\\(0\\)$`, 'm'));
  });
});

describe("Cilium's metrics map: absent, late, re-created, or of another layout", function () {
  const pinDirs: string[] = [];
  const objects: BpfObject[] = [];
  let cilium: FakeCilium | undefined;
  let source: CiliumMetricsSource | undefined;

  before(function () {
    requireBpf(this);
  });

  afterEach(function () {
    source?.close();
    source = undefined;
    cilium?.destroy();
    cilium = undefined;
    for (const obj of objects.splice(0)) obj.close();
    for (const dir of pinDirs.splice(0)) removeTestPinDir(dir);
  });

  it('refuses a map of another size with one warning; reads return no rows and do not throw', function () {
    const pinDir = makeTestPinDir();
    pinDirs.push(pinDir);
    objects.push(loadFixture(FIXTURES.wrongSize, pinDir));
    const { log, lines } = captureLogger();
    source = new CiliumMetricsSource({ path: join(pinDir, MAP), release: '1.18', cpus: cpus(), log });
    for (let i = 0; i < 3; i++) assert.deepEqual(source.read(), []);
    const warnings = lines.filter((l) => l.level === WARN);
    assert.equal(warnings.length, 1, 'one warning, not one per poll');
    assert.match(warnings[0]?.msg ?? '', /value 24 B, expected key 8 B \/ value 16 B/);
  });

  it('without a map: no rows and one info line; reads the map once Cilium pins it', async function () {
    const pinDir = makeTestPinDir();
    removeTestPinDir(pinDir); // Cilium has not even made its directory yet
    pinDirs.push(pinDir);
    const { log, lines } = captureLogger();
    source = new CiliumMetricsSource({ path: join(pinDir, MAP), release: '1.18', cpus: cpus(), log });
    const s = source;
    for (let i = 0; i < 3; i++) assert.deepEqual(s.read(), []);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg]),
      [[INFO, 'no Cilium metrics map (Cilium not running on this node?): no Cilium counters until it appears']],
    );

    // Cilium starts: its map appears and counts.
    pinDirs.pop(); // FakeCilium removes it from now on
    mkdirSync(pinDir, { mode: 0o700 });
    cilium = new FakeCilium(pinDir, FIXTURES.current, 3);
    const c = cilium;
    c.send(2110, 4, 50);
    const rows = await waitFor(
      () => s.read(),
      (r) => packetsAt(r, 'bpf_lxc.c:2110', 133) >= 4n,
    );
    assert.equal(packetsAt(rows, 'bpf_lxc.c:2110', 133), 4n);
    assert.equal(lines.filter((l) => l.level === INFO).length, 2, 'one more line: the map was found');
  });

  it('follows a re-created map (a new pin at the path) and stops reporting the old one', async function () {
    cilium = new FakeCilium(makeTestPinDir(), FIXTURES.current, 4);
    const c = cilium;
    const { log, lines } = captureLogger();
    source = new CiliumMetricsSource({ path: c.pinPath, release: '1.18', cpus: cpus(), log });
    const s = source;
    c.send(2110, 2, 10);
    await waitFor(
      () => s.read(),
      (r) => packetsAt(r, 'bpf_lxc.c:2110', 133) >= 2n,
    );
    const oldId = bpftoolSnapshot(c.pinPath).id;

    c.recreateMap(FIXTURES.current);
    assert.notEqual(bpftoolSnapshot(c.pinPath).id, oldId);
    assert.deepEqual(s.read(), [], 'the new map is empty');
    assert.ok(lines.some((l) => l.level === INFO && /re-created/.test(l.msg)));
  });
});
