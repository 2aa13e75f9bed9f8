// The capability set in the DaemonSet is enough: the real agent, started the
// way the container runtime starts it (uid 0, bounding set cut to exactly the
// DaemonSet's capabilities, no inheritable or ambient ones, no_new_privs),
// loads and attaches its programs, becomes ready and serves /metrics.
// Not reproduced here: the runtime's seccomp and AppArmor profiles.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { requireBpf } from '../support/privileges.js';
import { freePort } from '../support/prometheus.js';
import { renderKustomization, type KubeObject } from './kustomize.js';
import { deployDir, repoRoot } from './paths.js';

const AGENT = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** Linux capability numbers (include/uapi/linux/capability.h). */
const CAP_NUMBERS: Readonly<Record<string, number>> = {
  NET_ADMIN: 12,
  SYS_ADMIN: 21,
  SYS_RESOURCE: 24,
  SYSLOG: 34,
  PERFMON: 38,
  BPF: 39,
};

function capMask(caps: readonly string[]): bigint {
  return caps.reduce((mask, c) => {
    const n = CAP_NUMBERS[c];
    if (n === undefined) throw new Error(`unknown capability ${c}`);
    return mask | (1n << BigInt(n));
  }, 0n);
}

async function effectiveCaps(pid: number): Promise<bigint> {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : -1n;
}

describe("deploy: the agent runs with exactly the DaemonSet's capabilities", function () {
  this.timeout(60_000);
  const pinDir = `/sys/fs/bpf/dpx-deploy-test-${randomBytes(3).toString('hex')}`;
  let caps: string[] = [];
  let child: ChildProcess | undefined;
  let log = '';
  let port = 0;

  before(async function () {
    requireBpf(this);
    const ds = (await renderKustomization(join(deployDir, 'base'))).find((o) => o.kind === 'DaemonSet') as
      (KubeObject & IDaemonSet) | undefined;
    caps = ds?.spec?.template.spec?.containers[0]?.securityContext?.capabilities?.add ?? [];
    assert.ok(caps.length > 0);
    port = await freePort();
    const bounding = ['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',');
    child = spawn(
      'setpriv',
      [
        `--bounding-set=${bounding}`,
        '--inh-caps=-all',
        '--no-new-privs',
        '--',
        process.execPath,
        AGENT,
        'run',
        `--metrics-addr=127.0.0.1:${port}`,
        '--poll-interval=1s',
        `--bpffs=${pinDir}`,
        '--node-name=deploy-test',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      log = (log + d).slice(-8192);
    });
  });

  after(async () => {
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGTERM');
      const killer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    await rm(pinDir, { recursive: true, force: true });
  });

  it('becomes ready and serves its metrics', async () => {
    assert.ok(child);
    let ready = false;
    for (let i = 0; i < 150 && !ready; i++) {
      if (child.exitCode !== null) assert.fail(`agent exited ${child.exitCode}:\n${log}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        await res.arrayBuffer();
        ready = res.ok;
      } catch {
        // Not listening yet.
      }
      if (!ready) await sleep(200);
    }
    assert.ok(ready, `agent not ready:\n${log}`);
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(body, /^datapath_exporter_build_info\{.*node="deploy-test".*\} 1$/m);
  });

  it('holds those capabilities and no others', async () => {
    assert.ok(child?.pid);
    // setpriv execs node in place: the child's pid is the agent's.
    assert.equal((await effectiveCaps(child.pid)).toString(16), capMask(caps).toString(16));
  });
});
