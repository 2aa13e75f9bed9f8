// The kernel matrix's checks, run in order by scenario.ts inside a VM of each
// kernel (scripts/vm-run), each reported as its own test on the host by
// kernels.test.ts. Under emulation an agent takes up to a minute and a half to
// start, so the checks share one lab and two agent runs (a start, a SIGTERM,
// a restart on the same pins). To add a check (a new kernel program's test):
// append { name, run } here; it runs in every kernel of the matrix and shows
// up as a test on the host. Checks throw (assert) to fail; what they return
// is reported as their detail. LOCKDOWN_CHECKS are a second scenario, run on
// 6.12 booted with lockdown=confidentiality: a kernel where tcp.bpf.o cannot
// load, so the agent must run without its TCP collector.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { BpfError } from '../../src/bpf/errors.js';
import { BpfObject } from '../../src/bpf/object.js';
import { setLibbpfPrint } from '../../src/bpf/libbpf.js';
import { DROP_PROGRAMS, dropProgramVariant } from '../../src/bpf/kernel-drop-program.js';
import { kernelHasFunction, tracepointArgCount } from '../../src/bpf/kernel-functions.js';
import { untracedResetPrograms } from '../../src/bpf/tcp-program.js';
import { kernelLockdown } from '../../src/os/kernel-lockdown.js';
import type { DropEvent } from '../../src/events/drop-event.js';
import { ExporterProcess, removePinDir, testPinDir, waitFor } from '../support/exporter.js';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';
import { Lab, sh, UDP_IPV4_OVERHEAD } from '../support/lab.js';
import { type Sample, sumOf } from '../support/metrics-text.js';
import { type LabPod, PodNetwork } from '../support/pod-network.js';
import { BPF_TCX_EGRESS, BPF_TCX_INGRESS, TCX_PASS, TcxPrograms, tcxProgramCount } from '../support/tcx-programs.js';

const NODE = 'matrix-node';
/** An agent start under TCG took 30–85 s; the slowest seen plus margin. */
const START_TIMEOUT_MS = 240_000;
const WAIT_MS = 60_000;
const F = 10; // datagrams a → b:5000 (received)
const D = 7; // datagrams a → b:9 (closed: NO_SOCKET)
const M = 5; // more to b:9 after the restart
const PAYLOAD = 20;
const SPORT = 40123;

/** The BPF objects the product and its benchmarks load; each must pass this kernel's verifier. */
const OBJECTS = [
  'bpf/drops.bpf.o',
  'bpf/forward.bpf.o',
  'bpf/tcp.bpf.o',
  'bench/bpf/empty_tc.bpf.o',
  'bench/bpf/empty_tp.bpf.o',
  'bench/bpf/drop_steps.bpf.o',
];
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface MatrixContext {
  lab: Lab;
  net: PodNetwork;
  a: LabPod;
  b: LabPod;
  api: KubeApiServer;
  kubeconfig: string;
  pinDir: string;
  agent?: ExporterProcess;
  /** What the first agent said it attached: { tc, reasons, cpus }. */
  attached?: { tc: string; reasons: number; cpus: number };
  /** Another program sharing our hooks, as a CNI's would (clsact filter or tcx link). */
  cni?: TcxPrograms | 'clsact';
  /**
   * What the first agent showed last, before SIGTERM: the TCP checks' traffic
   * (retransmissions, refused SYNs) adds to the forwarded and NO_SOCKET
   * counts, and a restarted agent must continue from there.
   */
  lastSeen?: { noSocket: number; clientEgress: number };
  /** Facts for the README's kernel table and the timing report. */
  facts: Record<string, string | number>;
  cleanups: Array<() => void | Promise<void>>;
}

export interface Check {
  name: string;
  run(ctx: MatrixContext): Promise<string | void>;
}

const fwd = (s: Sample[], ns: string, pod: string, direction: string, metric = 'datapath_forward_packets_total') =>
  sumOf(s, metric, { source: 'tc', namespace: ns, pod, direction });
const noSocket = (s: Sample[], metric = 'datapath_drop_packets_total') =>
  sumOf(s, metric, { source: 'kernel', reason: 'NO_SOCKET', namespace: 'back', pod: 'server', direction: 'ingress' });

/**
 * A scrape, tried again once when the connection fails: under emulation the
 * agent's keep-alive timeout (5 s) can close a socket just as fetch reuses it.
 */
