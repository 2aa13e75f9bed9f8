// The last N drop events (default 10,000) and the readers following new ones.
// Each follower has a bounded queue of its own: a slow or stuck reader never
// holds up the agent or another reader; when its queue is full it skips
// ahead (the oldest queued events go) and is told how many it missed.
import type { DropEvent } from './drop-event.js';
import { type DropEventFilter, matches } from './event-filter.js';

export const DEFAULT_EVENT_BUFFER = 10_000;
// Queues hold references to events the buffer holds anyway: 8 bytes each.
export const DEFAULT_FOLLOWER_QUEUE = 10_000;

/** What a follower is handed: events, or how many it missed. */
export type FollowItem = { event: DropEvent } | { skipped: number };

export interface Follower {
  /** Takes everything queued (the skip notice first, where there is one). */
  drain(): FollowItem[];
  close(): void;
}

interface FollowerState {
  filter: DropEventFilter;
  queue: DropEvent[];
  skipped: number;
  limit: number;
  wake: () => void;
}

export class DropEventBuffer {
  private readonly ring: DropEvent[] = [];
  private start = 0;
  private readonly followers = new Set<FollowerState>();
  /** Events ever added. */
  added = 0;

  constructor(readonly capacity = DEFAULT_EVENT_BUFFER) {}

  push(events: readonly DropEvent[]): void {
    for (const e of events) {
      if (this.ring.length < this.capacity) {
        this.ring.push(e);
      } else {
        this.ring[this.start] = e;
        this.start = (this.start + 1) % this.capacity;
      }
      this.added++;
      for (const f of this.followers) {
        if (!matches(e, f.filter)) continue;
        // A full queue is offered to its reader first: only one that cannot
        // take it (its socket is full) skips ahead.
        if (f.queue.length >= f.limit) f.wake();
        f.queue.push(e);
        if (f.queue.length > f.limit) {
          f.queue.shift();
          f.skipped++;
        }
      }
    }
    if (events.length > 0) for (const f of this.followers) if (f.queue.length > 0 || f.skipped > 0) f.wake();
  }

  /** The buffered events that match, oldest first. */
  recent(filter: DropEventFilter): DropEvent[] {
    const ordered = [...this.ring.slice(this.start), ...this.ring.slice(0, this.start)];
    return ordered.filter((e) => matches(e, filter));
  }

  get size(): number {
    return this.ring.length;
  }

  /** Follows new events; `wake` is called (synchronously) when there is something to drain. */
  follow(filter: DropEventFilter, wake: () => void, limit = DEFAULT_FOLLOWER_QUEUE): Follower {
    const state: FollowerState = { filter, queue: [], skipped: 0, limit, wake };
    this.followers.add(state);
    return {
      drain: () => {
        const items: FollowItem[] = state.skipped > 0 ? [{ skipped: state.skipped }] : [];
        state.skipped = 0;
        for (const event of state.queue.splice(0)) items.push({ event });
        return items;
      },
      close: () => {
        this.followers.delete(state);
      },
    };
  }

  get followerCount(): number {
    return this.followers.size;
  }
}
