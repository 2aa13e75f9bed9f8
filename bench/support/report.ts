// Shared by the benchmarks: the environment line every result carries,
// robust statistics for a noisy machine (medians of repeated runs), and
// markdown tables on stdout.
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';

export interface Environment {
  date: string;
  kernel: string;
  cpu: string;
  vcpus: number;
  node: string;
}

export function environment(): Environment {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpu = m[1].trim();
  } catch {
    /* keep os.cpus() */
  }
  return { date: new Date().toISOString().slice(0, 10), kernel: release(), cpu, vcpus: cpus().length, node: process.version };
}

/** Prints the benchmark's title and the machine it ran on. */
export function header(title: string, command: string): void {
  const e = environment();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(`## ${title}\n`);
  console.log(
    `\`${command}\` — ${e.date}, kernel ${e.kernel}, ${e.cpu} (${e.vcpus} vCPU), Node ${e.node}, load average at start ${load}\n`,
  );
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

export function min(xs: readonly number[]): number {
  return Math.min(...xs);
}

export function max(xs: readonly number[]): number {
  return Math.max(...xs);
}

/** A number with `digits` significant-ish decimals and thousands separators. */
export function fmt(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return 'n/a';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function int(x: number): string {
  return fmt(x, 0);
}

/** "median (min–max)" of repeated measurements. */
export function spread(xs: readonly number[], digits = 1): string {
  return `${fmt(median(xs), digits)} (${fmt(min(xs), digits)}–${fmt(max(xs), digits)})`;
}

export function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Argument parsing for `--name value` flags with defaults. */
export function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? (process.argv[i + 1] ?? fallback) : fallback;
}

export function numberFlag(name: string, fallback: number): number {
  const v = Number(flag(name, String(fallback)));
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    console.error('this benchmark needs root (BPF, network namespaces): run it with sudo');
    process.exit(2);
  }
}
