// The tree tells the truth: src/ imports run down the data flow, never up,
// and no file reaches itself through its imports. Stages, lowest first (a
// stage may import only stages before it, and itself):
//   shared files (log/, duration, backoff, version, file-read, glob) < os < bpf < collect < k8s
//   < events < export < agent.ts (the composer) < cli
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

const STAGES = ['shared', 'os', 'bpf', 'collect', 'k8s', 'events', 'export', 'agent', 'cli'] as const;
const SHARED = new Set(['log', 'duration.ts', 'backoff.ts', 'version.ts', 'file-read.ts', 'glob.ts']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** A file's relative imports (static, re-exports and dynamic), as paths under src/. */
export function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1] ?? '');
  return specs.map((s) => relative(SRC, normalize(join(dirname(file), s.replace(/\.js$/, '.ts')))));
}

function stageOf(path: string): (typeof STAGES)[number] {
  const top = path.split('/')[0] ?? '';
  if (SHARED.has(top)) return 'shared';
  if (top === 'agent.ts') return 'agent';
  const stage = STAGES.find((s) => s === top);
  assert.ok(stage, `${path}: in no stage of the flow (add it to this test's list, in its place)`);
  return stage;
}

describe('import graph of src/ (unit)', function () {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) graph.set(relative(SRC, file), importsOf(file, readFileSync(file, 'utf8')));

  it('finds the imports (a parser that sees none would pass anything)', function () {
    assert.ok(graph.size > 50);
    assert.ok((graph.get('agent.ts') ?? []).includes('collect/poller.ts'));
    assert.ok((graph.get('export/access/metrics-auth.ts') ?? []).includes('export/access/kubernetes-auth.ts'), 'dynamic imports count');
  });

  it('every import names a file that exists', function () {
    for (const [file, deps] of graph) for (const dep of deps) assert.ok(graph.has(dep), `${file} imports ${dep}`);
  });

  it('no arrow runs up the flow', function () {
    const up: string[] = [];
    for (const [file, deps] of graph) {
      for (const dep of deps) {
        if (STAGES.indexOf(stageOf(dep)) > STAGES.indexOf(stageOf(file))) up.push(`${file} -> ${dep}`);
      }
    }
    assert.deepEqual(up, []);
  });

  it('no file imports itself through others (no cycle)', function () {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const dep of graph.get(file) ?? []) visit(dep, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    assert.deepEqual(cycles, []);
  });
});