async function twice<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    process.stdout.write(`matrix: a request failed (${String(err.cause ?? err)}), trying once more\n`);
    return request();
  }
}
const scrape = (p: ExporterProcess) => twice(() => p.scrape());

function agentOf(ctx: MatrixContext): ExporterProcess {
  if (!ctx.agent) throw new Error('no agent running (an earlier check failed to start it)');
  return ctx.agent;
}

async function startAgent(ctx: MatrixContext): Promise<ExporterProcess> {
  const t0 = Date.now();
  const p = await ExporterProcess.start(
    [
      '--bpffs',
      ctx.pinDir,
      '--poll-interval',
      '200ms',
      '--kubeconfig',
      ctx.kubeconfig,
      '--node-name',
      NODE,
      '--interfaces',
      ctx.net.interfaceGlob,
      '--cilium-metrics-map',
      'none',
    ],
    process.env,
    START_TIMEOUT_MS,
  );
  ctx.agent = p;
  await waitFor(
    async () => sumOf(await scrape(p), 'datapath_exporter_kubernetes_synced'),
    (v) => v === 1,
    WAIT_MS,
  );
  await waitFor(
    async () => sumOf(await scrape(p), 'datapath_exporter_attached_interfaces'),
    (v) => v === 2,
    WAIT_MS,
  );
  const ms = Date.now() - t0;
  ctx.facts[ctx.facts.agentStartMs === undefined ? 'agentStartMs' : 'agentRestartMs'] = ms;
  return p;
}

/** Our clsact filters (fixed handle 0xd47a) on a device's hook. */
function ourClsactFilters(dev: string, hook: 'ingress' | 'egress'): number {
  return sh('tc', ['filter', 'show', 'dev', dev, hook])
    .split('\n')
    .filter((l) => / handle 0xd47a /.test(l)).length;
}

/** The CNI-like matchall filters (pref 1) on a device's hook. */
function cniFilters(dev: string, hook: 'ingress' | 'egress'): number {
  return sh('tc', ['filter', 'show', 'dev', dev, hook])
    .split('\n')
    .filter((l) => /pref 1 matchall .*handle /.test(l)).length;
}

/** Loaded programs of ours (bpftool shows 15 characters of a name). */
function ourPrograms(): string[] {
  const progs = JSON.parse(sh('bpftool', ['-j', 'prog', 'show'])) as Array<{ name?: string }>;
  return progs.map((p) => p.name ?? '').filter((n) => n.startsWith('count_kernel_dr') || n.startsWith('count_host_'));
}

const ifindex = (dev: string) => Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8'));

const verifierCheck: Check = {
  name: "every BPF object is accepted by this kernel's verifier",
  async run(ctx) {
    const dir = testPinDir();
    mkdirSync(dir);
    ctx.cleanups.push(() => removePinDir(dir));
    const rejected: string[] = [];
    // drops.bpf.o holds two variants of its program: each kernel loads the
    // one it can run (typed reads need the bpf_rdonly_cast kfunc, 6.2+), as
    // the agent does; benchmark 1's step programs use the typed reads only.
    const variant = dropProgramVariant();
    const skipped: string[] = [];
    for (const rel of OBJECTS) {
      if (rel === 'bench/bpf/drop_steps.bpf.o' && variant !== 'typed') {
        skipped.push(rel);
        continue;
      }
      // tcp.bpf.o: the retransmission program this kernel's tracepoint fits (err since 6.16), and the
      // untraced-reset hooks only before tcp_send_reset's reason (6.10), as the agent loads them.
      const tcpLeftOut = [
        (tracepointArgCount('tcp_retransmit_skb') ?? 0) >= 3 ? 'count_tcp_retransmit' : 'count_tcp_retransmit_err',
        ...untracedResetPrograms(tracepointArgCount('tcp_send_reset'), kernelHasFunction).leave,
      ];
      const notLoaded =
        rel === 'bpf/drops.bpf.o' ? [DROP_PROGRAMS[variant === 'typed' ? 'probe' : 'typed']] : rel === 'bpf/tcp.bpf.o' ? tcpLeftOut : [];
      try {
        BpfObject.load(join(ROOT, rel), dir, undefined, notLoaded).close();
      } catch (err) {
        const tail = err instanceof BpfError && err.verifierLog ? `\n  ${err.verifierLog.slice(-12).join('\n  ')}` : '';
        rejected.push(`${rel}: ${err instanceof Error ? err.message : String(err)}${tail}`);
      }
    }
    assert.deepEqual(rejected, [], `rejected:\n${rejected.join('\n')}`);
    ctx.facts.dropProgram = DROP_PROGRAMS[variant];
    return `${OBJECTS.length - skipped.length} objects loaded (drop program: ${DROP_PROGRAMS[variant]})${skipped.length ? `; not loaded here (needs bpf_rdonly_cast): ${skipped.join(', ')}` : ''}`;
  },
};

