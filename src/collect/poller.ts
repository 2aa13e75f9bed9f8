// One poll cycle: every counter source read once; a failing source is
// reported and skipped, never stopping the others.
import type { Logger } from '../log/logger.js';
import type { CounterSource, DatapathRow } from './rows.js';

export interface PollResult {
  rows: DatapathRow[];
  failed: string[];
  seconds: number;
}

export class Poller {
  private readonly lastRows = new Map<string, DatapathRow[]>();

  constructor(
    private readonly sources: CounterSource[],
    private readonly log: Logger,
  ) {}

  poll(): PollResult {
    const start = process.hrtime.bigint();
    const failed: string[] = [];
    for (const source of this.sources) {
      try {
        this.lastRows.set(source.name, source.read());
      } catch (err) {
        // Keep the source's last rows: a read error is not a counter reset.
        failed.push(source.name);
        this.log.warn({ source: source.name, err: String(err) }, 'reading counters failed');
      }
    }
    const rows = [...this.lastRows.values()].flat();
    return { rows, failed, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
  }
}
