// Benchmark 2 — pods: what the tc programs count_host_egress and
// count_host_ingress cost per packet, from BPF_PROG_TEST_RUN (the kernel runs
// the program `repeat` times on one packet and reports the mean ns per run),
// beside an empty tc program (the floor), with 10 … 4,096 entries in the
// endpoints hash (4,096 = ENDPOINT_SLOTS, the compiled maximum), for a
// packet whose pod address is in the map (hit) and one whose is not (miss).
// A last row loads the same object with the endpoints map raised to 10,000
// entries at load time (bpf_map__set_max_entries) to show what a higher
// limit would cost; the shipped object cannot hold 10,000.
//
// Run: node dist/bench/tc-test-run.js [--runs 7] [--repeat 1000000]
import { BpfObject } from '../src/bpf/object.js';
import { encodeEndpointAddr, ENDPOINT_SLOTS, type EndpointSlot, forwardIndex, MAP_NAMES, SITE_COUNTER_SIZE } from '../src/bpf/contract.js';
import { type Fd, lastErrno, libbpf } from '../src/bpf/libbpf.js';
import { BpfError } from '../src/bpf/errors.js';
import { perCpuStride } from '../src/bpf/map.js';
import { benchPinDir, loadResized, repoPath, testRun } from './support/bpf.js';
import { onCleanup, runBenchmark } from './support/cleanup.js';
import { hostIp } from './support/netns.js';
import { udpFrame } from './support/packet.js';
import { fmt, header, int, median, numberFlag, requireRoot, table } from './support/report.js';

const RUNS = numberFlag('runs', 7);
const REPEAT = numberFlag('repeat', 1_000_000);
const SIZES = [10, 100, 1000, ENDPOINT_SLOTS];
const RAISED = 10_000;
const PAYLOAD = 100;
const TC_ACT_UNSPEC = -1;

interface Case {
  label: string;
  prog: 'empty' | 'egress' | 'ingress';
  hit: boolean;
}
const CASES: Case[] = [
  { label: 'empty tc program (floor)', prog: 'empty', hit: true },
  { label: 'count_host_egress, hit', prog: 'egress', hit: true },
  { label: 'count_host_egress, miss', prog: 'egress', hit: false },
  { label: 'count_host_ingress, hit', prog: 'ingress', hit: true },
  { label: 'count_host_ingress, miss', prog: 'ingress', hit: false },
];

