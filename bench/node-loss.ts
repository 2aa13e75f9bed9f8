// Benchmark 13 — the node loss collectors (interfaces, qdiscs, softnet,
// conntrack): what each adds to a poll, read alone in a network namespace of
// the benchmark's own with N veth pairs (both ends in it and up, each with
// its default noqueue root qdisc), beside the link dump every poll already makes.
// Median (min–max) ms of `runs` reads after 20 warm-up reads, from a small
// process (bench/support/node-loss-probe.ts). softnet_stat is the machine's
// (one line per CPU); conntrack is the namespace's own.
//
// Run: node dist/bench/node-loss.js [--runs 200]
import { spawnSync } from 'node:child_process';
import { repoPath } from './support/bpf.js';
import { runBenchmark } from './support/cleanup.js';
import { namespace } from './support/netns.js';
import { header, int, median, numberFlag, requireRoot, spread, table } from './support/report.js';

const RUNS = numberFlag('runs', 200);
const PAIRS = [0, 110, 1000];

interface Probe {
  links: number;
  samples: Record<string, number>;
  ms: Record<string, number[]>;
}

await runBenchmark(async () => {
  requireRoot();
  header('13. Node loss collectors: cost per poll', 'node dist/bench/node-loss.js');
  const results = PAIRS.map((pairs): Probe => {
    const ns = namespace(`loss${pairs}`);
    if (pairs > 0) {
      const batch = Array.from({ length: pairs }, (_, i) => `link add dxl${i} type veth peer name dxm${i}`);
      // Up, as pod interfaces are: a down device's root qdisc is noop, which the dump leaves out.
      for (let i = 0; i < pairs; i++) batch.push(`link set dxl${i} up`, `link set dxm${i} up`);
      const r = spawnSync('ip', ['-n', ns, '-batch', '-'], { input: `${batch.join('\n')}\n`, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ip -batch in ${ns}: ${r.stderr}`);
    }
    const r = spawnSync(
      'nsenter',
      [`--net=/run/netns/${ns}`, process.execPath, repoPath('dist/bench/support/node-loss-probe.js'), '--runs', String(RUNS)],
      {
        encoding: 'utf8',
        timeout: 300_000,
        maxBuffer: 16 << 20,
      },
    );
    if (r.status !== 0) throw new Error(`node-loss-probe in ${ns} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Probe;
  });
  const steps = Object.keys(results[0]?.ms ?? {});
  console.log(`\nPer read, ms, median (min–max) of ${RUNS} reads; samples = series the source publishes.\n`);
  console.log(
    table(
      ['source', ...results.flatMap((r) => [`${int(r.links)} links: ms`, 'samples'])],
      steps.map((step) => [
        step,
        ...results.flatMap((r) => [spread(r.ms[step] ?? [], 3), step in r.samples ? int(r.samples[step] ?? 0) : '—']),
      ]),
    ),
  );
  const added = results.map((r) => steps.filter((s) => s in r.samples).reduce((sum, s) => sum + median(r.ms[s] ?? []), 0));
  console.log(
    `\nAdded per poll (sum of the four sources' medians): ${results.map((r, i) => `${int(r.links)} links ${added[i]?.toFixed(3)} ms`).join(', ')}.`,
  );
});
