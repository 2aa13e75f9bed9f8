// Benchmark 12 — workloads and cardinality: what --granularity costs and
// saves.
//
// A. 110 pods of 20 workloads (a busy node), through the agent's real export
//    stage (Outputs: DatapathProducer behind the Prometheus door and its
//    HTTP server): datapath series and one GET /metrics's time and size in
//    each mode.
// B. The real Prometheus (Debian's /usr/bin/prometheus) scraping that
//    export stage every second while every pod of the node is replaced 50
//    times (new names, new uids, new slots; counters growing throughout):
//    its own prometheus_tsdb_head_series at the end, in `pod` and in
//    `workload` mode. Series are counted by Prometheus, not by us.
//
// Run: node dist/bench/workloads.js [--rollouts 50] [--scrapes 30]
import { get } from 'node:http';
import { pino } from 'pino';
import { ENDPOINT_UNATTRIBUTED, type EndpointSlot } from '../src/bpf/contract.js';
import type { DatapathRow } from '../src/collect/rows.js';
import { type Granularity, GRANULARITIES } from '../src/export/series-options.js';
import { Outputs } from '../src/export/outputs.js';
import type { PodLabelResolver, PodLabels } from '../src/k8s/pod-labels.js';
import { DropEventBuffer } from '../src/events/event-buffer.js';
import { instantQuery, startPrometheus } from '../test/support/prometheus.js';
import { fmt, header, int, median, numberFlag, table } from './support/report.js';

const PODS = 110;
const WORKLOADS = 20;
const NAMESPACES = 5;

/** The node's pods in generation `gen` (each rollout is a new generation: new names, uids and slots). */
function node(gen: number): { pods: PodLabelResolver; slots: number[] } {
  const labels = new Map<number, PodLabels>();
  const slots: number[] = [];
  for (let i = 0; i < PODS; i++) {
    const w = i % WORKLOADS;
    const hash = `${(0x5f00000 + gen * 31 + w).toString(16)}`;
    // Slots cycle through twice the pods, as released slots are reused.
    let slot = (gen % 2) * PODS + i;
    if (slot >= ENDPOINT_UNATTRIBUTED) slot++;
    labels.set(slot, {
      namespace: `team-${w % NAMESPACES}`,
      pod: `svc-${w}-${hash}-${gen.toString(36)}${i.toString(36)}`,
      workload: `svc-${w}`,
      workloadKind: 'Deployment',
      uid: `uid-${gen}-${i}`,
    });
    slots.push(slot);
  }
  return { pods: { labelsOf: (slot) => labels.get(slot), labelsOfAddress: () => undefined }, slots };
}

/** A poll's rows: per pod, traffic both ways and two kinds of drops (8 series per pod in `pod` mode). */
function rows(slots: readonly number[], tick: number): DatapathRow[] {
  const out: DatapathRow[] = [];
  for (const slot of slots) {
    const endpoint = slot as EndpointSlot;
    for (const direction of ['ingress', 'egress'] as const) {
      const line = direction === 'ingress' ? 76 : 69;
      const n = BigInt(1000 * tick + slot);
      out.push({
        kind: 'forward',
        source: 'tc',
        reason: '',
        direction,
        site: { file: 'forward.bpf.c', line },
        location: `forward.bpf.c:${line}`,
        endpoint,
        packets: n,
        bytes: n * 1500n,
      });
    }
    const d = BigInt(tick + 1);
    out.push({
      kind: 'drop',
      source: 'kernel',
      reason: 'NO_SOCKET',
      direction: 'ingress',
      site: { file: '__udp4_lib_rcv', line: 0 },
      location: '__udp4_lib_rcv',
      endpoint,
      packets: d,
      bytes: d * 128n,
    });
    out.push({
      kind: 'drop',
      source: 'kernel',
      reason: 'NETFILTER_DROP',
      direction: 'egress',
      site: { file: 'nf_hook_slow', line: 0 },
      location: 'nf_hook_slow',
      endpoint,
      packets: d,
      bytes: d * 128n,
    });
  }
  return out;
}