const tcModeCheck: Check = {
  name: 'the agent starts and chooses the tc mode of this kernel (tcx from 6.6, clsact before), beside a CNI program on the same hooks',
  async run(ctx) {
    const [major, minor] = (ctx.facts.kernel as string).split('.').map(Number) as [number, number];
    const expected = major > 6 || (major === 6 && minor >= 6) ? 'tcx' : 'clsact';
    // A CNI's program on both hooks of both pods' veths before the agent starts.
    if (expected === 'clsact') {
      for (const dev of [ctx.a.hostIf, ctx.b.hostIf]) {
        sh('tc', ['qdisc', 'add', 'dev', dev, 'clsact']);
        for (const hook of ['ingress', 'egress'])
          sh('tc', ['filter', 'add', 'dev', dev, hook, 'pref', '1', 'matchall', 'action', 'continue']);
      }
      ctx.cni = 'clsact';
    } else {
      const other = new TcxPrograms();
      ctx.cleanups.push(() => other.close());
      for (const dev of [ctx.a.hostIf, ctx.b.hostIf]) {
        for (const hook of [BPF_TCX_INGRESS, BPF_TCX_EGRESS]) assert.equal(other.attach(ifindex(dev), hook, TCX_PASS, 'dpx_cni_like'), 0);
      }
      ctx.cni = other;
    }
    const p = await startAgent(ctx);
    const m = /"reasons":(\d+),"cpus":(\d+),"tc":"(\w+)"/.exec(p.logs);
    assert.ok(m, `the agent logs what it attached:\n${p.logs}`);
    ctx.attached = { reasons: Number(m[1]), cpus: Number(m[2]), tc: m[3] ?? '' };
    Object.assign(ctx.facts, { tcMode: ctx.attached.tc, reasons: ctx.attached.reasons, cpus: ctx.attached.cpus });
    assert.equal(ctx.attached.tc, expected);
    if (expected === 'clsact') {
      for (const hook of ['ingress', 'egress'] as const) assert.equal(ourClsactFilters(ctx.a.hostIf, hook), 1, `our ${hook} filter`);
    }
    return `tc ${ctx.attached.tc}, ${ctx.attached.reasons} reasons named, ${ctx.attached.cpus} CPUs, started in ${ctx.facts.agentStartMs} ms`;
  },
};

const forwardCheck: Check = {
  name: 'the pods lab is exact: forwarded packets and bytes per pod and direction',
  async run(ctx) {
    const p = agentOf(ctx);
    ctx.lab.sendUdp(ctx.a.ns, ctx.b.ip, 5000, F, PAYLOAD);
    const s = await waitFor(
      async () => scrape(p),
      (x) => fwd(x, 'back', 'server', 'ingress') >= F,
      WAIT_MS,
    );
    assert.equal(fwd(s, 'front', 'client', 'egress'), F, 'client egress packets');
    assert.equal(fwd(s, 'back', 'server', 'ingress'), F, 'server ingress packets');
    assert.equal(
      fwd(s, 'front', 'client', 'egress', 'datapath_forward_bytes_total'),
      F * (PAYLOAD + UDP_IPV4_OVERHEAD),
      'client egress bytes',
    );
    assert.equal(
      fwd(s, 'back', 'server', 'ingress', 'datapath_forward_bytes_total'),
      F * (PAYLOAD + UDP_IPV4_OVERHEAD),
      'server ingress bytes',
    );
    return `${F} packets each way counted once`;
  },
};

const kernelDropsCheck: Check = {
  name: 'kernel drops are counted exactly (NO_SOCKET, packets and bytes, named pod)',
  async run(ctx) {
    const p = agentOf(ctx);
    ctx.lab.sendUdp(ctx.a.ns, ctx.b.ip, 9, D, PAYLOAD, SPORT);
    const s = await waitFor(
      async () => scrape(p),
      (x) => noSocket(x) >= D,
      WAIT_MS,
    );
    assert.equal(noSocket(s), D, 'packets');
    assert.equal(noSocket(s, 'datapath_drop_bytes_total'), D * (PAYLOAD + UDP_IPV4_OVERHEAD), 'bytes');
    assert.equal(fwd(s, 'front', 'client', 'egress'), F + D, 'and forwarded before the socket lookup');
    return `${D} NO_SOCKET drops`;
  },
};

