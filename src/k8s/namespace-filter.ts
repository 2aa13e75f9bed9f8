// --namespaces / --exclude-namespaces: which pods get endpoint slots. A pod
// filtered out is no endpoint, so its traffic and drops are counted in the
// node-level series (no pod labels): node totals stay honest, and its labels
// never reach Prometheus.
import { globMatcher } from '../glob.js';

export class NamespaceFilter {
  private readonly included: ((name: string) => boolean) | undefined;
  private readonly excluded: ((name: string) => boolean) | undefined;

  /** include undefined: every namespace; exclude wins over include. */
  constructor(include: readonly string[] | undefined, exclude: readonly string[] | undefined) {
    this.included = include && include.length > 0 ? globMatcher(include) : undefined;
    this.excluded = exclude && exclude.length > 0 ? globMatcher(exclude) : undefined;
  }

  admits(namespace: string): boolean {
    if (this.excluded?.(namespace)) return false;
    return this.included === undefined || this.included(namespace);
  }
}

/** Every pod has a slot. */
export const EVERY_NAMESPACE = new NamespaceFilter(undefined, undefined);
