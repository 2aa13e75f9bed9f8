// One poll cycle: every counter source read once; a failing source is
// reported and skipped, never stopping the others. Generic over what a
// source reads (datapath rows, node loss samples): both kinds fail alone.
import type { Logger } from '../log/logger.js';
import type { DatapathRow } from './rows.js';

export interface PollResult<Row = DatapathRow> {
  rows: Row[];
  failed: string[];
  seconds: number;
}

/** Anything read once per poll under a name (the `source` of the poll error metric). */
export interface PolledSource<Row> {
  readonly name: string;
  read(): Row[];
}

export class Poller<Row = DatapathRow> {
  private readonly lastRows = new Map<string, Row[]>();
  /** Sources failing since their last good read: logged once per streak, counted every poll. */
  private readonly failing = new Set<string>();

  constructor(
    private readonly sources: ReadonlyArray<PolledSource<Row>>,
    private readonly log: Logger,
  ) {}

  poll(): PollResult<Row> {
    const start = process.hrtime.bigint();
    const failed: string[] = [];
    for (const source of this.sources) {
      try {
        this.lastRows.set(source.name, source.read());
        if (this.failing.delete(source.name)) this.log.info({ source: source.name }, 'reading counters works again');
      } catch (err) {
        // Keep the source's last rows: a read error is not a counter reset.
        failed.push(source.name);
        if (!this.failing.has(source.name)) {
          this.failing.add(source.name);
          this.log.warn(
            { source: source.name, err: String(err) },
            'reading counters failed (logged once until it works again; counted in datapath_exporter_poll_errors_total)',
          );
        }
      }
    }
    const rows = [...this.lastRows.values()].flat();
    return { rows, failed, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
  }
}