const dropEventsCheck: Check = {
  name: 'drop events name both pods, with ports',
  async run(ctx) {
    const p = agentOf(ctx);
    const read = async () =>
      (await twice(() => p.get('/api/v1/drops?reason=NO_SOCKET&pod=server'))).body
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as DropEvent);
    const events = await waitFor(read, (e) => e.length >= D, WAIT_MS);
    assert.equal(events.length, D, 'one event per drop');
    for (const e of events) {
      assert.deepEqual(e.source, { ip: ctx.a.ip, port: SPORT, namespace: 'front', pod: 'client' });
      assert.deepEqual(e.destination, { ip: ctx.b.ip, port: 9, namespace: 'back', pod: 'server' });
    }
    ctx.facts.events = events.length;
    return `${events.length} events, at ${events[0]?.location}`;
  },
};

const sigtermCheck: Check = {
  name: "SIGTERM leaves nothing of ours attached and the CNI's program in place",
  async run(ctx) {
    const p = agentOf(ctx);
    ctx.agent = undefined;
    await p.nextPoll(WAIT_MS);
    const seen = await scrape(p);
    ctx.lastSeen = { noSocket: noSocket(seen), clientEgress: fwd(seen, 'front', 'client', 'egress') };
    const { code } = await p.stop('SIGTERM');
    assert.equal(code, 0, `exit code\n${p.logs.slice(-2000)}`);
    for (const dev of [ctx.a.hostIf, ctx.b.hostIf]) {
      for (const hook of ['ingress', 'egress'] as const) {
        assert.equal(ourClsactFilters(dev, hook), 0, `no filter of ours on ${dev} ${hook}`);
        if (ctx.cni === 'clsact')
          assert.equal(cniFilters(dev, hook), 1, `the CNI's filter stays on ${dev} ${hook} (so does its clsact qdisc)`);
      }
      if (ctx.cni !== undefined && ctx.cni !== 'clsact') {
        for (const hook of [BPF_TCX_INGRESS, BPF_TCX_EGRESS])
          assert.equal(tcxProgramCount(ifindex(dev), hook), 1, `only the CNI's program at ${dev} tcx ${hook}`);
      }
    }
    // The kernel frees a detached program after an RCU grace period.
    const left = await waitFor(
      () => ourPrograms(),
      (l) => l.length === 0,
      WAIT_MS,
    );
    assert.deepEqual(left, [], 'no program of ours loaded');
    const links = join(ctx.pinDir, 'links');
    assert.deepEqual(readdirSafe(links), [], 'no link pins');
    return 'exit 0, nothing of ours attached';
  },
};

const restartCheck: Check = {
  name: 'a restarted agent continues the same counters (no reset)',
  async run(ctx) {
    if (!ctx.attached) throw new Error('not run: the first agent did not start');
    const p = await startAgent(ctx);
    const last = ctx.lastSeen ?? { noSocket: D, clientEgress: F + D };
    assert.ok(last.noSocket >= D && last.clientEgress >= F + D, `the first agent's last counts ${JSON.stringify(last)}`);
    const s = await waitFor(
      async () => scrape(p),
      (x) => noSocket(x) >= last.noSocket && fwd(x, 'front', 'client', 'egress') >= last.clientEgress,
      WAIT_MS,
    );
    assert.equal(noSocket(s), last.noSocket, 'NO_SOCKET after restart');
    assert.equal(fwd(s, 'front', 'client', 'egress'), last.clientEgress, 'forwarded after restart');
    ctx.lab.sendUdp(ctx.a.ns, ctx.b.ip, 9, M, PAYLOAD, SPORT);
    const t = await waitFor(
      async () => scrape(p),
      (x) => noSocket(x) >= last.noSocket + M,
      WAIT_MS,
    );
    assert.equal(noSocket(t), last.noSocket + M);
    assert.equal(fwd(t, 'front', 'client', 'egress'), last.clientEgress + M);
    const { code } = await p.stop('SIGTERM');
    ctx.agent = undefined;
    assert.equal(code, 0);
    return `${last.noSocket} then ${last.noSocket + M}, restarted in ${ctx.facts.agentRestartMs} ms`;
  },
};

