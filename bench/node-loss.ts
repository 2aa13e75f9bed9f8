// Benchmark 13 — the node loss collectors (interfaces, qdiscs, softnet,
// conntrack): what each adds to a poll, read alone in a network namespace of
// the benchmark's own with N veth pairs (both ends in it and up, each with
// its default noqueue root qdisc), wired as a routing CNI (a /32 route per
// pod), a bridging CNI (bridge ports, neighbour and fdb entries) or Cilium
// (no route, no bridge: a stand-in of Cilium's endpoint map cilium_lxc,
// pinned in a bpffs directory of the benchmark's own, one entry per pod
// naming its veth's ifindex), beside the link dump every poll already makes.
// Median (min–max) ms of `runs` reads after 20 warm-up reads, from a small
// process (bench/support/node-loss-probe.ts). softnet_stat is the machine's
// (one line per CPU); conntrack is the namespace's own.
//
// Run: node dist/bench/node-loss.js [--runs 200]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BpfObject } from '../src/bpf/object.js';
import { ENDPOINT_FIXTURES, ENDPOINT_MAP, writeCiliumEndpoint } from '../test/cilium/cilium-lab.js';
import { benchPinDir, repoPath } from './support/bpf.js';
import { onCleanup } from './support/cleanup.js';
import { runBenchmark } from './support/cleanup.js';
import { namespace } from './support/netns.js';
import { header, int, median, numberFlag, requireRoot, spread, table } from './support/report.js';

const RUNS = numberFlag('runs', 200);
type Wiring = 'routed' | 'bridged' | 'cilium';
/** Veth pairs, and how the CNI wired them: a host route per pod (routing CNIs), bridge ports with neighbour and fdb entries (bridging CNIs), or Cilium's endpoint map. */
const NODES: ReadonlyArray<{ pairs: number; wiring: Wiring }> = [
  { pairs: 0, wiring: 'routed' },
  { pairs: 110, wiring: 'routed' },
  { pairs: 1000, wiring: 'routed' },
  { pairs: 110, wiring: 'bridged' },
  { pairs: 1000, wiring: 'bridged' },
  { pairs: 110, wiring: 'cilium' },
  { pairs: 1000, wiring: 'cilium' },
];

/** The ip and bridge batch commands that wire pair i's pod address (10.(i/250).(i%250).2) to its host end dxl<i>. */
function podAddress(i: number): string {
  return `10.${Math.floor(i / 250) + 100}.${i % 250}.2`;
}

function wire(i: number, wiring: Wiring): { ip: string[]; bridge: string[] } {
  const address = podAddress(i);
  if (wiring === 'cilium') return { ip: [], bridge: [] }; // Cilium's map says it: see ciliumEndpointMap()
  if (wiring === 'routed') return { ip: [`route add ${address}/32 dev dxl${i}`], bridge: [] };
  const mac = `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
  return {
    ip: [`link set dxl${i} master dxbr`, `neigh replace ${address} lladdr ${mac} dev dxbr nud permanent`],
    bridge: [`fdb add ${mac} dev dxl${i} master static`],
  };
}

/** A stand-in of Cilium's endpoint map with pair i's pod address behind dxl<i> (its ifindex in ns), as Cilium's agent writes it. */
function ciliumEndpointMap(ns: string, pairs: number): string {
  const dir = benchPinDir(`lxc${pairs}`);
  const obj = BpfObject.load(ENDPOINT_FIXTURES.current, dir);
  onCleanup(`stand-in ${ENDPOINT_MAP} in ${dir}`, () => obj.close());
  const path = join(dir, ENDPOINT_MAP);
  const links = JSON.parse(spawnSync('ip', ['-n', ns, '-j', 'link', 'show'], { encoding: 'utf8' }).stdout) as Array<{
    ifindex: number;
    ifname: string;
  }>;
  const ifindex = new Map(links.map((l) => [l.ifname, l.ifindex]));
  for (let i = 0; i < pairs; i++) {
    const index = ifindex.get(`dxl${i}`);
    if (index === undefined) throw new Error(`no dxl${i} in ${ns}`);
    writeCiliumEndpoint(path, { address: podAddress(i), ifindex: index, lxcId: i + 1 });
  }
  return path;
}

interface Probe {
  links: number;
  samples: Record<string, number>;
  ms: Record<string, number[]>;
}

await runBenchmark(async () => {
  requireRoot();
  header('13. Node loss collectors: cost per poll', 'node dist/bench/node-loss.js');
  const results = NODES.map(({ pairs, wiring }): Probe => {
    const ns = namespace(`loss${pairs}${wiring}`);
    if (pairs > 0) {
      const batch = Array.from({ length: pairs }, (_, i) => `link add dxl${i} type veth peer name dxm${i}`);
      // A fixed address, as bridging CNIs give theirs: a bridge that takes its ports' lowest MAC changes
      // address as ports join, which flushes its neighbour entries.
      if (wiring === 'bridged') batch.push('link add dxbr address 02:00:00:ff:ff:ff type bridge', 'link set dxbr up');
      // Up, as pod interfaces are: a down device's root qdisc is noop, which the dump leaves out.
      for (let i = 0; i < pairs; i++) batch.push(`link set dxl${i} up`, `link set dxm${i} up`);
      const wired = Array.from({ length: pairs }, (_, i) => wire(i, wiring));
      batch.push(...wired.flatMap((w) => w.ip));
      for (const [tool, lines] of [
        ['ip', batch],
        ['bridge', wired.flatMap((w) => w.bridge)],
      ] as const) {
        if (lines.length === 0) continue;
        const r = spawnSync(tool, ['-n', ns, '-batch', '-'], { input: `${lines.join('\n')}\n`, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${tool} -batch in ${ns}: ${r.stderr}`);
      }
    }
    const cilium = wiring === 'cilium' ? ['--cilium-endpoint-map', ciliumEndpointMap(ns, pairs)] : [];
    const r = spawnSync(
      'nsenter',
      [`--net=/run/netns/${ns}`, process.execPath, repoPath('dist/bench/support/node-loss-probe.js'), '--runs', String(RUNS), ...cilium],
      {
        encoding: 'utf8',
        timeout: 300_000,
        maxBuffer: 16 << 20,
      },
    );
    if (r.status !== 0) throw new Error(`node-loss-probe in ${ns} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Probe;
  });
  // Every step, in the order of the node that timed the most (Cilium's map is timed only on Cilium nodes).
  const steps = results.map((r) => Object.keys(r.ms)).reduce((a, b) => (b.length > a.length ? b : a), []);
  console.log(`\nPer read, ms, median (min–max) of ${RUNS} reads; samples = series the source publishes.\n`);
  console.log(
    table(
      ['source', ...results.flatMap((r, i) => [`${int(r.links)} links, ${NODES[i]?.wiring}: ms`, 'samples'])],
      steps.map((step) => [
        step,
        ...results.flatMap((r) => [step in r.ms ? spread(r.ms[step] ?? [], 3) : '—', step in r.samples ? int(r.samples[step] ?? 0) : '—']),
      ]),
    ),
  );
  // The sources' rows (the interfaces row includes its "of which" step).
  const added = results.map((r) =>
    steps.filter((s) => s in r.samples && !s.startsWith(' ')).reduce((sum, s) => sum + median(r.ms[s] ?? []), 0),
  );
  console.log(
    `\nAdded per poll (sum of the four sources' medians): ${results.map((r, i) => `${int(r.links)} links ${NODES[i]?.wiring} ${added[i]?.toFixed(3)} ms`).join(', ')}.`,
  );
});
