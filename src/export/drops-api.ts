// GET /api/v1/drops: the recent drop events as NDJSON, one event per line;
// with ?follow=1 the response stays open and new events follow as they come.
// Filters: namespace, pod, reason, direction, since (see event-filter.ts).
// A follower that reads slowly, or not at all, holds up no one: the socket's
// own buffer, up to MAX_PENDING_BYTES written but not yet sent, then the
// follower's bounded queue take up the slack, and past that it skips ahead
// with one line {"skipped":N} saying how many it missed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DropEventBuffer, FollowItem } from '../events/event-buffer.js';
import { filterFromQuery, FilterError } from '../events/event-filter.js';

export const DROPS_PATH = '/api/v1/drops';
/** Bytes a follower may have written but unsent before its events wait in its queue. */
export const MAX_PENDING_BYTES = 1 << 20;

const line = (item: FollowItem | object) => `${JSON.stringify('event' in item ? item.event : item)}\n`;

export function serveDrops(req: IncomingMessage, res: ServerResponse, buffer: DropEventBuffer): void {
  const query = new URL(req.url ?? '/', 'http://agent').searchParams;
  let filter;
  try {
    filter = filterFromQuery(query);
  } catch (err) {
    if (!(err instanceof FilterError)) throw err;
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`${err.message}\n`);
    return;
  }
  const follow = ['1', 'true'].includes(query.get('follow') ?? '');
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  // Following starts with what is new unless `since` asks for the past too.
  const past = !follow || filter.sinceUnixNano !== undefined ? buffer.recent(filter) : [];
  const head = past.map((event) => line({ event })).join('');
  if (!follow) {
    res.end(head);
    return;
  }
  res.flushHeaders();
  if (head.length > 0) res.write(head);
  const flush = () => {
    while (res.writableLength < MAX_PENDING_BYTES) {
      const items = follower.drain();
      if (items.length === 0) return;
      res.write(items.map(line).join(''));
    }
  };
  const follower = buffer.follow(filter, flush);
  res.on('drain', flush);
  const stop = () => follower.close();
  req.on('close', stop);
  res.on('close', stop);
}