/**
 * Resets to a segment of no socket (a closed port): the kernel sends them
 * with sk NULL. Both sides exact on every kernel: the client's received
 * resets, and the server's sent resets against its TcpOutRsts. Since 6.10
 * tcp_send_reset (with its reason argument) fires for them; before, it fires
 * only for a full socket and the fentry programs on tcp_v4_send_reset /
 * tcp_v6_send_reset count them instead (the check reports which).
 */
const tcpClosedPortCheck: Check = {
  name: "refused connects to a closed port: the client's received resets and the server's sent resets exact",
  async run(ctx) {
    const p = agentOf(ctx);
    const before = await scrape(p);
    const kBefore = ctx.lab.nstat(ctx.b.ns, 'TcpOutRsts');
    // bash's /dev/tcp: a refused connect costs no process start (node takes seconds under emulation).
    ctx.lab.exec(ctx.a.ns, 'bash', [
      '-c',
      `for i in $(seq ${RESETS}); do (exec 3<>/dev/tcp/${ctx.b.ip}/${CLOSED_TCP_PORT}) 2>/dev/null && exit 1; done; exit 0`,
    ]);
    assert.equal(ctx.lab.nstat(ctx.b.ns, 'TcpOutRsts') - kBefore, RESETS, 'the server answered each connect with RST');
    const tcp = (s: Sample[], metric: string, ns: string, pod: string) =>
      sumOf(s, metric, { namespace: ns, pod }) - sumOf(before, metric, { namespace: ns, pod });
    // The forwarded SYNs: once the poll has counted them, it ran after the resets.
    await waitFor(
      async () => scrape(p),
      (x) => fwd(x, 'front', 'client', 'egress') >= F + D + RESETS,
      WAIT_MS,
    );
    await p.nextPoll(WAIT_MS);
    const s = await scrape(p);
    assert.equal(fwd(s, 'front', 'client', 'egress'), F + D + RESETS, 'forwarded: the SYNs too');
    assert.equal(tcp(s, 'datapath_tcp_resets_received_total', 'front', 'client'), RESETS, 'client: resets received');
    const sent = tcp(s, 'datapath_tcp_resets_sent_total', 'back', 'server');
    const withReason = (tracepointArgCount('tcp_send_reset') ?? 0) >= 3;
    const hook = withReason
      ? 'tcp_send_reset (sk, skb, reason)'
      : 'fentry tcp_v4_send_reset (tcp_send_reset (sk, skb) fires only for full sockets)';
    ctx.facts.closedPortResetsSeen = `${sent}/${RESETS}`;
    assert.equal(sent, RESETS, `server: resets sent, as its TcpOutRsts (counted by ${hook})`);
    return `client received ${RESETS}; the server's ${sent} of ${RESETS} resets to a closed port counted by ${hook}`;
  },
};

/** b's listener (busybox nc: a node process takes seconds to start under emulation). */
const SYNACK_PORT = 5001;

/**
 * A lost SYN-ACK: the node drops every SYN-ACK of b's listener until b's
 * kernel has counted one retransmitted (TCPSynRetrans), then lets the next
 * through. The listener (the wildcard address) retransmits through
 * tcp_retransmit_synack, the client its SYN through tcp_retransmit_skb:
 * each pod's exported retransmissions must be its own TcpRetransSegs.
 */
