// client-node's ListWatch.stop() aborts only a watch whose response headers
// have already arrived; a watch still connecting at that moment lives on after
// the stop, holding a connection (and, while events flow, for good). This
// Watch remembers every request it starts, and close() ends them all,
// including ones that connect afterwards. It also tells when a watch is
// established (the server answered 200), the sign that the API is healthy.
import { Watch, type KubeConfig } from '#kubernetes-client';

type WatchArgs = Parameters<Watch['watch']>;

export class ClosableWatch extends Watch {
  private readonly open = new Set<AbortController>();
  private closed = false;

  constructor(
    config: KubeConfig,
    private readonly onEstablished: () => void = () => {},
  ) {
    super(config);
  }

  override async watch(...[path, queryParams, callback, done]: WatchArgs): Promise<AbortController> {
    if (this.closed) {
      // Never connect once closed; an aborted controller is all ListWatch needs.
      const controller = new AbortController();
      controller.abort();
      return controller;
    }
    let finished = false;
    const controller = await super.watch(path, queryParams, callback, (err: unknown) => {
      finished = true;
      done(err);
    });
    if (this.closed) {
      controller.abort();
    } else if (!finished) {
      this.open.add(controller);
      controller.signal.addEventListener('abort', () => this.open.delete(controller), { once: true });
      this.onEstablished();
    }
    return controller;
  }

  close(): void {
    this.closed = true;
    for (const controller of this.open) controller.abort();
    this.open.clear();
  }
}
