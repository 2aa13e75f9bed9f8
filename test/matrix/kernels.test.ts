// The kernel matrix: Debian's own kernels booted in qemu by scripts/vm-run,
// each running scenario.ts (one lab, two agent runs) in the guest; every
// check it reports is a test here. 6.1 is Debian 12's kernel (clsact, no
// tcx), 6.12 Debian 13's (tcx); the host kernel runs the rest of the suite.
// 6.12 boots a second time with lockdown=confidentiality, a real kernel where
// tcp.bpf.o cannot load (LOCKDOWN_CHECKS): the agent runs without it.
// 5.10 (Debian 11) must be refused in one line, exit 2, before the agent's
// libraries are imported, leaving nothing behind.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'mocha';
import { type Check, CHECKS, LOCKDOWN_CHECKS } from './checks.js';
import type { MatrixReport } from './report.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const VM_RUN = join(ROOT, 'scripts/vm-run');
/** A guest still running after this is killed and reported (vm-run exits 124). */
const GUEST_LIMIT_S = 540;

/** What the VMs need; without it the matrix skips, or fails under REQUIRE_BPF=1. */
function missingForVms(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  if (spawnSync('qemu-system-x86_64', ['--version']).status !== 0)
    return 'qemu-system-x86_64 is not installed (Debian package qemu-system-x86)';
  if (!existsSync('/bin/busybox')) return '/bin/busybox is missing (Debian package busybox-static)';
  return undefined;
}

function requireVms(ctx: Context): void {
  const missing = missingForVms();
  if (missing === undefined) return;
  if (process.env.REQUIRE_BPF === '1') throw new Error(`REQUIRE_BPF=1 but the kernel matrix cannot run: ${missing}`);
  ctx.skip();
}

interface VmRun {
  status: number | null;
  output: string;
  resultDir: string;
}

/** Boots `kernel` (with `append` on its command line) and runs the command in it; resolves when the guest is gone. */
function vmRun(kernel: string, command: string[], append: readonly string[] = []): Promise<VmRun> {
  const resultDir = mkdtempSync(join(tmpdir(), `dpx-matrix-${kernel}-`));
  const child = spawn(
    VM_RUN,
    [
      '--kernel',
      kernel,
      '--cpus',
      '2',
      '--memory',
      '2048',
      '--timeout',
      String(GUEST_LIMIT_S),
      '--result-dir',
      resultDir,
      ...append.flatMap((a) => ['--append', a]),
      '--',
      ...command,
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, output, resultDir })));
}

const tail = (text: string, lines = 40) => text.split('\n').slice(-lines).join('\n');

interface Scenario {
  kernel: string;
  /** Kernel command-line arguments (vm-run --append). */
  append: readonly string[];
  /** scenario.js's argument, and the checks it runs. */
  scenario: string;
  checks: readonly Check[];
  title: string;
}

const SCENARIOS: readonly Scenario[] = [
  { kernel: '6.1', append: [], scenario: 'all', checks: CHECKS, title: "Debian's 6.1 in a VM" },
  { kernel: '6.12', append: [], scenario: 'all', checks: CHECKS, title: "Debian's 6.12 in a VM" },
  {
    kernel: '6.12',
    append: ['lockdown=confidentiality'],
    scenario: 'lockdown',
    checks: LOCKDOWN_CHECKS,
    title: "Debian's 6.12 in a VM, locked down (lockdown=confidentiality): no TCP collector",
  },
];

for (const { kernel, append, scenario, checks, title } of SCENARIOS) {
  describe(`kernel matrix: ${title}`, function () {
    let run: VmRun | undefined;
    let report: MatrixReport | undefined;

    before(async function () {
      requireVms(this);
      this.timeout((GUEST_LIMIT_S + 300) * 1000); // + a first run's download of the kernel package
      run = await vmRun(kernel, ['.runtime/bin/node', 'dist/test/matrix/scenario.js', scenario], append);
      const file = join(run.resultDir, 'matrix-results.json');
      if (existsSync(file)) report = JSON.parse(readFileSync(file, 'utf8')) as MatrixReport;
      const boot = existsSync(join(run.resultDir, 'boot-seconds')) ? readFileSync(join(run.resultDir, 'boot-seconds'), 'utf8').trim() : '?';
      process.stderr.write(
        `      matrix ${kernel}${append.length ? ` (${append.join(' ')})` : ''}: ${report?.kernel ?? '?'} booted in ${boot} s; ${JSON.stringify(report?.facts ?? {})}\n`,
      );
      assert.ok(report, `the guest reported no results (vm-run exit ${run.status}):\n${tail(run.output)}`);
    });

    after(function () {
      if (run) rmSync(run.resultDir, { recursive: true, force: true });
    });

    for (const check of checks) {
      it(check.name, function () {
        const r = report?.results.find((x) => x.name === check.name);
        assert.ok(r, `not reached in the guest (vm-run exit ${run?.status}):\n${tail(run?.output ?? '')}`);
        assert.ok(r.ok, `on ${report?.kernel}: ${r.detail}`);
      });
    }

    it('the guest ran to its end and exited 0', function () {
      assert.equal(run?.status, 0, tail(run?.output ?? ''));
    });
  });
}

describe("kernel matrix: Debian's 5.10 in a VM is refused", function () {
  let run: VmRun | undefined;
  const read = (name: string) => readFileSync(join(run?.resultDir ?? '', name), 'utf8');

  before(async function () {
    requireVms(this);
    this.timeout((GUEST_LIMIT_S + 300) * 1000);
    run = await vmRun('5.10', ['test/matrix/old-kernel-refusal.sh']);
    assert.equal(run.status, 0, `the refusal script did not run:\n${tail(run.output)}`);
    process.stderr.write(
      `      matrix 5.10: refused in ${read('ms').trim()} ms under emulation (node -e 0: ${read('node-ms').trim()} ms)\n`,
    );
  });

  after(function () {
    if (run) rmSync(run.resultDir, { recursive: true, force: true });
  });

  it('run exits 2 with one line: kernel X is too old, 5.13 or newer is needed', function () {
    assert.equal(read('status').trim(), '2', read('stderr'));
    assert.match(read('stderr'), /^datapath-exporter: kernel 5\.10\.\S+ is too old: 5\.13 or newer is needed[^\n]*\n$/);
    assert.equal(read('stdout'), '');
  });

  it("is refused before the agent's libraries are imported (no libbpf, OpenTelemetry, Kubernetes client, logger)", function () {
    const loaded = read('modules.txt').split('\n').filter(Boolean);
    assert.ok(
      loaded.some((u) => u.endsWith('/dist/src/cli/main.js')),
      'the trace saw the command line load',
    );
    const heavy = loaded.filter((u) =>
      /node_modules\/(koffi|@opentelemetry|@kubernetes|pino)\/|\/dist\/src\/(agent|cli\/run-command|bpf\/libbpf)\.js$|\/dist\/vendor\//.test(
        u,
      ),
    );
    assert.deepEqual(heavy, []);
  });

  it('leaves nothing behind: no bpffs pins, no programs', function () {
    assert.equal(read('bpffs').trim(), '', 'nothing under /sys/fs/bpf');
    assert.deepEqual(JSON.parse(read('progs') || 'null'), [], `no BPF programs loaded ${read('progs.err')}`);
  });
});