const tcpSynAckCheck: Check = {
  name: "a lost SYN-ACK: the listening pod's retransmissions (tcp_retransmit_synack) and the client's exact against their TcpRetransSegs",
  async run(ctx) {
    const p = agentOf(ctx);
    const args = tracepointArgCount('tcp_retransmit_synack');
    ctx.facts.synackArgs = String(args);
    assert.equal(args, 2, 'tcp_retransmit_synack passes (sk, req)');
    const counters = (ns: string) => ({ retrans: ctx.lab.nstat(ns, 'TcpRetransSegs'), synAck: ctx.lab.nstat(ns, 'TcpExtTCPSynRetrans') });
    const before = await scrape(p);
    const kBefore = { client: counters(ctx.a.ns), server: counters(ctx.b.ns) };
    const listener = spawn('nsenter', [`--net=/run/netns/${ctx.b.ns}`, '/bin/busybox', 'nc', '-l', '-p', String(SYNACK_PORT)], {
      stdio: 'ignore',
    });
    ctx.cleanups.push(() => void listener.kill('SIGKILL'));
    await waitFor(
      async () => ctx.lab.exec(ctx.b.ns, 'ss', ['-Htln', 'sport', '=', `:${SYNACK_PORT}`]).trim(),
      (v) => v !== '',
      WAIT_MS,
    );
    const rule = ['FORWARD', '-s', ctx.b.ip, '-d', ctx.a.ip, '-p', 'tcp', '--sport', String(SYNACK_PORT)];
    rule.push('--tcp-flags', 'SYN,ACK', 'SYN,ACK', '-j', 'DROP');
    sh('iptables', ['-I', ...rule]);
    let ruleIn = true;
    ctx.cleanups.push(() => void (ruleIn && sh('iptables', ['-D', ...rule])));
    const connect = spawn(
      'nsenter',
      [`--net=/run/netns/${ctx.a.ns}`, 'bash', '-c', `exec 3<>/dev/tcp/${ctx.b.ip}/${SYNACK_PORT}; exec 3>&-`],
      {
        stdio: 'ignore',
      },
    );
    const connected = new Promise<number | null>((resolve) => connect.once('exit', resolve));
    try {
      await waitFor(
        async () => ctx.lab.nstat(ctx.b.ns, 'TcpExtTCPSynRetrans') - kBefore.server.synAck,
        (n) => n >= 1,
        WAIT_MS,
        20,
      );
    } finally {
      sh('iptables', ['-D', ...rule]);
      ruleIn = false;
    }
    assert.equal(await connected, 0, 'the connect succeeded once a SYN-ACK came through');
    const open = (ns: string) => ctx.lab.exec(ns, 'ss', ['-Htan', 'exclude', 'time-wait', 'exclude', 'listening']).trim();
    await waitFor(
      async () => open(ctx.a.ns) + open(ctx.b.ns),
      (v) => v === '',
      WAIT_MS,
    );
    const kAfter = { client: counters(ctx.a.ns), server: counters(ctx.b.ns) };
    const expected = { client: kAfter.client.retrans - kBefore.client.retrans, server: kAfter.server.retrans - kBefore.server.retrans };
    const synAcks = kAfter.server.synAck - kBefore.server.synAck;
    assert.ok(
      expected.server >= synAcks && synAcks >= 1,
      `the server retransmitted SYN-ACKs (${synAcks}) and counted them (${expected.server})`,
    );
    const exported = (s: Sample[], ns: string, pod: string) =>
      sumOf(s, 'datapath_tcp_retransmit_segments_total', { namespace: ns, pod }) -
      sumOf(before, 'datapath_tcp_retransmit_segments_total', { namespace: ns, pod });
    await waitFor(
      async () => scrape(p),
      (x) => exported(x, 'back', 'server') >= expected.server,
      WAIT_MS,
    );
    await p.nextPoll(WAIT_MS);
    const s = await scrape(p);
    assert.deepEqual(
      { client: exported(s, 'front', 'client'), server: exported(s, 'back', 'server') },
      expected,
      'retransmissions exported = TcpRetransSegs',
    );
    return `server ${expected.server} (${synAcks} SYN-ACKs), client ${expected.client}`;
  },
};

/**
 * The same resets to a segment of no socket over IPv6 as well as IPv4
 * (before 6.10 tcp_v6_send_reset's fentry is the other program), on a
 * namespace's loopback: no pod has those addresses, so they count
 * unattributed, and no other reset happens meanwhile in the guest, so the
 * family's total moves by exactly the namespace's TcpOutRsts.
 */
