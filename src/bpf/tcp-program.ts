// bpf/tcp.bpf.o: the TCP tracepoints counting retransmissions and resets per pod.
import { MAP_NAMES } from './contract.js';
import { bpfObjectPath } from './kernel-drop-program.js';
import type { BpfMap } from './map.js';
import { BpfObject } from './object.js';
import { kernelHasFunction, tracepointArgCount } from './kernel-functions.js';

/** The two variants of the retransmission program: by whether tcp_retransmit_skb passes err (6.16+). */
const RETRANSMIT = { noErr: 'count_tcp_retransmit', err: 'count_tcp_retransmit_err' } as const;
/** The programs every kernel loads: SYN-ACK retransmissions (the same family as the others) and resets. */
const ALWAYS = ['count_tcp_retransmit_synack', 'count_tcp_reset_sent', 'count_tcp_reset_received'] as const;
/**
 * The resets tcp_send_reset misses where it has no reason argument (before
 * 6.10: it fires only for a full socket), by the kernel function each hooks.
 * Since 6.10 the tracepoint fires for every reset, so these stay unloaded
 * there: nothing is counted twice.
 */
const UNTRACED_RESETS = {
  tcp_v4_send_reset: 'count_tcp_v4_untraced_reset',
  tcp_v6_send_reset: 'count_tcp_v6_untraced_reset',
} as const;

/** The reset programs to load: the untraced-reset hooks only before the reason argument, and only for functions the kernel has. */
export function untracedResetPrograms(
  sendResetArgs: number | undefined,
  hasFunction: (name: string) => boolean,
): { load: string[]; leave: string[] } {
  const load: string[] = [];
  const leave: string[] = [];
  for (const [fn, prog] of Object.entries(UNTRACED_RESETS)) {
    const wanted = sendResetArgs !== undefined && sendResetArgs < 3 && hasFunction(fn);
    (wanted ? load : leave).push(prog);
  }
  return { load, leave };
}

export class TcpProgram {
  private constructor(
    private readonly obj: BpfObject,
    private readonly toAttach: readonly string[],
  ) {}

  /**
   * Loads the object, reusing the maps pinned in pinDir (the endpoints of
   * drops.bpf.o). Does not attach yet. The untraced-reset programs are fentry
   * programs, which some kernels refuse where tracepoints load (arm64 before
   * 6.0 has no BPF trampoline; a kernel built without direct ftrace calls):
   * then the object loads without them and `onResetsRefused` says why, so the
   * rest of the TCP counters still run.
   */
  static load(pinDir: string, onLayoutChange?: (map: string) => void, onResetsRefused?: (err: unknown) => void): TcpProgram {
    const withErr = (tracepointArgCount('tcp_retransmit_skb') ?? 0) >= 3;
    const [load, leave] = withErr ? [RETRANSMIT.err, RETRANSMIT.noErr] : [RETRANSMIT.noErr, RETRANSMIT.err];
    const resets = untracedResetPrograms(tracepointArgCount('tcp_send_reset'), kernelHasFunction);
    const path = bpfObjectPath('tcp.bpf.o');
    if (resets.load.length > 0) {
      try {
        return new TcpProgram(BpfObject.load(path, pinDir, onLayoutChange, [leave, ...resets.leave]), [load, ...ALWAYS, ...resets.load]);
      } catch (err) {
        onResetsRefused?.(err);
      }
    }
    const obj = BpfObject.load(path, pinDir, onLayoutChange, [leave, ...Object.values(UNTRACED_RESETS)]);
    return new TcpProgram(obj, [load, ...ALWAYS]);
  }

  attach(): void {
    for (const name of this.toAttach) this.obj.attach(name);
  }

  get counts(): BpfMap {
    return this.obj.map(MAP_NAMES.tcpCounts);
  }

  close(): void {
    this.obj.close();
  }
}
