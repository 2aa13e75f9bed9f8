// Benchmark: the cost of tcp.bpf.o's retransmission programs against an
// empty program on the same tracepoint (tp_btf/tcp_retransmit_skb and
// tp_btf/tcp_retransmit_synack), from the kernel's own bpf_stats
// (run_time_ns / run_cnt), over real retransmissions in a namespace of its
// own, over loopback: a TCP transfer whose INPUT chain drops every Nth
// segment (the receiver loses it, the sender retransmits), and a burst of
// concurrent handshakes whose every other SYN-ACK is dropped on INPUT (the
// listener sends it again; a drop on OUTPUT would fail the send instead).
// The sockets' address is in the endpoints map, as a pod's would be.
//   sudo node dist/bench/tcp-hooks.js [--runs 5] [--mb 32] [--every 20] [--handshakes 300]
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
const HANDSHAKES = numberFlag('handshakes', 300);
const PORT = 5001;
const SYN_PORT = 5003;

const TRANSFER = `
const net = require('node:net');
const server = net.createServer((s) => { s.resume(); s.on('end', () => { s.end(); server.close(); }); });
server.listen(${PORT}, '127.0.0.1', () => {
  const c = net.connect(${PORT}, '127.0.0.1', () => c.end(Buffer.alloc(Number(process.argv[1]), 7)));
  c.resume();
  c.on('close', (e) => process.exit(e ? 1 : 0));
});
`;

// argv[1] connections at once, each closed once established; exits when all have closed.
const HANDSHAKE = `
const net = require('node:net');
const server = net.createServer((s) => { s.resume(); s.on('end', () => s.end()); });
server.listen(${SYN_PORT}, '127.0.0.1', 1024, () => {
  let left = Number(process.argv[1]);
  for (let i = Number(process.argv[1]); i > 0; i--) {
    const c = net.connect(${SYN_PORT}, '127.0.0.1', () => c.end());
    c.resume();
    c.on('error', () => process.exit(1));
    c.on('close', () => { if (--left === 0) server.close(() => process.exit(0)); });
  }
});
`;

await runBenchmark(async () => {
  requireRoot();
  header(
    'TCP retransmission hooks: tcp.bpf.o against an empty program on tp_btf/tcp_retransmit_skb and tp_btf/tcp_retransmit_synack',
    'sudo node dist/bench/tcp-hooks.js',
  );
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
  const synAcks = ['-p', 'tcp', '--sport', String(SYN_PORT), '--tcp-flags', 'SYN,ACK', 'SYN,ACK'];
  inNs(ns, 'iptables', ['-I', 'INPUT', ...synAcks, '-m', 'statistic', '--mode', 'nth', '--every', '2', '--packet', '0', '-j', 'DROP']);
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
  const progs = [
    { hook: 'tcp_retransmit_skb', obj: tcp, prog: load, name: `tcp.bpf.o ${load}` },
    { hook: 'tcp_retransmit_skb', obj: empty, prog: 'empty_tcp_retransmit', name: 'empty program (floor)' },
    { hook: 'tcp_retransmit_synack', obj: tcp, prog: 'count_tcp_retransmit_synack', name: 'tcp.bpf.o count_tcp_retransmit_synack' },
    { hook: 'tcp_retransmit_synack', obj: empty, prog: 'empty_tcp_retransmit_synack', name: 'empty program (floor)' },
  ].map((p) => {
    p.obj.attach(p.prog);
    return { ...p, fd: p.obj.programFd(p.prog) };
  });
  const perRun = progs.map(() => [] as number[]);
  const counts = progs.map(() => [] as number[]);
  for (let run = 0; run < RUNS; run++) {
    const before = progs.map((p) => progStats(p.fd));
    inNs(ns, process.execPath, ['-e', TRANSFER, String(MB << 20)]);
    inNs(ns, process.execPath, ['-e', HANDSHAKE, String(HANDSHAKES)]);
    const after = progs.map((p) => progStats(p.fd));
    progs.forEach((_, i) => {
      const cnt = Number((after[i]?.runCnt ?? 0n) - (before[i]?.runCnt ?? 0n));
      const ns = Number((after[i]?.runTimeNs ?? 0n) - (before[i]?.runTimeNs ?? 0n));
      perRun[i]?.push(cnt > 0 ? ns / cnt : NaN);
      counts[i]?.push(cnt);
    });
  }
  console.log(
    `Kernel run time per call from bpf_stats, median (min–max) of ${RUNS} runs, each a ${MB} MiB transfer losing every ${EVERY}th segment and ${HANDSHAKES} concurrent handshakes losing every other SYN-ACK; calls per run: ${progs
      .map((p, i) => `${p.hook} ${(counts[i] ?? []).map(int).join('/')}`)
      .filter((_, i) => i % 2 === 0)
      .join('; ')}.\n`,
  );
  console.log(
    table(
      ['hook', 'program', 'ns per call'],
      progs.map((p, i) => [p.hook, p.name, spread(perRun[i] ?? [])]),
    ),
  );
});