const timeWaitReset = (port: number) => `
import socket, time
l = socket.socket()
l.bind(('127.0.0.1', ${port}))
l.listen()
c = socket.create_connection(('127.0.0.1', ${port}))
s, _ = l.accept()
c.close()
time.sleep(0.5)
s.send(b'x')
time.sleep(0.5)
`;
const tcpLoopbackClosedPortCheck: Check = {
  name: "refused connects to a closed port on a loopback, IPv4 and IPv6, and a TIME_WAIT socket's reset: the sent resets exact against TcpOutRsts",
  async run(ctx) {
    const p = agentOf(ctx);
    const ns = ctx.lab.namespace('loop');
    ctx.lab.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.lo.disable_ipv6=0']);
    const before = await scrape(p);
    const kBefore = ctx.lab.nstat(ns, 'TcpOutRsts');
    for (const host of ['127.0.0.1', '::1']) {
      ctx.lab.exec(ns, 'bash', [
        '-c',
        `for i in $(seq ${RESETS}); do (exec 3<>/dev/tcp/${host}/${CLOSED_TCP_PORT}) 2>/dev/null && exit 1; done; exit 0`,
      ]);
    }
    assert.equal(ctx.lab.nstat(ns, 'TcpOutRsts') - kBefore, 2 * RESETS, 'the namespace answered each connect with RST');
    // A TIME_WAIT socket's reset (sk neither NULL nor full): a client closes, its FIN acked, so it
    // waits as a TIME_WAIT socket in FIN_WAIT2; data the server sends then is answered with RST.
    ctx.lab.exec(ns, '/usr/bin/python3', ['-c', timeWaitReset(CLOSED_TCP_PORT + 1)]);
    const expected = ctx.lab.nstat(ns, 'TcpOutRsts') - kBefore;
    assert.equal(expected, 2 * RESETS + 1, 'the TIME_WAIT socket answered the data with RST');
    const sent = (s: Sample[]) => sumOf(s, 'datapath_tcp_resets_sent_total') - sumOf(before, 'datapath_tcp_resets_sent_total');
    const s = await waitFor(
      async () => scrape(p),
      (x) => sent(x) >= expected,
      WAIT_MS,
    );
    await p.nextPoll(WAIT_MS);
    const after = await scrape(p);
    assert.equal(sent(after), expected, `resets sent (${sent(s)} at first sight), as the namespace's TcpOutRsts`);
    const withReason = (tracepointArgCount('tcp_send_reset') ?? 0) >= 3;
    return `${sent(after)} of ${expected} resets (IPv4 and IPv6 to a closed port, one from TIME_WAIT) counted by ${withReason ? 'tcp_send_reset (sk, skb, reason)' : 'fentry tcp_v4_send_reset and tcp_v6_send_reset'}`;
  },
};

export const CHECKS: readonly Check[] = [
  verifierCheck,
  tcModeCheck,
  forwardCheck,
  kernelDropsCheck,
  dropEventsCheck,
  tcpClosedPortCheck,
  tcpLoopbackClosedPortCheck,
  tcpSynAckCheck,
  sigtermCheck,
  restartCheck,
];

/** Refused connects a → b's closed TCP port: b's kernel answers each with RST (TcpOutRsts in b's namespace). */
const RESETS = 3;
const CLOSED_TCP_PORT = 5002;
/** The TCP families tcp.bpf.o's collector exports. */
const TCP_FAMILIES = /^datapath_tcp_/;

/** The lockdown mode, from securityfs (mounted here if the guest has not: a systemd node mounts it at boot). */
function lockdownMode(): string | undefined {
  if (!existsSync('/sys/kernel/security/lockdown')) sh('mount', ['-t', 'securityfs', 'securityfs', '/sys/kernel/security']);
  return kernelLockdown();
}

/**
 * 6.12 booted with lockdown=confidentiality: the verifier refuses every
 * probe-read helper, which tcp.bpf.o uses (BPF_CORE_READ) and the typed drop
 * program does not. The agent must run without its TCP collector, say so in
 * one line, and count and report drops as everywhere else.
 */
