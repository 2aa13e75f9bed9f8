// Benchmark 8 — the long pod-churn soak: the real agent (started by
// scripts/datapath-exporter, with its V8 flags), polling every 100 ms,
// against the test suite's Kubernetes API server, while pods churn through
// real network namespaces and veths with real traffic (test/soak/churn.ts
// says how a round goes and what it checks). Every --sample-min minutes a row:
// cycles, packets checked, series, slots, RSS, fds. At the end, after the
// last deletion's grace: series and slots back to their baseline, fds, BPF
// links and pins not grown, RSS against the baseline's.
//
// Run: node dist/bench/soak.js [--minutes 30] [--seats 6] [--grace 5]
//   [--outage-every 13] [--relist-every 7] [--sample-min 3] [--prefix 10.219]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeApiServer } from '../test/support/kube-api-server.js';
import { Lab } from '../test/support/lab.js';
import { LaunchedAgent } from '../test/soak/agent-process.js';
import { footprint, gauge, PodChurn, type ProcessFootprint, scrapeOf, seriesCount, sleep, agentBpfLinks } from '../test/soak/churn.js';
import { benchPinDir } from './support/bpf.js';
import { onCleanup, runBenchmark } from './support/cleanup.js';
import { flag, fmt, header, int, numberFlag, requireRoot, table } from './support/report.js';

const MINUTES = numberFlag('minutes', 30);
const SEATS = numberFlag('seats', 6);
const GRACE_S = numberFlag('grace', 5);
const OUTAGE_EVERY = numberFlag('outage-every', 13);
const RELIST_EVERY = numberFlag('relist-every', 7);
const SAMPLE_MIN = numberFlag('sample-min', 3);
const PREFIX = flag('prefix', '10.219');
const NODE = 'soak-node';

interface Row {
  minute: number;
  cycles: number;
  podsChecked: number;
  packetsChecked: number;
  series: { all: number; ofPods: number };
  endpoints: number;
  dropKeys: number;
  fp: ProcessFootprint;
  links: number;
}

