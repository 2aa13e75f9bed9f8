// bpf/tcp.bpf.o: the TCP tracepoints counting retransmissions and resets per pod.
import { MAP_NAMES } from './contract.js';
import { bpfObjectPath } from './kernel-drop-program.js';
import type { BpfMap } from './map.js';
import { BpfObject } from './object.js';
import { tracepointArgCount } from './kernel-functions.js';

/** The two variants of the retransmission program: by whether tcp_retransmit_skb passes err (6.16+). */
const RETRANSMIT = { noErr: 'count_tcp_retransmit', err: 'count_tcp_retransmit_err' } as const;
/** The programs every kernel loads: SYN-ACK retransmissions (the same family as the others) and resets. */
const ALWAYS = ['count_tcp_retransmit_synack', 'count_tcp_reset_sent', 'count_tcp_reset_received'] as const;

export class TcpProgram {
  private constructor(
    private readonly obj: BpfObject,
    private readonly retransmit: string,
  ) {}

  /** Loads the object, reusing the maps pinned in pinDir (the endpoints of drops.bpf.o). Does not attach yet. */
  static load(pinDir: string, onLayoutChange?: (map: string) => void): TcpProgram {
    const withErr = (tracepointArgCount('tcp_retransmit_skb') ?? 0) >= 3;
    const [load, leave] = withErr ? [RETRANSMIT.err, RETRANSMIT.noErr] : [RETRANSMIT.noErr, RETRANSMIT.err];
    return new TcpProgram(BpfObject.load(bpfObjectPath('tcp.bpf.o'), pinDir, onLayoutChange, [leave]), load);
  }

  attach(): void {
    for (const name of [this.retransmit, ...ALWAYS]) this.obj.attach(name);
  }

  get counts(): BpfMap {
    return this.obj.map(MAP_NAMES.tcpCounts);
  }

  close(): void {
    this.obj.close();
  }
}