export const LOCKDOWN_CHECKS: readonly Check[] = [
  {
    name: 'the kernel is locked down (confidentiality): tcp.bpf.o is refused, saying so; the drop and tc programs load',
    async run(ctx) {
      assert.equal(lockdownMode(), 'confidentiality', '/sys/kernel/security/lockdown');
      const dir = testPinDir();
      mkdirSync(dir);
      ctx.cleanups.push(() => removePinDir(dir));
      const variant = dropProgramVariant();
      assert.equal(variant, 'typed', 'a 6.2+ kernel: the bpf_rdonly_cast variant');
      // libbpf's messages to a sink, as the agent routes them: the verifier's log is kept for the error.
      setLibbpfPrint(() => undefined);
      BpfObject.load(join(ROOT, 'bpf/drops.bpf.o'), dir, undefined, [DROP_PROGRAMS.probe]).close();
      BpfObject.load(join(ROOT, 'bpf/forward.bpf.o'), dir).close();
      let refused: unknown;
      try {
        BpfObject.load(join(ROOT, 'bpf/tcp.bpf.o'), dir, undefined, ['count_tcp_retransmit_err']).close();
      } catch (err) {
        refused = err;
      }
      assert.ok(refused instanceof BpfError, `tcp.bpf.o is refused (got ${String(refused)})`);
      assert.match(
        refused.message,
        /kernel lockdown \(confidentiality\) refuses the probe-read helpers it calls \(.*cannot use helper bpf_probe_read/,
      );
      ctx.facts.dropProgram = DROP_PROGRAMS[variant];
      ctx.facts.lockdown = 'confidentiality';
      return refused.message;
    },
  },
  {
    name: 'the agent starts without the TCP collector and says why in one line',
    async run(ctx) {
      const p = await startAgent(ctx);
      const tcpLines = p.logs.split('\n').filter((l) => /tcp/i.test(l));
      assert.equal(tcpLines.length, 1, `one line about TCP:\n${tcpLines.join('\n')}`);
      const line = JSON.parse(tcpLines[0] ?? '{}') as { msg?: string; err?: string };
      assert.match(line.msg ?? '', /^cannot load the TCP tracepoints .*: no TCP retransmission or reset counters$/);
      assert.match(line.err ?? '', /kernel lockdown \(confidentiality\) refuses the probe-read helpers/);
      return tcpLines[0];
    },
  },
  forwardCheck,
  kernelDropsCheck,
  dropEventsCheck,
  {
    name: "real TCP resets between the pods (the server's TcpOutRsts) make no TCP families: the collector is not there",
    async run(ctx) {
      const p = agentOf(ctx);
      const before = ctx.lab.nstat(ctx.b.ns, 'TcpOutRsts');
      // bash's /dev/tcp: a refused connect costs no process start (node takes seconds under emulation).
      ctx.lab.exec(ctx.a.ns, 'bash', [
        '-c',
        `for i in $(seq ${RESETS}); do (exec 3<>/dev/tcp/${ctx.b.ip}/${CLOSED_TCP_PORT}) 2>/dev/null && exit 1; done; exit 0`,
      ]);
      assert.equal(ctx.lab.nstat(ctx.b.ns, 'TcpOutRsts') - before, RESETS, 'the server answered each connect with RST');
      // Each SYN is forwarded out of the client (and dropped NO_SOCKET at the
      // server): once the poll has counted them, it ran after the resets.
      const s = await waitFor(
        async () => scrape(p),
        (x) => fwd(x, 'front', 'client', 'egress') >= F + D + RESETS,
        WAIT_MS,
      );
      assert.equal(fwd(s, 'front', 'client', 'egress'), F + D + RESETS, 'forwarded: the SYNs too');
      const families = new Set(s.map((x) => x.name));
      assert.deepEqual(
        [...families].filter((n) => TCP_FAMILIES.test(n)),
        [],
      );
      return `${RESETS} resets sent by back/server; ${families.size} families, none TCP`;
    },
  },
  sigtermCheck,
];

/** The scenarios scenario.ts runs, by its argument. */
export const SCENARIOS: Readonly<Record<string, readonly Check[]>> = { all: CHECKS, lockdown: LOCKDOWN_CHECKS };

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The lab every check shares: two pods behind veths, the suite's API server naming them. */
export async function setUp(kernel: string): Promise<MatrixContext> {
  const lab = new Lab();
  const net = new PodNetwork(lab);
  const cleanups: Array<() => void | Promise<void>> = [];
  const a = net.addPod('client', '10.213.1.2');
  const b = net.addPod('server', '10.213.2.2');
  await lab.udpReceiver(b.ns, 5000);
  const api = await KubeApiServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'dpx-matrix-'));
  api.addPod(makePod({ name: 'client', namespace: 'front', nodeName: NODE, ips: [a.ip] }));
  api.addPod(makePod({ name: 'server', namespace: 'back', nodeName: NODE, ips: [b.ip] }));
  const pinDir = testPinDir();
  cleanups.push(
    () => lab.destroy(),
    () => api.stop(),
    () => rmSync(dir, { recursive: true, force: true }),
    () => removePinDir(pinDir),
  );
  return { lab, net, a, b, api, kubeconfig: api.writeKubeconfig(dir), pinDir, facts: { kernel }, cleanups };
}

export async function tearDown(ctx: MatrixContext): Promise<void> {
  await ctx.agent?.stop('SIGKILL');
  for (const c of ctx.cleanups.reverse()) {
    try {
      await c();
    } catch {
      /* best effort: the VM goes away anyway, on the host the lab's own destroy ran */
    }
  }
}
