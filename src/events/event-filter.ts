// Which drop events a reader wants: by pod (either end), reason, direction
// and time. Shared by the API (query parameters) and the buffer.
import { durationMs } from '../duration.js';
import type { DropEvent } from './drop-event.js';

export interface DropEventFilter {
  namespace?: string;
  /** Matches a pod at either end (with namespace, the same end). */
  pod?: string;
  reason?: string;
  direction?: string;
  /** Only events at or after this Unix time, in ns. */
  sinceUnixNano?: bigint;
}

export function matches(e: DropEvent, f: DropEventFilter): boolean {
  if (f.reason !== undefined && e.reason !== f.reason) return false;
  if (f.direction !== undefined && e.direction !== f.direction) return false;
  if (f.sinceUnixNano !== undefined && BigInt(e.timeUnixNano) < f.sinceUnixNano) return false;
  if (f.namespace === undefined && f.pod === undefined) return true;
  return [e.source, e.destination].some(
    (p) => p.pod !== undefined && (f.namespace === undefined || p.namespace === f.namespace) && (f.pod === undefined || p.pod === f.pod),
  );
}

export class FilterError extends Error {}

/**
 * A filter from URL query parameters: namespace, pod, reason, direction,
 * since (an RFC 3339 time, or a duration back from now such as 30s or 1m30s).
 */
export function filterFromQuery(query: URLSearchParams, nowMs = Date.now()): DropEventFilter {
  const known = new Set(['namespace', 'pod', 'reason', 'direction', 'since', 'follow']);
  for (const key of query.keys())
    if (!known.has(key)) throw new FilterError(`unknown parameter ${key} (namespace, pod, reason, direction, since, follow)`);
  const f: DropEventFilter = {};
  const get = (k: string) => query.get(k) ?? undefined;
  if (get('namespace')) f.namespace = get('namespace');
  if (get('pod')) f.pod = get('pod');
  if (get('reason')) f.reason = get('reason');
  const direction = get('direction');
  if (direction) {
    if (!['ingress', 'egress', 'unknown'].includes(direction))
      throw new FilterError(`direction ${direction} is not ingress, egress or unknown`);
    f.direction = direction;
  }
  const since = get('since');
  if (since) {
    const back = durationMs(since);
    const ms = back !== undefined ? nowMs - back : Date.parse(since);
    if (!Number.isFinite(ms)) throw new FilterError(`since ${since} is neither an RFC 3339 time nor a duration such as 30s or 1m30s`);
    f.sinceUnixNano = BigInt(Math.floor(ms)) * 1_000_000n;
  }
  return f;
}
