// bpf/forward.bpf.o: the tc programs counting per-pod traffic.
import { MAP_NAMES } from './contract.js';
import { bpfObjectPath } from './kernel-drop-program.js';
import type { BpfMap } from './map.js';
import { BpfObject } from './object.js';
import type { TcPrograms } from './tc-attach.js';

export class ForwardProgram {
  private constructor(private readonly obj: BpfObject) {}

  static load(pinDir: string, onLayoutChange?: (map: string) => void): ForwardProgram {
    return new ForwardProgram(BpfObject.load(bpfObjectPath('forward.bpf.o'), pinDir, onLayoutChange));
  }

  get programs(): TcPrograms {
    return { ingress: this.obj.programFd('count_host_ingress'), egress: this.obj.programFd('count_host_egress') };
  }

  get counts(): BpfMap {
    return this.obj.map(MAP_NAMES.forwardCounts);
  }

  close(): void {
    this.obj.close();
  }
}
