// The image, built from deploy/Dockerfile (scripts/build-image), run the way
// the DaemonSet runs it: crun on the image's own root filesystem with the
// config that runtime-config.ts derives from deploy/base/daemonset.yaml
// (entrypoint and args, env, exactly the listed capabilities, read-only root,
// no_new_privs, the runtime's default seccomp profile, host network, bpffs the
// only host mount). The agent in it counts a pod's traffic and the kernel's
// drops exactly, serves /metrics, and exits 0 on SIGTERM leaving nothing
// attached; without one of its capabilities it stops in one line naming it.
//
// The test's only changes to the manifest's container (Overrides below):
// the metrics port (the host network is shared with other tests), the bpffs
// directory (a directory of the test's own under the same mount), and
// --interfaces (only the lab's veths, not every veth on the machine).
// The kubelet's part is played by the test: NODE_NAME, the service-account
// directory and KUBERNETES_SERVICE_HOST/PORT of the suite's API server.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { removePinDir, testPinDir, waitFor } from '../support/exporter.js';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';
import { Lab, UDP_IPV4_OVERHEAD } from '../support/lab.js';
import { parseExposition, type Sample, sumOf } from '../support/metrics-text.js';
import { type LabPod, PodNetwork } from '../support/pod-network.js';
import { requireBpf } from '../support/privileges.js';
import { freePort } from '../support/prometheus.js';
import { describeRun, run } from '../deploy/exec.js';
import { renderKustomization, type KubeObject } from '../deploy/kustomize.js';
import { deployDir, repoRoot } from '../deploy/paths.js';
import { dockerfileImageConfig } from './dockerfile-config.js';
import { containerRootfs, imageConfig, OciContainer, serviceAccountDir } from './oci-container.js';
import { agentContainer, type ImageConfig, type KubeletPart, type Overrides, runtimeConfig } from './runtime-config.js';

const NODE = 'image-node';
/** The runtime image's budget, uncompressed (issue 19). */
const SIZE_BUDGET = 250 * 1000 * 1000;
const NAMESPACE = 'datapath-exporter';
/** Linux capability numbers (include/uapi/linux/capability.h). */
const CAP_NUMBERS: Readonly<Record<string, number>> = { NET_ADMIN: 12, SYSLOG: 34, PERFMON: 38, BPF: 39 };

function capMask(caps: readonly string[]): string {
  return caps
    .reduce((m, c) => {
      const n = CAP_NUMBERS[c];
      if (n === undefined) throw new Error(`capability ${c} has no number here`);
      return m | (1n << BigInt(n));
    }, 0n)
    .toString(16)
    .padStart(16, '0');
}

function status(pid: number, field: string): string {
  return new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
}

/** Program ids behind process `pid`'s file descriptors. */
function heldProgramIds(pid: number): number[] {
  const ids: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.push(Number(m[1]));
    } catch {
      // Closed meanwhile.
    }
  }
  return ids;
}

function loadedProgramIds(): Set<number> {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ id: number }>;
  return new Set(progs.map((p) => p.id));
}

/** A scrape of the agent's /metrics on the host network. */
async function metrics(port: number): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return parseExposition(await res.text());
}

