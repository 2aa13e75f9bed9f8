// Which addresses sit behind each pod interface on a Cilium node, from
// Cilium's endpoint map (cilium_lxc): Cilium's default datapath installs no
// route per endpoint and no bridge, so the route/neighbour dumps of
// os/addresses-behind.ts find nothing there, but Cilium keeps this very
// mapping (endpoint address -> its lxc interface). Read-only, like the
// metrics map (pinned-map.ts: absent, re-pinned and refused maps).
import type { BpfMap, MapInfo } from '../../bpf/map.js';
import type { Logger } from '../../log/logger.js';
import type { AddressesBehind } from '../../os/addresses-behind.js';
import {
  CILIUM_ENDPOINT_KEY_SIZE,
  CILIUM_ENDPOINT_VALUE_SIZE,
  CILIUM_ENDPOINTS_MAP_TYPE,
  decodeCiliumEndpoint,
  podInterfaceOf,
} from './endpoint-entry.js';
import { CiliumPinnedMap } from './pinned-map.js';

/**
 * Entries per batch syscall. The map holds up to 65,535 entries; buffers for
 * all of them would be 4.5 MB kept for a map that usually holds a node's
 * pods, so it is read in steps of this many (one syscall per 1,024 entries).
 */
const BATCH = 1024;

export class CiliumEndpointMap {
  private readonly pinned: CiliumPinnedMap<EndpointBatches>;

  /** path: the pinned map, normally CILIUM_ENDPOINTS_PIN. */
  constructor(path: string, log: Logger) {
    this.pinned = new CiliumPinnedMap({
      path,
      name: 'cilium_lxc',
      words: {
        map: "Cilium's endpoint map",
        missing: "pod labels on Cilium's interfaces",
        neverThere:
          "no Cilium endpoint map (Cilium not running on this node?): Cilium's pod interfaces are named by routes or bridges only until it appears",
      },
      layoutProblem,
      reader: (map) => new EndpointBatches(map),
      log,
    });
  }

  /** ifindex -> the pod addresses Cilium put behind it; empty while there is no map (or it is refused). */
  read(): AddressesBehind {
    return this.pinned.current()?.read() ?? new Map();
  }

  close(): void {
    this.pinned.close();
  }
}

class EndpointBatches {
  private readonly keys = Buffer.alloc(CILIUM_ENDPOINT_KEY_SIZE * BATCH);
  private readonly values = Buffer.alloc(CILIUM_ENDPOINT_VALUE_SIZE * BATCH);
  // A hash map's batch cursor is a bucket index.
  private readonly cursor = Buffer.alloc(8);
  private readonly next = Buffer.alloc(8);
  private readonly count: [number] = [0];

  constructor(private readonly map: BpfMap) {}

  read(): AddressesBehind {
    const out = new Map<number, string[]>();
    for (let first = true; ; first = false) {
      this.count[0] = BATCH;
      const more = this.map.lookupBatch(first ? null : this.cursor, this.next, this.keys, this.values, this.count);
      for (let i = 0; i < this.count[0]; i++) {
        const endpoint = decodeCiliumEndpoint(this.keys, i * CILIUM_ENDPOINT_KEY_SIZE, this.values, i * CILIUM_ENDPOINT_VALUE_SIZE);
        const ifindex = endpoint && podInterfaceOf(endpoint);
        if (endpoint === undefined || ifindex === undefined) continue;
        const list = out.get(ifindex);
        if (list) list.push(endpoint.address);
        else out.set(ifindex, [endpoint.address]);
      }
      if (!more) return out;
      this.next.copy(this.cursor);
    }
  }
}

/** Why a map is not Cilium's endpoint map as this reader knows it; undefined when it is. */
function layoutProblem(info: MapInfo): string | undefined {
  if (info.type !== CILIUM_ENDPOINTS_MAP_TYPE) return `map type ${info.type}, expected ${CILIUM_ENDPOINTS_MAP_TYPE} (hash)`;
  if (info.keySize !== CILIUM_ENDPOINT_KEY_SIZE || info.valueSize !== CILIUM_ENDPOINT_VALUE_SIZE) {
    return `key ${info.keySize} B / value ${info.valueSize} B, expected key ${CILIUM_ENDPOINT_KEY_SIZE} B / value ${CILIUM_ENDPOINT_VALUE_SIZE} B (an unknown Cilium layout)`;
  }
  return undefined;
}