async function open(granularity: Granularity): Promise<Outputs> {
  return Outputs.open(
    { metricsAddr: { host: '127.0.0.1', port: 0 }, nodeName: 'bench', series: { granularity, maxSeries: 50_000 } },
    { live: () => true, ready: () => true },
    new DropEventBuffer(),
    pino({ level: 'silent' }),
  );
}

function scrape(port: number): Promise<{ ms: number; body: string }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, body }));
    }).on('error', reject);
  });
}

const datapathSeries = (body: string) => body.split('\n').filter((l) => /^datapath_(drop|forward)_/.test(l)).length;

async function partA(scrapes: number): Promise<string[][]> {
  const out: string[][] = [];
  const { pods, slots } = node(0);
  for (const granularity of GRANULARITIES) {
    const outputs = await open(granularity);
    try {
      const port = outputs.listening?.port ?? 0;
      outputs.producer.update(rows(slots, 1), pods);
      await scrape(port); // warm up
      const times: number[] = [];
      let body = '';
      for (let i = 0; i < scrapes; i++) {
        // A poll before each scrape, so every scrape builds its series anew (as in the agent).
        outputs.producer.update(rows(slots, i + 2), pods);
        const r = await scrape(port);
        times.push(r.ms);
        body = r.body;
      }
      out.push([granularity, int(datapathSeries(body)), fmt(Buffer.byteLength(body) / 1024, 1), fmt(median(times), 2)]);
    } finally {
      await outputs.close();
    }
  }
  return out;
}

async function partB(granularity: Granularity, rollouts: number): Promise<{ head: number; datapath: number }> {
  const outputs = await open(granularity);
  const port = outputs.listening?.port ?? 0;
  const prom = await startPrometheus({ target: `127.0.0.1:${port}`, scrapeInterval: '1s' });
  try {
    let tick = 0;
    for (let gen = 0; gen <= rollouts; gen++) {
      const { pods, slots } = node(gen);
      // Two scrape intervals per generation: Prometheus sees every generation.
      for (let i = 0; i < 4; i++) {
        outputs.producer.update(rows(slots, ++tick), pods);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const value = async (expr: string) => {
      const r = await instantQuery(prom.url, expr);
      return r.status === 'success' && r.data.resultType === 'vector' ? Number(r.data.result[0]?.value[1] ?? NaN) : NaN;
    };
    // The head of Prometheus' own TSDB (every series it holds: ours and its
    // own few), and how many of them are the agent's datapath series.
    const head = Number(
      (await fetch(`${prom.url}/metrics`).then((r) => r.text())).match(/^prometheus_tsdb_head_series (\S+)$/m)?.[1] ?? NaN,
    );
    const datapath = await value('count({__name__=~"datapath_(drop|forward)_.+"} @ end())');
    return { head, datapath };
  } finally {
    await prom.stop();
    await outputs.close();
  }
}

const rollouts = numberFlag('rollouts', 50);
const scrapes = numberFlag('scrapes', 30);
header(
  '12. Workloads: series and scrape by --granularity, and Prometheus head series across rollouts',
  `node dist/bench/workloads.js --rollouts ${rollouts} --scrapes ${scrapes}`,
);
console.log(
  `A. ${PODS} pods of ${WORKLOADS} workloads in ${NAMESPACES} namespaces, 8 datapath series per pod in \`pod\` mode; median of ${scrapes} scrapes, a poll before each.\n`,
);
console.log(table(['--granularity', 'datapath series', '/metrics KiB', 'scrape ms (median)'], await partA(scrapes)));
console.log(
  `\nB. The real Prometheus scraping every 1 s while all ${PODS} pods are replaced ${rollouts} times (2 scrapes per generation).\n`,
);
const rowsB: string[][] = [];
for (const g of ['pod', 'workload'] as const) {
  const r = await partB(g, rollouts);
  rowsB.push([g, int(r.head), int(r.datapath)]);
}
console.log(table(['--granularity', 'prometheus_tsdb_head_series', 'datapath series live at the end'], rowsB));
