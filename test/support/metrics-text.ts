// Reads the Prometheus text exposition the exporter serves, for assertions.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include `match` (a RegExp matches the value). */
export function sumOf(samples: Sample[], name: string, match: Record<string, string | RegExp> = {}): number {
  return samples
    .filter((s) => s.name === name)
    .filter((s) => Object.entries(match).every(([k, v]) => (typeof v === 'string' ? (s.labels[k] ?? '') === v : v.test(s.labels[k] ?? ''))))
    .reduce((sum, s) => sum + s.value, 0);
}
