// /metrics as text: the ResourceMetrics the OTel PrometheusExporter collects
// (the same MetricReader.collect() over the same MeterProvider and
// DatapathProducer that the OTLP door reads), written in the exposition the
// exporter's own PrometheusSerializer writes for the agent's options
// (withoutScopeInfo, withoutTargetInfo, no prefix, no timestamps) — byte for
// byte, which test/export/prometheus-text.test.ts checks against it. Only the
// writing is ours: the exporter's serializer runs three regular expressions
// per label of every sample and made a scrape cost 1.1–1.3× prom-client's at
// 1k–100k series (benchmark 4); here label names are sanitized once per name
// and a value is escaped only when it holds a character that needs it.
import type { ServerResponse } from 'node:http';
import { type Attributes, type AttributeValue, diag } from '@opentelemetry/api';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { DataPointType, type Histogram, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';

interface Metadata {
  help: string;
  unit: string;
  type: string;
}

interface Family {
  metadata: Metadata | undefined;
  metrics: MetricData[];
}

const NEEDS_ESCAPE = /[\\\n"]/;
const INVALID_NAME_CHARS = /[^a-z0-9_]/gi;
const MULTIPLE_UNDERSCORES = /_{2,}/g;

function escapeText(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(v: AttributeValue | undefined): string {
  const s = typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
  return NEEDS_ESCAPE.test(s) ? escapeText(s).replace(/"/g, '\\"') : s;
}

function sanitizeName(name: string): string {
  return name.replace(INVALID_NAME_CHARS, '_').replace(MULTIPLE_UNDERSCORES, '_');
}

function prometheusType(m: MetricData): string {
  switch (m.dataPointType) {
    case DataPointType.SUM:
      return m.isMonotonic ? 'counter' : 'gauge';
    case DataPointType.GAUGE:
      return 'gauge';
    case DataPointType.HISTOGRAM:
      return 'histogram';
    default:
      return 'untyped';
  }
}

function valueText(v: number): string {
  return v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : `${v}`;
}

export class PrometheusText {
  /** Label names as written (sanitized), by attribute key: a node's few keys, over and over. */
  private readonly labelNames = new Map<string, string>();
  private previousConflicts = new Set<string>();

  serialize(rm: ResourceMetrics): string {
    let out = '';
    for (const [name, family] of this.families(rm)) {
      const meta = family.metadata;
      if (meta === undefined) continue;
      let writeMetadata = true;
      for (const metric of family.metrics) {
        let text = writeMetadata
          ? `# HELP ${name} ${escapeText(meta.help || 'description missing')}${meta.unit ? `\n# UNIT ${name} ${escapeText(meta.unit)}` : ''}\n# TYPE ${name} ${meta.type}\n`
          : '';
        if (metric.dataPointType === DataPointType.SUM || metric.dataPointType === DataPointType.GAUGE) {
          for (const p of metric.dataPoints) text += `${this.series(name, p.attributes)} ${valueText(p.value as number)}\n`;
        } else if (metric.dataPointType === DataPointType.HISTOGRAM) {
          for (const p of metric.dataPoints) text += this.histogram(name, p.attributes, p.value as Histogram);
        } else {
          diag.error(`Unrecognizable DataPointType: ${String((metric as { dataPointType: unknown }).dataPointType)} for metric "${name}"`);
        }
        // The exporter trims each metric's text and ends it with one newline.
        if (text.length > 0) {
          out += `${text.endsWith('\n') ? text.slice(0, -1) : text}\n`;
          writeMetadata = false;
        }
      }
    }
    return out === '' ? '# no registered metrics' : out;
  }

  private series(name: string, attributes: Attributes, le?: string): string {
    let labels = '';
    for (const key in attributes) {
      let label = this.labelNames.get(key);
      if (label === undefined) {
        label = sanitizeName(key);
        this.labelNames.set(key, label);
      }
      labels += `${labels.length > 0 ? ',' : ''}${label}="${escapeLabelValue(attributes[key])}"`;
    }
    if (le !== undefined) labels += `${labels.length > 0 ? ',' : ''}le="${le}"`;
    return labels.length > 0 ? `${name}{${labels}}` : name;
  }

  private histogram(name: string, attributes: Attributes, h: Histogram): string {
    let text = '';
    if (h.count != null) text += `${this.series(`${name}_count`, attributes)} ${valueText(h.count)}\n`;
    if (h.sum != null) text += `${this.series(`${name}_sum`, attributes)} ${valueText(h.sum)}\n`;
    let cumulative = 0;
    let infinityDefined = false;
    for (const [i, count] of h.buckets.counts.entries()) {
      cumulative += count;
      const bound = h.buckets.boundaries[i];
      if (bound === undefined && infinityDefined) break;
      if (bound === Infinity) infinityDefined = true;
      const le = bound === undefined || bound === Infinity ? '+Inf' : String(bound);
      text += `${this.series(`${name}_bucket`, attributes, le)} ${valueText(cumulative)}\n`;
    }
    return text;
  }

  /** The exporter's metric name: sanitized, `_total` for a monotonic sum. */
  private metricName(m: MetricData): string | undefined {
    let name = sanitizeName(escapeText(m.descriptor.name));
    if (name === '' || name === '_') {
      diag.error(`Normalization for metric "${m.descriptor.name}" resulted in an invalid name: "${name}"`);
      return undefined;
    }
    if (name[0] !== undefined && name[0] >= '0' && name[0] <= '9') name = `_${name}`;
    if (!name.endsWith('_total') && m.dataPointType === DataPointType.SUM && m.isMonotonic) name += '_total';
    return name;
  }

  /** Metrics grouped by exposition name in first-seen order; a TYPE conflict drops the name, as the exporter does. */
  private families(rm: ResourceMetrics): Map<string, Family> {
    const families = new Map<string, Family>();
    const conflicts = new Set<string>();
    for (const scope of rm.scopeMetrics) {
      for (const metric of scope.metrics) {
        const name = this.metricName(metric);
        if (name === undefined) continue;
        const type = prometheusType(metric);
        const family = families.get(name);
        if (family === undefined) {
          families.set(name, { metadata: { help: metric.descriptor.description, unit: metric.descriptor.unit, type }, metrics: [metric] });
        } else if (family.metadata !== undefined) {
          if (family.metadata.type !== type) {
            this.conflict(conflicts, 'TYPE', name, family.metadata.type, type, undefined);
            family.metadata = undefined;
            family.metrics = [];
          } else {
            family.metrics.push(metric);
          }
        }
      }
    }
    for (const [name, family] of families) {
      const meta = family.metadata;
      if (meta === undefined) continue;
      for (const { descriptor } of family.metrics) {
        if (descriptor.description) {
          if (!meta.help) meta.help = descriptor.description;
          else if (meta.help !== descriptor.description)
            this.conflict(conflicts, 'HELP', name, meta.help, descriptor.description, meta.help);
        }
        if (descriptor.unit) {
          if (!meta.unit) meta.unit = descriptor.unit;
          else if (meta.unit !== descriptor.unit) this.conflict(conflicts, 'UNIT', name, meta.unit, descriptor.unit, meta.unit);
        }
      }
    }
    this.previousConflicts = conflicts;
    return families;
  }

  private conflict(current: Set<string>, kind: string, name: string, first: string, second: string, selected: string | undefined): void {
    const key = `${kind}:${name}:${selected ?? ''}`;
    if (current.has(key)) return;
    current.add(key);
    if (this.previousConflicts.has(key)) return;
    const values = `${JSON.stringify(first)}, ${JSON.stringify(second)}`;
    if (selected === undefined) diag.warn(`Conflicting ${kind} comments for metric "${name}": ${values}; dropping the metric.`);
    else diag.warn(`Conflicting ${kind} comments for metric "${name}": ${values}; exporting ${JSON.stringify(selected)}.`);
  }
}

/** Answers a GET /metrics as the exporter's own handler does (200, text/plain), with the text written by `text`. */
export function serveMetrics(exporter: PrometheusExporter, text: PrometheusText, res: ServerResponse): void {
  res.statusCode = 200;
  res.setHeader('content-type', 'text/plain');
  exporter.collect().then(
    ({ resourceMetrics, errors }) => {
      if (errors.length > 0) diag.error('PrometheusExporter: metrics collection errors', ...errors);
      res.end(text.serialize(resourceMetrics));
    },
    (err: unknown) => res.end(`# failed to export metrics: ${String(err)}`),
  );
}
