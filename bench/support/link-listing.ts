// Benchmark 5's interface-listing probe, run inside a network namespace
// (nsenter --net=...) so that the links it lists are only the benchmark's:
// the agent's listing now (listPodInterfaces: one rtnetlink dump over a
// reused socket) against the listing it replaced (spawn `ip -j -d link
// show`, parse its JSON, keep the veths), alternated, each timed alone.
// Prints JSON: { links, veths, dumpMs[], ipMs[] }.
//   node dist/bench/support/link-listing.js [--runs 30]
import { execFileSync } from 'node:child_process';
import { closePodInterfaces, listPodInterfaces } from '../../src/os/pod-interfaces.js';
import { numberFlag } from './report.js';

const RUNS = numberFlag('runs', 30);

interface IpLink {
  ifindex: number;
  ifname: string;
  linkinfo?: { info_kind?: string };
}

/** The code listPodInterfaces ran before (src/bpf/pod-interfaces.ts at 379b04f). */
function listWithIp(): Array<{ name: string; ifindex: number }> {
  const links = JSON.parse(execFileSync('ip', ['-j', '-d', 'link', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as IpLink[];
  return links.filter((l) => l.linkinfo?.info_kind === 'veth').map((l) => ({ name: l.ifname, ifindex: l.ifindex }));
}

const time = (fn: () => unknown): number => {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};

const veths = listPodInterfaces(undefined).length;
if (listWithIp().length !== veths) throw new Error('the two listings disagree');
for (let i = 0; i < 5; i++) {
  listPodInterfaces(undefined); // warm-up: JIT, the socket's buffer size learnt by the kernel
  listWithIp();
}
const dumpMs: number[] = [];
const ipMs: number[] = [];
for (let i = 0; i < RUNS; i++) {
  dumpMs.push(time(() => listPodInterfaces(undefined)));
  ipMs.push(time(listWithIp));
}
const links = (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as unknown[]).length;
closePodInterfaces();
process.stdout.write(JSON.stringify({ links, veths, dumpMs, ipMs }));
