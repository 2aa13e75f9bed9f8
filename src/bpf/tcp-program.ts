// bpf/tcp.bpf.o: the TCP tracepoints counting retransmissions and resets per pod.
import { MAP_NAMES } from './contract.js';
import { bpfObjectPath } from './kernel-drop-program.js';
import type { BpfMap } from './map.js';
import { BpfObject } from './object.js';

/** Its programs, each attached to the tracepoint its SEC() names. */
const PROGRAMS = ['count_tcp_retransmit', 'count_tcp_reset_sent', 'count_tcp_reset_received'] as const;

export class TcpProgram {
  private constructor(private readonly obj: BpfObject) {}

  /** Loads the object, reusing the maps pinned in pinDir (the endpoints of drops.bpf.o). Does not attach yet. */
  static load(pinDir: string, onLayoutChange?: (map: string) => void): TcpProgram {
    return new TcpProgram(BpfObject.load(bpfObjectPath('tcp.bpf.o'), pinDir, onLayoutChange));
  }

  attach(): void {
    for (const name of PROGRAMS) this.obj.attach(name);
  }

  get counts(): BpfMap {
    return this.obj.map(MAP_NAMES.tcpCounts);
  }

  close(): void {
    this.obj.close();
  }
}
