// GET /api/v1/drops: the recent drop events as NDJSON, one event per line;
// with ?follow=1 the response stays open and new events follow as they come.
// Filters: namespace, pod, reason, direction, since (see event-filter.ts).
// A reader that reads slowly, or not at all, holds up no one and costs a
// bounded amount: at most MAX_PENDING_BYTES written but not yet sent (the
// buffered events are written as the socket drains, not as one string), then
// a follower's bounded queue, and past that it skips ahead with one line
// {"skipped":N} saying how many it missed. At most MAX_FOLLOWERS follow at once.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DropEventBuffer, FollowItem } from '../../events/event-buffer.js';
import { filterFromQuery, FilterError } from '../../events/event-filter.js';

export const DROPS_PATH = '/api/v1/drops';
/** Bytes a reader may have written but unsent before its events wait (in the buffer or its queue). */
export const MAX_PENDING_BYTES = 1 << 20;
/** Followers at once: each may hold MAX_PENDING_BYTES and a queue of event references. */
export const MAX_FOLLOWERS = 16;
/** Events per write while sending the buffered ones. */
const WRITE_BATCH = 256;

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
  if (follow && buffer.followerCount >= MAX_FOLLOWERS) {
    res
      .writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' })
      .end(`${MAX_FOLLOWERS} readers already follow the drop events; try again later\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  // Following starts with what is new unless `since` asks for the past too.
  const past = !follow || filter.sinceUnixNano !== undefined ? buffer.recent(filter) : [];
  let sent = 0;
  // Followed events wait in the follower's queue while the buffered ones go out.
  const follower = follow ? buffer.follow(filter, () => flush()) : undefined;
  const flush = () => {
    while (res.writableLength < MAX_PENDING_BYTES && !res.destroyed) {
      if (sent < past.length) {
        const batch = past.slice(sent, sent + WRITE_BATCH);
        sent += batch.length;
        res.write(batch.map((event) => line({ event })).join(''));
        continue;
      }
      if (!follower) {
        res.end();
        return;
      }
      const items = follower.drain();
      if (items.length === 0) return;
      res.write(items.map(line).join(''));
    }
  };
  res.on('drain', flush);
  if (follower) {
    res.flushHeaders();
    const stop = () => follower.close();
    req.on('close', stop);
    res.on('close', stop);
  }
  flush();
}
