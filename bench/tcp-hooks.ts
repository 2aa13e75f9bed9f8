// Benchmark: the cost of tcp.bpf.o's retransmission program against an empty
// program on the same tracepoint (tp_btf/tcp_retransmit_skb), from the
// kernel's own bpf_stats (run_time_ns / run_cnt), over real retransmissions:
// a TCP transfer over loopback in a namespace of its own whose INPUT chain
// drops every Nth segment (the receiver loses it, the sender retransmits).
// The socket's address is in the endpoints map, as a pod's would be.
//   sudo node dist/bench/tcp-hooks.js [--runs 5] [--mb 32] [--every 20]
import { encodeEndpointAddr } from '../src/bpf/contract.js';
import { BpfObject } from '../src/bpf/object.js';
import { tracepointArgCount } from '../src/bpf/kernel-functions.js';
import { u32Key } from '../src/bpf/map.js';
import { benchPinDir, enableRunTimeStats, progStats, repoPath } from './support/bpf.js';
import { onCleanup, runBenchmark } from './support/cleanup.js';
import { inNs, namespace } from './support/netns.js';
import { header, int, numberFlag, requireRoot, spread, table } from './support/report.js';

const RUNS = numberFlag('runs', 5);
const MB = numberFlag('mb', 32);
const EVERY = numberFlag('every', 20);
const PORT = 5001;

const TRANSFER = `
const net = require('node:net');
const server = net.createServer((s) => { s.resume(); s.on('end', () => { s.end(); server.close(); }); });
server.listen(${PORT}, '127.0.0.1', () => {
  const c = net.connect(${PORT}, '127.0.0.1', () => c.end(Buffer.alloc(Number(process.argv[1]), 7)));
  c.resume();
  c.on('close', (e) => process.exit(e ? 1 : 0));
});
`;

await runBenchmark(async () => {
  requireRoot();
  header('TCP retransmission hook: tcp.bpf.o against an empty program on tp_btf/tcp_retransmit_skb', 'sudo node dist/bench/tcp-hooks.js');
  const pinDir = benchPinDir('tcp');
  const ns = namespace('tcp');
  inNs(ns, 'iptables', [
    '-I',
    'INPUT',
    '-p',
    'tcp',
    '--dport',
    String(PORT),
    '-m',
    'statistic',
    '--mode',
    'nth',
    '--every',
    String(EVERY),
    '--packet',
    '0',
    '-j',
    'DROP',
  ]);
  enableRunTimeStats();
  const withErr = (tracepointArgCount('tcp_retransmit_skb') ?? 0) >= 3;
  const [load, leave] = withErr
    ? ['count_tcp_retransmit_err', 'count_tcp_retransmit']
    : ['count_tcp_retransmit', 'count_tcp_retransmit_err'];
  const tcp = BpfObject.load(repoPath('bpf/tcp.bpf.o'), pinDir, undefined, [leave]);
  onCleanup('tcp.bpf.o', () => tcp.close());
  tcp.map('endpoints').update(encodeEndpointAddr('127.0.0.1'), u32Key(1));
  const empty = BpfObject.load(repoPath('bench/bpf/empty_tcp_retransmit.bpf.o'), pinDir);
  onCleanup('empty_tcp_retransmit.bpf.o', () => empty.close());
  tcp.attach(load);
  empty.attach('empty_tcp_retransmit');
  const progs = [
    { name: `tcp.bpf.o ${load}`, fd: tcp.programFd(load) },
    { name: 'empty program (floor)', fd: empty.programFd('empty_tcp_retransmit') },
  ];
  const perRun = progs.map(() => [] as number[]);
  const counts: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const before = progs.map((p) => progStats(p.fd));
    inNs(ns, process.execPath, ['-e', TRANSFER, String(MB << 20)]);
    const after = progs.map((p) => progStats(p.fd));
    progs.forEach((_, i) => {
      const cnt = Number((after[i]?.runCnt ?? 0n) - (before[i]?.runCnt ?? 0n));
      const ns = Number((after[i]?.runTimeNs ?? 0n) - (before[i]?.runTimeNs ?? 0n));
      perRun[i]?.push(cnt > 0 ? ns / cnt : NaN);
      if (i === 0) counts.push(cnt);
    });
  }
  console.log(
    `Kernel run time per call from bpf_stats, median (min–max) of ${RUNS} runs of a ${MB} MiB transfer losing every ${EVERY}th segment; retransmissions per run: ${counts.map(int).join(', ')}.\n`,
  );
  console.log(
    table(
      ['program', 'ns per call'],
      progs.map((p, i) => [p.name, spread(perRun[i] ?? [])]),
    ),
  );
});