describe("image: the DaemonSet's container, built from deploy/Dockerfile and run with the manifest's settings", function () {
  this.timeout(120_000);
  let image = '';
  let pod: IPodSpec;
  let imageCfg: ImageConfig;
  let lab: Lab;
  let net: PodNetwork;
  let api: KubeApiServer;
  let front: { port: number; caPem: string; stop(): Promise<void> } | undefined;
  let saDir = '';
  let client: LabPod;
  let server: LabPod;
  const containers: OciContainer[] = [];
  const rootfses: Array<{ remove(): Promise<void> }> = [];
  const pinDirs: string[] = [];

  before(async function () {
    requireBpf(this);
    const ds = (await renderKustomization(join(deployDir, 'base'))).find((o) => o.kind === 'DaemonSet') as
      (KubeObject & IDaemonSet) | undefined;
    assert.ok(ds?.spec?.template.spec);
    pod = ds.spec.template.spec;
    image = agentContainer(pod).image ?? '';
    assert.ok(image, 'the container names its image');
    // The image the manifest names, built as users build it (bases made locally: no registry here).
    this.timeout(40 * 60_000);
    const build = await run(join(repoRoot, 'scripts', 'build-image'), [image], { cwd: repoRoot, timeoutMs: 40 * 60_000 });
    assert.equal(build.code, 0, describeRun('scripts/build-image', [image], build));
    imageCfg = await imageConfig(image);

    lab = new Lab();
    net = new PodNetwork(lab);
    client = net.addPod('client', '10.219.1.2');
    server = net.addPod('server', '10.219.2.2');
    await lab.udpReceiver(server.ns, 5000);
    api = await KubeApiServer.start();
    api.addPod(makePod({ name: 'client', namespace: 'shop', nodeName: NODE, ips: [client.ip] }));
    api.addPod(makePod({ name: 'server', namespace: 'shop', nodeName: NODE, ips: [server.ip] }));
    const { TlsFront } = await import('./tls-front.js');
    front = await TlsFront.start(api.port);
    saDir = serviceAccountDir(api.token, front.caPem, NAMESPACE);
  });

  after(async function () {
    // Every step runs even if one before it fails: nothing is left behind.
    const steps: Array<() => unknown> = [
      ...containers.splice(0).map((c) => () => c.remove()),
      ...pinDirs.splice(0).map((d) => () => removePinDir(d)),
      () => front?.stop(),
      () => api?.stop(),
      () => lab?.destroy(),
      () => saDir && rmSync(saDir, { recursive: true, force: true }),
      ...rootfses.splice(0).map((r) => () => r.remove()),
    ];
    const errors: unknown[] = [];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  });

  function kubelet(seccompDefault: KubeletPart['seccompDefault']): KubeletPart {
    return {
      fieldRefs: { 'spec.nodeName': NODE },
      serviceAccountDir: saDir,
      apiServer: { host: '127.0.0.1', port: front?.port ?? 0 },
      seccompDefault,
    };
  }

  async function start(
    capabilities?: string[],
    seccompDefault: KubeletPart['seccompDefault'] = 'podman+capability-gates',
  ): Promise<{ c: OciContainer; port: number; pinDir: string }> {
    const port = await freePort();
    const pinDir = testPinDir();
    pinDirs.push(pinDir);
    const overrides: Overrides = {
      args: { '--metrics-addr': `0.0.0.0:${port}`, '--bpffs': pinDir },
      extraArgs: [`--interfaces=${net.interfaceGlob}`],
      ...(capabilities ? { capabilities } : {}),
    };
    const rootfs = await containerRootfs(image);
    rootfses.push(rootfs);
    const c = OciContainer.start(rootfs.path, runtimeConfig(pod, imageCfg, kubelet(seccompDefault), overrides));
    containers.push(c);
    return { c, port, pinDir };
  }

  async function ready(c: OciContainer, port: number): Promise<void> {
    const ok = await waitFor(
      async () => {
        if (!c.running) return false;
        try {
          const res = await fetch(`http://127.0.0.1:${port}/readyz`);
          await res.arrayBuffer();
          return res.ok;
        } catch {
          return false;
        }
      },
      (v) => v || !c.running,
      60_000,
    );
    assert.ok(ok, `agent in the container not ready:\n${c.output}`);
  }

  it("starts with exactly the manifest's security settings, counts a pod's traffic and drops exactly, and exits 0 on SIGTERM leaving nothing attached", async function () {
    const { c, port } = await start();
    await ready(c, port);
    const sc = agentContainer(pod).securityContext;
    const caps = sc?.capabilities?.add ?? [];

    // The process the runtime started is the agent (node, ENTRYPOINT in exec form), as set up.
    const pid = await c.pid();
    assert.match(
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '),
      /^node .*dist\/src\/cli\/main\.js run --metrics-addr=/,
    );
    for (const set of ['CapBnd', 'CapEff', 'CapPrm']) assert.equal(status(pid, set), capMask(caps), set);
    assert.equal(status(pid, 'CapInh'), '0000000000000000');
    assert.equal(status(pid, 'CapAmb'), '0000000000000000');
    assert.equal(status(pid, 'NoNewPrivs'), '1');
    assert.equal(status(pid, 'Seccomp'), '2', 'a seccomp filter');
    assert.equal(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`NODE_NAME=${NODE}`), true);
    // Its mounts: / read-only; the one host directory is bpffs at /sys/fs/bpf.
    const mounts = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const [pre = '', post = ''] = l.split(' - ');
        const f = pre.split(' ');
        const [fstype = '', source = ''] = post.split(' ');
        return { root: f[3] ?? '', point: f[4] ?? '', options: f[5] ?? '', fstype, source };
      });
    const root = mounts.find((m) => m.point === '/');
    assert.match(root?.options ?? '', /^ro\b/, 'root filesystem read-only');
    // Beyond the runtime's own (/proc, /dev, a fresh sysfs and the paths it masks): bpffs and the service account only.
    const own = (m: { point: string; fstype: string }) =>
      m.point === '/' || /^\/(proc|dev)(\/|$)/.test(m.point) || (m.point === '/sys' && m.fstype === 'sysfs') || m.point === '/sys/firmware';
    assert.deepEqual(
      mounts
        .filter((m) => !own(m))
        .map((m) => m.point)
        .sort(),
      ['/run/secrets/kubernetes.io/serviceaccount', '/sys/fs/bpf'],
      "no mount from the host but bpffs (and the kubelet's service account)",
    );
    assert.ok(
      mounts.some((m) => m.point === '/sys/fs/bpf' && m.fstype === 'bpf'),
      'bpffs at /sys/fs/bpf',
    );

    // Kubernetes metadata over in-cluster config, then exact counts.
    const synced = await waitFor(
      async () => sumOf(await metrics(port), 'datapath_exporter_kubernetes_synced'),
      (v) => v === 1,
      30_000,
    );
    assert.equal(synced, 1, c.output);
    const fwd = (s: Sample[], p: string, direction: string, metric = 'datapath_forward_packets_total') =>
      sumOf(s, metric, { source: 'tc', namespace: 'shop', pod: p, direction });
    const noSocket = (s: Sample[]) =>
      sumOf(s, 'datapath_drop_packets_total', {
        source: 'kernel',
        reason: 'NO_SOCKET',
        direction: 'ingress',
        namespace: 'shop',
        pod: 'server',
      });
    await waitFor(
      async () => sumOf(await metrics(port), 'datapath_exporter_attached_interfaces'),
      (v) => v === 2,
      20_000,
    );
    const before = await metrics(port);
    const N = 23,
      PAYLOAD = 200,
      D = 13;
    lab.sendUdp(client.ns, server.ip, 5000, N, PAYLOAD);
    lab.sendUdp(client.ns, server.ip, 9, D, 10);
    await waitFor(
      () => metrics(port),
      (s) => fwd(s, 'server', 'ingress') - fwd(before, 'server', 'ingress') >= N + D && noSocket(s) - noSocket(before) >= D,
      30_000,
    );
    // One more poll (the manifest's --poll-interval): nothing more arrives.
    const interval = Number(/--poll-interval=(\d+)s/.exec(agentContainer(pod).args?.join(' ') ?? '')?.[1] ?? '5');
    await new Promise((r) => setTimeout(r, interval * 1000 + 500));
    const after = await metrics(port);
    assert.equal(fwd(after, 'client', 'egress') - fwd(before, 'client', 'egress'), N + D);
    assert.equal(fwd(after, 'server', 'ingress') - fwd(before, 'server', 'ingress'), N + D);
    const bytes = N * (PAYLOAD + UDP_IPV4_OVERHEAD) + D * (10 + UDP_IPV4_OVERHEAD);
    assert.equal(
      fwd(after, 'server', 'ingress', 'datapath_forward_bytes_total') - fwd(before, 'server', 'ingress', 'datapath_forward_bytes_total'),
      bytes,
    );
    assert.equal(noSocket(after) - noSocket(before), D);

    const held = heldProgramIds(pid);
    assert.ok(held.length >= 3, `the agent holds its programs (${held.join()})`);
    assert.equal(await c.stop('TERM'), 0, c.output);
    const loaded = loadedProgramIds();
    assert.deepEqual(
      held.filter((id) => loaded.has(id)),
      [],
      'no program of the agent left loaded (so none attached)',
    );
  });

  for (const missing of ['BPF', 'PERFMON', 'NET_ADMIN']) {
    it(`without CAP_${missing}, exits 1 with one line naming CAP_${missing}`, async function () {
      const caps = (agentContainer(pod).securityContext?.capabilities?.add ?? []).filter((x) => x !== missing);
      const { c } = await start(caps);
      const code = await c.wait();
      const lines = c.output.trim().split('\n');
      assert.equal(code, 1, c.output);
      assert.equal(lines.length, 1, c.output);
      assert.match(lines[0] ?? '', new RegExp(`^datapath-exporter: missing privileges: no CAP_${missing}: `));
    });
  }

  it("under podman 4.3's default seccomp profile (bpf(2) only with CAP_SYS_ADMIN), exits 1 in one line that names the seccomp profile", async function () {
    const { c } = await start(undefined, 'podman');
    const code = await c.wait();
    const lines = c.output
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('{'));
    assert.equal(code, 1, c.output);
    assert.equal(lines.length, 1, c.output);
    assert.match(
      lines[0] ?? '',
      /^datapath-exporter: load \S+ failed: EPERM: bpf\(2\) refused under a seccomp filter .*seccompProfile to Unconfined/,
    );
  });

  it('without CAP_SYSLOG, still counts, and says once that kernel drop locations stay unresolved for want of CAP_SYSLOG', async function () {
    const caps = (agentContainer(pod).securityContext?.capabilities?.add ?? []).filter((x) => x !== 'SYSLOG');
    const { c, port } = await start(caps);
    await ready(c, port);
    assert.equal(await c.stop('TERM'), 0, c.output);
    assert.equal(c.output.match(/CAP_SYSLOG/g)?.length, 1, c.output);
  });

  it("has the Dockerfile's entrypoint, args and environment (what the suite derives the run config from)", () => {
    const declared = dockerfileImageConfig();
    assert.deepEqual(imageCfg.Entrypoint, declared.Entrypoint);
    assert.deepEqual(imageCfg.Cmd, declared.Cmd);
    assert.equal(imageCfg.WorkingDir, declared.WorkingDir);
    assert.deepEqual([...(imageCfg.Env ?? [])].sort(), [...(declared.Env ?? [])].sort());
  });

  it(`is at most ${SIZE_BUDGET / 1e6} MB uncompressed and holds what the agent loads, and no compiler, npm, npm cache, sources or tests`, async function () {
    const size = Number((await run('podman', ['image', 'inspect', '--format', '{{.Size}}', image])).stdout.trim());
    assert.ok(size > 0 && size <= SIZE_BUDGET, `${image}: ${(size / 1e6).toFixed(1)} MB uncompressed`);
    const rootfs = await containerRootfs(image);
    rootfses.push(rootfs);
    const at = (p: string) => join(rootfs.path, p);
    // What the agent loads at run time.
    const libdir = readdirSync(at('usr/lib')).find((d) => /-linux-gnu$/.test(d)) ?? '';
    assert.ok(existsSync(at(`usr/lib/${libdir}/libbpf.so.1`)), 'libbpf.so.1');
    for (const f of [
      'app/bpf/drops.bpf.o',
      'app/bpf/forward.bpf.o',
      'app/dist/src/cli/main.js',
      'app/dist/vendor/kubernetes-client.js',
      'usr/local/bin/node',
    ]) {
      assert.ok(existsSync(at(f)), f);
    }
    const koffiArch = process.arch === 'arm64' ? 'arm64' : 'x64';
    assert.ok(existsSync(at(`app/node_modules/@koromix/koffi-linux-${koffiArch}/linux_${koffiArch}/koffi.node`)), "koffi's native module");
    // No compiler or build tool.
    const compiler = /^(cc|c\+\+|cpp|gcc|g\+\+|clang|clang\+\+|llc|ld|ld\.bfd|ld\.gold|as|tcc|make)(-\d+)?$/;
    for (const dir of ['usr/bin', 'usr/local/bin', 'usr/sbin']) {
      assert.deepEqual(
        readdirSync(at(dir)).filter((f) => compiler.test(f) || /-linux-gnu-(gcc|g\+\+|ld|as)/.test(f)),
        [],
        dir,
      );
    }
    // No npm, no npm cache, no sources, tests or development dependencies.
    for (const p of [
      'usr/local/bin/npm',
      'usr/local/bin/npx',
      'usr/local/lib/node_modules',
      'root/.npm',
      'app/src',
      'app/test',
      'app/dist/test',
      'app/bench',
      'app/tsconfig.json',
    ]) {
      assert.equal(existsSync(at(p)), false, `${p} in the image`);
    }
    // The project's own tests and sources (third-party packages in node_modules ship tests of their own: npm keeps them).
    const found = await run('find', [
      at('app'),
      at('root'),
      at('tmp'),
      '-path',
      at('app/node_modules'),
      '-prune',
      '-o',
      '(',
      '-name',
      '*.test.*',
      '-o',
      '-name',
      '*.ts',
      ')',
      '-print',
    ]);
    assert.deepEqual(
      found.stdout
        .trim()
        .split('\n')
        .filter((l) => l !== ''),
      [],
    );
    const caches = await run('find', [rootfs.path, '-xdev', '-name', '_cacache', '-print']);
    assert.equal(caches.stdout.trim(), '', 'an npm cache');
    for (const dev of ['typescript', 'mocha', 'esbuild', 'kubernetes-models', '@kubernetes/client-node', 'prom-client']) {
      assert.equal(existsSync(at(`app/node_modules/${dev}`)), false, `development dependency ${dev} in the image`);
    }
  });
});
