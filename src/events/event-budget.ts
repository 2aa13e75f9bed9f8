// The node's drop event budget (--drop-events-rate), moved at every refill to
// the CPUs that are dropping.
//
// Why this design: the kernel keeps a budget per CPU (drop_event_tokens,
// granted by the agent; drop_event_spent, counted by the CPU), so a drop pays
// for the rate limit with a few per-CPU loads and stores, no atomics and no
// cache line shared between CPUs (a single node-wide bucket would take an
// atomic decrement on one line from every CPU of a storm). The kernel also
// counts per CPU what it sent (spent) and refused (drop_event_lost[rate]), so
// the agent, which refills every ~100 ms anyway, knows each CPU's demand of
// the last interval and gives the node's budget to where the drops are: a
// storm on one CPU of 64 gets the node's whole rate, not 1/64 of it.
//
// The bound: the node's budget is one token bucket of `rate` per second that
// holds at most `burst` (one second's worth). Whatever is granted to a CPU and
// not yet spent stays in that bucket (the agent re-divides it at every refill,
// taking back from CPUs that did not use it), so over any T seconds the node
// sends at most burst + rate × T events, however the drops spread over CPUs.
// Each refill divides the whole unspent budget:
//   1. every CPU wants at least a small reserve (burst / 2 / CPUs), so the
//      first drops of a new storm anywhere get events before the agent has
//      seen it; all reserves together are at most half the burst;
//   2. and as many as it sent plus was refused in the last interval;
//   3. wants are met max-min fair: CPUs that want little get all of it, those
//      that want more share the rest equally (a storm on every CPU splits the
//      rate evenly);
//   4. what no CPU wants goes evenly to all, as headroom until the next refill.
// In a storm on one CPU the others keep only what they held, so everything
// the bucket earns goes to the storm: it gets the full rate.

/** One CPU as the agent saw it at a refill. */
export interface CpuEventUse {
  /** Granted and not yet spent (negative if the CPU spent while the agent re-divided: a debt, repaid first). */
  unspent: number;
  /** Events sent plus events refused for want of budget since the last refill. */
  demand: number;
}

export class EventBudget {
  /** The most the node's bucket holds: one second of the rate. */
  readonly burst: number;
  /** What every CPU is offered at least, so a new storm's first drops get events. */
  readonly reserve: number;
  /** A fraction of an event earned and not yet granted. */
  private carry = 0;

  constructor(
    /** Events per second for the node (> 0). */
    readonly rate: number,
    /** CPUs the kernel keeps a budget for (possible CPUs). */
    readonly cpus: number,
  ) {
    this.burst = Math.max(1, Math.ceil(rate));
    this.reserve = Math.floor(this.burst / 2 / cpus);
  }

  /** The budget of a fresh start: the full bucket, divided as if no CPU had dropped yet. */
  initial(): number[] {
    this.carry = 0;
    return divide(
      this.burst,
      Array.from({ length: this.cpus }, () => this.reserve),
    );
  }

  /**
   * What each CPU may send from now on (its new unspent budget), after
   * `elapsedMs` since the last refill: the bucket earns rate × elapsed, never
   * holds more than `burst`, and is divided again as the header says.
   */
  next(elapsedMs: number, use: readonly CpuEventUse[]): number[] {
    let unspent = 0;
    for (const c of use) unspent += c.unspent;
    const budget = Math.max(0, Math.min(this.burst, unspent + this.carry + (this.rate * Math.max(0, elapsedMs)) / 1000));
    const whole = Math.floor(budget);
    this.carry = budget - whole;
    return divide(
      whole,
      use.map((c) => Math.max(this.reserve, c.demand)),
    );
  }
}

/**
 * Divides `whole` events over CPUs by what they want: max-min fair (the
 * smallest wants are met first, the rest shared equally by those wanting
 * more), then what is left evenly over all, the odd ones to the CPUs that
 * wanted most. Every event of `whole` is given out.
 */
export function divide(whole: number, wants: readonly number[]): number[] {
  const n = wants.length;
  const out: number[] = new Array<number>(n).fill(0);
  const want = (cpu: number) => wants[cpu] ?? 0;
  const smallestFirst = [...wants.keys()].sort((a, b) => want(a) - want(b));
  let left = whole;
  smallestFirst.forEach((cpu, k) => {
    const give = Math.min(want(cpu), Math.floor(left / (n - k)));
    out[cpu] = give;
    left -= give;
  });
  const each = Math.floor(left / n);
  left -= each * n;
  for (let k = n - 1; k >= 0; k--) {
    const cpu = smallestFirst[k] ?? 0;
    out[cpu] = (out[cpu] ?? 0) + each + (left > 0 ? 1 : 0);
    if (left > 0) left--;
  }
  return out;
}
