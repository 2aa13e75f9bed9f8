// Runs the matrix's checks in order inside a VM (scripts/vm-run), writing each
// result to $VM_RESULT_DIR/matrix-results.json as it goes, so that a guest
// killed at its time limit still reports what it finished. Exits 0 when the
// checks ran (passed or not: the host turns each into a test result), 1 when
// the lab itself could not be set up. Its argument names the scenario (see
// SCENARIOS in checks.ts): `all` (the default) or `lockdown`.
import { writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { SCENARIOS, setUp, tearDown } from './checks.js';
import type { CheckResult, MatrixReport } from './report.js';

const out = join(process.env.VM_RESULT_DIR ?? '.', 'matrix-results.json');
const report: MatrixReport = { kernel: release(), facts: {}, results: [] };
const describe = (err: unknown): string =>
  err instanceof Error ? `${err.stack ?? err.message}${err.cause === undefined ? '' : `\ncause: ${String(err.cause)}`}` : String(err);
const save = () => writeFileSync(out, `${JSON.stringify(report, null, 1)}\n`);
const [major, minor] = release().split('.');
const scenario = process.argv[2] ?? 'all';
const checks = SCENARIOS[scenario];
if (checks === undefined) throw new Error(`no scenario ${scenario}: one of ${Object.keys(SCENARIOS).join(', ')}`);

const ctx = await setUp(`${major}.${minor}`);
save();
try {
  for (const check of checks) {
    const t0 = Date.now();
    let result: CheckResult;
    try {
      const detail = await check.run(ctx);
      result = { name: check.name, ok: true, detail: detail ?? '', ms: Date.now() - t0 };
    } catch (err) {
      result = { name: check.name, ok: false, detail: describe(err), ms: Date.now() - t0 };
    }
    report.results.push(result);
    report.facts = ctx.facts;
    save();
    process.stdout.write(
      `matrix: ${result.ok ? 'ok  ' : 'FAIL'} ${check.name} (${result.ms} ms)${result.ok ? '' : `\n${result.detail}`}\n`,
    );
  }
} finally {
  await tearDown(ctx);
}