await runBenchmark(async () => {
  requireRoot();
  header('2. Pods: per-packet cost of the tc programs (BPF_PROG_TEST_RUN)', 'node dist/bench/tc-test-run.js');

  const pinDir = benchPinDir('tc');
  const forward = BpfObject.load(repoPath('bpf/forward.bpf.o'), pinDir);
  onCleanup('forward.bpf.o', () => forward.close());
  const empty = BpfObject.load(repoPath('bench/bpf/empty_tc.bpf.o'), pinDir);
  onCleanup('empty_tc.bpf.o', () => empty.close());
  const emptyFd = empty.programFd('empty_tc');

  // The pod's address: source for count_host_ingress (leaving the pod),
  // destination for count_host_egress (entering it). Hit: both are pods.
  const frames = (n: number) => ({
    hit: udpFrame(hostIp(100, 0), hostIp(100, n - 1), PAYLOAD),
    miss: udpFrame('192.0.2.1', '192.0.2.2', PAYLOAD),
  });

  const results = new Map<string, number[]>();
  const measure = (size: string, fds: Record<Case['prog'], Fd>, n: number) => {
    const f = frames(n);
    for (let r = 0; r < RUNS; r++) {
      for (const c of CASES) {
        const res = testRun(fds[c.prog], c.hit ? f.hit : f.miss, REPEAT);
        if (res.retval !== TC_ACT_UNSPEC) throw new Error(`${c.label} returned ${res.retval}, not TC_ACT_UNSPEC`);
        const key = `${size}\u0000${c.label}`;
        results.set(key, [...(results.get(key) ?? []), res.durationNs]);
      }
    }
  };

  // The shipped object: endpoints grows 10 -> 4,096 (full).
  const endpoints = forward.map(MAP_NAMES.endpoints);
  const slot = Buffer.alloc(4);
  let filled = 0;
  const fdsShipped = { empty: emptyFd, egress: forward.programFd('count_host_egress'), ingress: forward.programFd('count_host_ingress') };
  for (const n of SIZES) {
    for (; filled < n; filled++) {
      slot.writeUInt32LE(filled);
      endpoints.update(encodeEndpointAddr(hostIp(100, filled)), slot);
    }
    measure(int(n), fdsShipped, n);
  }
  // One more entry does not fit: that is the compiled limit.
  let overLimit = 'accepted (!)';
  try {
    slot.writeUInt32LE(0);
    endpoints.update(encodeEndpointAddr(hostIp(100, ENDPOINT_SLOTS)), slot);
  } catch (err) {
    overLimit = `refused: ${(err as Error).message}`;
  }
  // Sanity: the hit runs at 4,096 endpoints counted under the last pod's slot
  // (the packet's destination).
  const egressHitPackets = sumPackets(
    forward.map(MAP_NAMES.forwardCounts).fd,
    forwardIndex((ENDPOINT_SLOTS - 1) as EndpointSlot, 'ingress'),
  );

  // The same object with the endpoints map raised to 10,000 at load time.
  const raised = loadResized(repoPath('bpf/forward.bpf.o'), { [MAP_NAMES.endpoints]: RAISED });
  const raisedMap = raised.mapFd(MAP_NAMES.endpoints);
  for (let i = 0; i < RAISED; i++) {
    slot.writeUInt32LE(i % ENDPOINT_SLOTS); // counters stay within forward_counts
    if (libbpf.bpf_map_update_elem(raisedMap, encodeEndpointAddr(hostIp(100, i)), slot, 0) < 0) {
      throw BpfError.fromErrno('fill raised endpoints map', lastErrno());
    }
  }
  const raisedLabel = `${int(RAISED)} (map raised at load)`;
  measure(
    raisedLabel,
    { empty: emptyFd, egress: raised.progFd('count_host_egress'), ingress: raised.progFd('count_host_ingress') },
    RAISED,
  );

  const sizes = [...SIZES.map((n) => int(n)), raisedLabel];
  console.log(
    `BPF_PROG_TEST_RUN, repeat ${int(REPEAT)}, on an Ethernet+IPv4+UDP frame with ${PAYLOAD} B payload; ` +
      `ns per packet = the kernel's mean per repetition, median of ${RUNS} runs (cases interleaved). ` +
      `"hit": the pod address is in the endpoints map; "miss": it is not (counted as unattributed).\n`,
  );
  const med = (size: string, label: string) => median(results.get(`${size}\u0000${label}`) ?? []);
  console.log(
    table(
      ['endpoints in map', ...CASES.map((c) => `${c.label} (ns)`)],
      sizes.map((s) => [s, ...CASES.map((c) => fmt(med(s, c.label)))]),
    ),
  );
  const floor = median(sizes.map((s) => med(s, CASES[0]?.label ?? '')));
  const hit10 = med(int(SIZES[0] ?? 10), 'count_host_egress, hit');
  const hitMax = med(int(ENDPOINT_SLOTS), 'count_host_egress, hit');
  console.log(
    `\nAbove the floor (${fmt(floor)} ns): count_host_egress hit costs ${fmt(hit10 - floor)} ns at 10 endpoints and ` +
      `${fmt(hitMax - floor)} ns at ${int(ENDPOINT_SLOTS)} (ratio ${fmt(hitMax / hit10, 2)}× between them). ` +
      `Entry ${int(ENDPOINT_SLOTS + 1)} in the shipped map: ${overLimit}. ` +
      `Packets the egress hit runs at ${int(ENDPOINT_SLOTS)} counted under the destination pod's slot: ${int(egressHitPackets)} (expected ${int(RUNS * REPEAT)}).`,
  );
});

/** Packets of one forward_counts cell, summed over CPUs. */
function sumPackets(mapFd: Fd, index: number): number {
  const cpus = libbpf.libbpf_num_possible_cpus();
  const stride = perCpuStride(SITE_COUNTER_SIZE, cpus);
  const value = Buffer.alloc(stride);
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index);
  if (libbpf.bpf_map_lookup_elem(mapFd, key, value) < 0) throw BpfError.fromErrno('lookup forward_counts', lastErrno());
  let packets = 0n;
  for (let cpu = 0; cpu < cpus; cpu++) packets += value.readBigUInt64LE(cpu * SITE_COUNTER_SIZE);
  return Number(packets);
}