async function main(): Promise<void> {
  requireRoot();
  header('8. Pod churn soak: the agent under pod churn with real traffic', 'node dist/bench/soak.js');
  const lab = new Lab();
  onCleanup('lab', () => lab.destroy());
  const api = await KubeApiServer.start();
  onCleanup('kube api server', () => void api.stop());
  const dir = mkdtempSync(join(tmpdir(), 'dpx-soak-'));
  onCleanup(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = api.writeKubeconfig(dir);
  const pinDir = benchPinDir('soak');

  let agent: LaunchedAgent | undefined;
  const churn = new PodChurn({
    lab,
    api,
    nodeName: NODE,
    seats: SEATS,
    prefix: PREFIX,
    outageEvery: OUTAGE_EVERY,
    relistEvery: RELIST_EVERY,
    scrape: () => scrapeOf(agent?.port ?? 0)(),
  });
  onCleanup('churn network', () => churn.tearDown());
  await churn.setUp();
  agent = await LaunchedAgent.start([
    '--bpffs',
    pinDir,
    '--poll-interval',
    '100ms',
    '--kubeconfig',
    kubeconfig,
    '--node-name',
    NODE,
    '--interfaces',
    churn.interfaceGlob,
    '--deleted-pod-grace',
    `${GRACE_S}s`,
    '--cilium-metrics-map',
    'none',
  ]);
  const a = agent;
  onCleanup('agent', () => a.kill());
  const scrape = scrapeOf(a.port);

  // Warm-up: two rounds, then the grace period: the baseline is a node with the client pod only.
  for (let i = 0; i < 2; i++) await churn.runRound();
  await sleep(GRACE_S * 1000 + 3000);
  // A full GC (through Node's inspector) at both ends: what the heap keeps, not its garbage. The
  // inspector stays open from here on, so every row has its few fds and bytes alike.
  await a.collectGarbage();
  await sleep(2000);
  const baseGc = footprint(a.pid, pinDir);
  const baseScrape = await scrape();
  const base = await snapshot(0);

  const rows: Row[] = [base];
  const t0 = Date.now();
  let nextSample = t0 + SAMPLE_MIN * 60_000;
  // A failed check is reported and the churn goes on: the run shows how often, not just that.
  const failures: string[] = [];
  while (Date.now() - t0 < MINUTES * 60_000) {
    failures.push(...(await churn.runRound()));
    if (Date.now() >= nextSample) {
      rows.push(await snapshot((Date.now() - t0) / 60_000));
      nextSample += SAMPLE_MIN * 60_000;
      process.stderr.write(`soak: ${churn.stats.cycles} cycles, ${churn.stats.packetsChecked} packets checked\n`);
    }
  }
  const churnMinutes = (Date.now() - t0) / 60_000;
  await churn.finish();
  rows.push(await snapshot(churnMinutes));
  // The last pods' grace, then a quiet minute of 100 ms polls before the final figures.
  await sleep(GRACE_S * 1000 + 60_000);
  const end = await snapshot((Date.now() - t0) / 60_000);
  await a.collectGarbage();
  await sleep(2000);
  const endGc = footprint(a.pid, pinDir);

  const podSeries = (m: Awaited<ReturnType<typeof scrape>>) =>
    new Set(
      m
        .filter((x) => x.name.startsWith('datapath_') && !x.name.startsWith('datapath_exporter_') && (x.labels.pod ?? '') !== '')
        .map(
          (x) =>
            `${x.name}{${Object.entries(x.labels)
              .map(([k, v]) => `${k}="${v}"`)
              .join(',')}}`,
        ),
    );
  const baseSeries = podSeries(baseScrape);
  const newSeries = [...podSeries(await scrape())].filter((x) => !baseSeries.has(x));
  const flags = a.nodeFlags();
  const exit = await a.stop();

  const s = churn.stats;
  console.log(
    `Agent: \`scripts/datapath-exporter run --poll-interval 100ms --deleted-pod-grace ${GRACE_S}s --kubeconfig …\` (node flags: ${flags.join(' ') || 'none'}), ` +
      `${SEATS} pods alive at once besides the client, ${fmt(churnMinutes, 1)} minutes of churn. Rounds ${int(s.rounds)}: ` +
      `${int(s.cycles)} pod create/delete cycles; ${int(s.outages)} with the deletions during an API outage (replaced under the same names, new uids, before the API came back), ` +
      `${int(s.relists)} learned only from a relist after 410 Gone; names reused with new uids ${int(s.namesReused)} times, IPs reused by new pods ${int(s.ipsReused)} times. ` +
      `Checked exactly: ${int(s.podsChecked)} pods, ${int(s.packetsChecked)} packets (forward ingress and NETFILTER_DROP ingress equal to what was sent to each while it lived); ` +
      `${int(s.afterDeletionPackets)} packets sent to deleted pods' IPs, each counted as the client's egress drop and none to the deleted pod. ` +
      `Failed checks: ${failures.length === 0 ? 'none' : `${failures.length}: ${failures.slice(0, 10).join('; ')}`}.\n`,
  );
  console.log(
    table(
      [
        'minute',
        'cycles',
        'pods checked',
        'packets checked',
        'series (datapath_*) all / of pods',
        'slots endpoints / drop keys',
        'RSS MB',
        'anon MB',
        'fds',
        'BPF links (bpftool)',
        'pins',
      ],
      rows
        .concat(end)
        .map((r, i) => [
          i === 0 ? 'baseline (after a GC)' : i === rows.length ? `${fmt(r.minute, 1)} (settled)` : fmt(r.minute, 1),
          int(r.cycles),
          int(r.podsChecked),
          int(r.packetsChecked),
          `${int(r.series.all)} / ${int(r.series.ofPods)}`,
          `${r.endpoints} / ${r.dropKeys}`,
          fmt(r.fp.rssMb, 1),
          fmt(r.fp.anonMb, 1),
          int(r.fp.fds),
          int(r.links),
          int(r.fp.pins),
        ]),
    ),
  );
  const rssChange = (end.fp.rssMb - base.fp.rssMb) / base.fp.rssMb;
  console.log(
    `\nSettled against the baseline: RSS ${fmt(base.fp.rssMb, 1)} → ${fmt(end.fp.rssMb, 1)} MB (${rssChange >= 0 ? '+' : ''}${fmt(rssChange * 100, 1)} %, goal within 10 %); ` +
      `series of pods ${base.series.ofPods} → ${end.series.ofPods}; endpoint slots ${base.endpoints} → ${end.endpoints}; drop keys ${base.dropKeys} → ${end.dropKeys} ` +
      `(node-level keys from other processes' drops on this shared machine count too); fds ${base.fp.fds} → ${end.fp.fds}; pins ${base.fp.pins} → ${end.fp.pins}; ` +
      `the agent's BPF links (bpftool) ${base.links} → ${end.links}. Agent exit on SIGTERM: ${exit}.`,
  );
  const gcChange = (endGc.rssMb - baseGc.rssMb) / baseGc.rssMb;
  console.log(
    `After a full GC at both ends (SIGUSR1 opens the agent's inspector, HeapProfiler.collectGarbage): RSS ${fmt(baseGc.rssMb, 1)} → ${fmt(endGc.rssMb, 1)} MB ` +
      `(${gcChange >= 0 ? '+' : ''}${fmt(gcChange * 100, 1)} %), anon ${fmt(baseGc.anonMb, 1)} → ${fmt(endGc.anonMb, 1)} MB.`,
  );
  if (newSeries.length > 0)
    console.log(`\nSeries of pods at the end that the baseline did not have:\n\n${newSeries.map((x) => `    ${x}`).join('\n')}`);

  async function snapshot(minute: number): Promise<Row> {
    const m = await scrape();
    return {
      minute,
      cycles: churn.stats.cycles,
      podsChecked: churn.stats.podsChecked,
      packetsChecked: churn.stats.packetsChecked,
      series: seriesCount(m),
      endpoints: gauge(m, 'datapath_exporter_slots_used', { table: 'endpoints' }),
      dropKeys: gauge(m, 'datapath_exporter_slots_used', { table: 'drop_keys' }),
      fp: footprint(a.pid, pinDir),
      links: agentBpfLinks(a.pid),
    };
  }
  if (failures.length > 0) process.exitCode = 1;
}

await runBenchmark(main);
