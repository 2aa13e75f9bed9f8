// Benchmark 13's probe, run inside a network namespace (nsenter --net=...)
// so that the links and qdiscs it reads are only the benchmark's: each node
// loss source read alone, `runs` times after a warm-up, as a poll reads it
// (the link dump first: the interfaces source reads the same dump).
// The interfaces source's row includes finding the pods behind veths (as in
// the agent, a bridge's neighbour and fdb dumps only while one of its ports
// has no pod found yet); that step is also timed alone as on the first poll,
// with nothing known yet (its "samples": the pod addresses found), and on
// a Cilium node (--cilium-endpoint-map PATH) the read of Cilium's endpoint
// map too, which the interfaces source then joins as the agent does.
// Prints JSON: { links, samples: {source: n}, ms: {step: number[]} }.
//   node dist/bench/support/node-loss-probe.js [--runs 200] [--cilium-endpoint-map PATH]
import { pino } from 'pino';
import { CiliumEndpointMap } from '../../src/collect/cilium/endpoint-map.js';
import { ConntrackSource } from '../../src/collect/node/conntrack.js';
import { InterfaceLossSource } from '../../src/collect/node/interface-loss.js';
import type { NodeSource } from '../../src/collect/node/node-samples.js';
import { QdiscLossSource } from '../../src/collect/node/qdisc-loss.js';
import { SoftnetSource } from '../../src/collect/node/softnet.js';
import { type AddressesBehind, mergeAddressesBehind, readAddressesBehind } from '../../src/os/addresses-behind.js';
import { closePodInterfaces, lastLinkDump, listPodInterfaces } from '../../src/os/pod-interfaces.js';
import { QDISC_DUMP } from '../../src/os/qdisc-dump.js';
import { RtnetlinkSocket } from '../../src/os/rtnetlink.js';
import { flag, numberFlag } from './report.js';

const RUNS = numberFlag('runs', 200);
const CILIUM_MAP = flag('cilium-endpoint-map', '');
const socket = new RtnetlinkSocket();
const cilium = CILIUM_MAP ? new CiliumEndpointMap(CILIUM_MAP, pino({ level: 'silent' })) : undefined;
const ciliumBehind = (): AddressesBehind => cilium?.read() ?? new Map();
const sources: NodeSource[] = [
  new InterfaceLossSource(lastLinkDump, (links, known) => mergeAddressesBehind(readAddressesBehind(socket, links, known), ciliumBehind())),
  new QdiscLossSource(() => socket.dump(QDISC_DUMP), lastLinkDump),
  new SoftnetSource(),
  new ConntrackSource(),
];

const time = (fn: () => unknown): number => {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};

const LINK_DUMP = 'link dump (already made each poll)';
const BEHIND = '  of which: pods behind veths, none known yet (route, neighbour, fdb dumps)';
const CILIUM = "  of which: Cilium's endpoint map (cilium_lxc)";
const ms: Record<string, number[]> = { [LINK_DUMP]: [] };
for (const s of sources) {
  ms[s.name] = [];
  if (s.name === 'interfaces') ms[BEHIND] = [];
  if (s.name === 'interfaces' && cilium) ms[CILIUM] = [];
}
for (let i = 0; i < 20 + RUNS; i++) {
  const dump = time(() => listPodInterfaces(undefined));
  if (i >= 20) ms[LINK_DUMP]?.push(dump);
  for (const s of sources) {
    const t = time(() => s.read());
    if (i >= 20) ms[s.name]?.push(t);
  }
  const behind = time(() => readAddressesBehind(socket, lastLinkDump()));
  if (i >= 20) ms[BEHIND]?.push(behind);
  if (cilium) {
    const t = time(() => cilium.read());
    if (i >= 20) ms[CILIUM]?.push(t);
  }
}
const samples = Object.fromEntries(sources.map((s) => [s.name, s.read().length]));
const found = readAddressesBehind(socket, lastLinkDump());
samples[BEHIND] = [...found.values()].reduce((n, a) => n + a.length, 0);
if (cilium) samples[CILIUM] = [...cilium.read().values()].reduce((n, a) => n + a.length, 0);
const links = lastLinkDump().length;
closePodInterfaces();
cilium?.close();
socket.close();
process.stdout.write(JSON.stringify({ links, samples, ms }));
