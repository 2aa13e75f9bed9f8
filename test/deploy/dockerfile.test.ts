// The Dockerfile's shape, and that everything it copies from the build
// context exists and is not excluded by .dockerignore: cheap checks for every
// run. The image itself is built and run by test/image/ (scripts/test-image).
import assert from 'node:assert/strict';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deployDir, repoRoot } from './paths.js';

interface Instruction {
  op: string;
  args: string;
}

function instructions(text: string): Instruction[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

describe('deploy: Dockerfile', () => {
  let ins: Instruction[] = [];
  let ignored: string[] = [];

  before(async () => {
    ins = instructions(await readFile(join(deployDir, 'Dockerfile'), 'utf8'));
    ignored = (await readFile(join(repoRoot, '.dockerignore'), 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
  });

  it("builds on Node 24 bookworm and runs on bookworm-slim with the build stage's node (no npm, yarn or corepack)", () => {
    const froms = ins.filter((i) => i.op === 'FROM').map((i) => i.args);
    assert.deepEqual(froms, ['node:24-bookworm AS build', 'debian:bookworm-slim']);
  });

  it('compiles the BPF objects for the platform being built (TARGETARCH)', () => {
    const build = ins.slice(
      0,
      ins.findLastIndex((i) => i.op === 'FROM'),
    );
    assert.ok(build.some((i) => i.op === 'ARG' && i.args === 'TARGETARCH'));
    assert.ok(build.some((i) => i.op === 'RUN' && /ARCH="\$\{TARGETARCH:-\$\(uname -m\)\}" npm run build/.test(i.args)));
  });

  it('compiles BPF and TypeScript in the build stage and keeps production dependencies only', () => {
    const runs = ins
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
    for (const pkg of ['clang', 'llvm', 'libbpf-dev', 'make']) assert.match(runs, new RegExp(`install .*\\b${pkg}\\b`));
    assert.match(runs, /npm ci --no-audit/);
    assert.match(runs, /npm run build/);
    assert.match(runs, /npm ci --omit=dev/);
  });

  it('ships libbpf1 (no other package: no iproute2) and only node, package.json, node_modules, dist and bpf/*.o', async () => {
    const runtime = ins.slice(ins.findLastIndex((i) => i.op === 'FROM'));
    const installs = runtime
      .filter((i) => i.op === 'RUN')
      .flatMap((i) => [...i.args.matchAll(/apt-get install ([^&;]*)/g)].flatMap((m) => (m[1] ?? '').split(/\s+/)))
      .filter((w) => w !== '' && !w.startsWith('-'));
    assert.deepEqual(installs, ['libbpf1']);
    const copied = runtime.filter((i) => i.op === 'COPY').map((i) => i.args.replace('--from=build ', '').split(' ')[0]);
    assert.deepEqual(copied, ['/usr/local/bin/node', '/src/package.json', '/src/node_modules', '/src/dist', '/src/bpf/*.o']);
    const { flags, env } = await launcherSettings();
    assert.deepEqual(
      runtime.filter((i) => i.op === 'ENTRYPOINT' || i.op === 'CMD').map((i) => `${i.op} ${i.args}`),
      [`ENTRYPOINT ${JSON.stringify(['node', ...flags, 'dist/src/cli/main.js']).replaceAll(',', ', ')}`, 'CMD ["run"]'],
    );
    assert.deepEqual(
      runtime.filter((i) => i.op === 'ENV').map((i) => i.args),
      ['NODE_ENV=production', ...env],
    );
  });

  it('runs the agent with the memory settings of scripts/datapath-exporter (V8 flags, glibc)', async () => {
    const { flags, env } = await launcherSettings();
    assert.ok(flags.includes('--max-semi-space-size=1') && flags.includes('--optimize-for-size'), flags.join(' '));
    assert.deepEqual(env, ['MALLOC_MMAP_THRESHOLD_=131072']);
    const entry = ins.find((i) => i.op === 'ENTRYPOINT')?.args ?? '';
    for (const f of flags) assert.ok((JSON.parse(entry) as string[]).includes(f), `${f} in ${entry}`);
  });

  it('needs no program in the image but node: the agent spawns none (src/ never imports child_process)', async () => {
    const files = (await readdir(join(repoRoot, 'src'), { recursive: true })).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length > 10);
    for (const f of files) {
      const text = await readFile(join(repoRoot, 'src', f), 'utf8');
      assert.doesNotMatch(text, /from ['"](node:)?child_process['"]|import\(['"](node:)?child_process['"]\)/, `src/${f} spawns processes`);
    }
  });

  it('copies from the context only files that exist and .dockerignore lets through', async () => {
    const build = ins.slice(
      0,
      ins.findLastIndex((i) => i.op === 'FROM'),
    );
    const sources = build.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(' ').slice(0, -1));
    assert.ok(sources.length > 0);
    for (const src of sources) {
      await access(join(repoRoot, src));
      const top = src.replace(/\/$/, '').split('/')[0];
      assert.ok(!ignored.includes(top ?? ''), `${src} is excluded by .dockerignore`);
    }
    // Host builds never leak into the image.
    for (const out of ['node_modules', 'dist', 'bpf/*.o']) assert.ok(ignored.includes(out), `.dockerignore: ${out}`);
  });
});

/** The node flags and environment the launcher runs the agent with: the image must use the same. */
async function launcherSettings(): Promise<{ flags: string[]; env: string[] }> {
  const text = await readFile(join(repoRoot, 'scripts', 'datapath-exporter'), 'utf8');
  const exec = /^exec node (.*?)\s*"\$here\/dist\/src\/cli\/main\.js"/m.exec(text);
  assert.ok(exec?.[1], 'scripts/datapath-exporter execs node');
  return { flags: exec[1].split(/\s+/), env: [...text.matchAll(/^export ([A-Z_]+=\S+)$/gm)].map((m) => m[1] ?? '') };
}
