// Exponential backoff between restarts of a failed watch: doubles up to a
// ceiling, back to the start once a restart has succeeded.
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

export class Backoff {
  private nextMs: number;

  constructor(private readonly opts: BackoffOptions = DEFAULT_BACKOFF) {
    if (!(opts.initialMs > 0) || opts.maxMs < opts.initialMs) {
      throw new Error(`invalid backoff: initialMs ${opts.initialMs}, maxMs ${opts.maxMs}`);
    }
    this.nextMs = opts.initialMs;
  }

  /** The delay to wait now; the one after it is twice as long (up to maxMs). */
  next(): number {
    const delay = this.nextMs;
    this.nextMs = Math.min(this.nextMs * 2, this.opts.maxMs);
    return delay;
  }

  reset(): void {
    this.nextMs = this.opts.initialMs;
  }
}
