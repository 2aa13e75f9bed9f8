// Exponential backoff between retries (a failed pod watch, a failed tc
// attachment): doubles up to a ceiling, back to the start once a retry has
// succeeded. Each delay is spread by ±20 %, so that the agents of every node,
// failed together (an API server restart), do not all retry in one instant.
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

  /** The delay to wait now (±20 %); the one after it is twice as long (up to maxMs). */
  next(): number {
    const delay = this.nextMs * (0.8 + 0.4 * Math.random());
    this.nextMs = Math.min(this.nextMs * 2, this.opts.maxMs);
    return Math.round(delay);
  }

  reset(): void {
    this.nextMs = this.opts.initialMs;
  }
}
