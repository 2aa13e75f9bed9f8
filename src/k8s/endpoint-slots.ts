// Pod IP -> endpoint slot (the BPF endpoints map) and slot -> {namespace,
// pod} (for labels), kept from the pod watch.
//
// Slot lifecycle, so that no count is lost or given to the wrong pod:
//   upsert   a pod gets a free slot (or, after a restart, the slot its IP
//            already has in the pinned map, so its counters continue);
//   delete   its IPs leave the endpoints map at once (no new counts), but the
//            slot and its labels stay for a grace period, so its final counts
//            are published;
//   expire   after the grace period the caller zeroes the slot's counters and
//            release() makes it free again: a new pod never inherits counts.
// A pod that finds no free slot is counted as unattributed and reported.
import { encodeEndpointAddr, encodeEndpointName, ENDPOINT_ADDR_SIZE, ENDPOINT_SLOTS, type EndpointSlot } from '../bpf/contract.js';
import type { DropCacheGeneration } from '../bpf/drop-cache.js';
import { lookupAll, type MapAccess, u32Key } from '../bpf/map.js';
import { NO_POD_LABELS, type PodLabelResolver, type PodLabels } from './pod-labels.js';
import type { Logger } from '../log/logger.js';
import { EVERY_NAMESPACE, type NamespaceFilter } from './namespace-filter.js';
import type { PodEndpoint } from './pod-endpoint.js';

interface SlotEntry {
  slot: EndpointSlot;
  uid: string;
  labels: PodLabels;
  ips: string[];
  deletedAt?: number;
}

export interface EndpointMaps {
  endpoints: MapAccess;
  names: MapAccess;
  /** Bumped after every change of `endpoints`: the drop program caches attributions. */
  cacheGeneration: DropCacheGeneration;
}

export class EndpointSlots implements PodLabelResolver {
  private readonly bySlot = new Map<EndpointSlot, SlotEntry>();
  private readonly byUid = new Map<string, SlotEntry>();
  /** Which slot each address in the endpoints map points at (by addrKey). */
  private readonly ipOwner = new Map<string, EndpointSlot>();
  /** Slots found in the pinned map at start, not yet claimed by a pod (by addrKey). */
  private readonly restored = new Map<string, EndpointSlot>();
  private free: EndpointSlot[] = [];
  /** Pods that found no free slot, placed as soon as one is released. */
  private readonly waiting = new Map<string, PodEndpoint>();

  constructor(
    private readonly maps: EndpointMaps,
    readonly capacity: number,
    private readonly graceMs: number,
    private readonly log: Logger,
    private readonly namespaces: NamespaceFilter = EVERY_NAMESPACE,
  ) {}

  /**
   * Reads the pinned endpoints map of an earlier run: those IPs keep their
   * slots until the first sync says whose they are (see claimRestored).
   */
  restore(): void {
    const { count, keys, values } = lookupAll(this.maps.endpoints, ENDPOINT_ADDR_SIZE, 4, this.capacity * 2);
    for (let i = 0; i < count; i++) {
      const addr = Buffer.from(keys.subarray(i * ENDPOINT_ADDR_SIZE, (i + 1) * ENDPOINT_ADDR_SIZE));
      const slot = values.readUInt32LE(i * 4) as EndpointSlot;
      if (slot < this.capacity) {
        this.restored.set(addr.toString('hex'), slot);
        this.ipOwner.set(addr.toString('hex'), slot);
      } else {
        this.maps.endpoints.delete(addr); // beyond a smaller --max-endpoints
        this.maps.cacheGeneration.bump();
      }
    }
    const taken = new Set(this.restored.values());
    for (let s = this.capacity - 1; s >= 0; s--) if (!taken.has(s as EndpointSlot)) this.free.push(s as EndpointSlot);
  }

  /** Slots no pod holds (none of them counts: no address points at them). */
  freeSlots(): readonly EndpointSlot[] {
    return [...this.free];
  }

  get used(): number {
    return this.capacity - this.free.length;
  }

  labelsOf(slot: EndpointSlot): PodLabels | undefined {
    return this.bySlot.get(slot)?.labels;
  }

  /** A deleted pod's addresses are unmapped at once, so they name no pod (another may take them). */
  labelsOfAddress(address: string): PodLabels | undefined {
    const slot = this.ipOwner.get(addrKey(address));
    const entry = slot === undefined ? undefined : this.bySlot.get(slot);
    return entry?.deletedAt === undefined ? entry?.labels : undefined;
  }

  upsert(pod: PodEndpoint): void {
    if (pod.hostNetwork || pod.ips.length === 0 || !this.namespaces.admits(pod.namespace)) {
      // hostNetwork pods share the node's IPs: they are not endpoints. Pods
      // of filtered-out namespaces are not either: node-level counts.
      if (this.byUid.has(pod.uid)) this.delete(pod);
      return;
    }
    let entry = this.byUid.get(pod.uid);
    if (entry?.deletedAt !== undefined) entry = undefined; // a deleted uid does not come back
    if (!entry) {
      const slot = this.claimSlot(pod);
      if (slot === undefined) {
        if (!this.waiting.has(pod.uid)) {
          this.log.warn(
            { namespace: pod.namespace, pod: pod.name, capacity: this.capacity },
            "no free endpoint slot: the pod's traffic is counted as unattributed (raise --max-endpoints)",
          );
        }
        this.waiting.set(pod.uid, pod);
        return;
      }
      this.waiting.delete(pod.uid);
      entry = { slot, uid: pod.uid, labels: labelsOf(pod), ips: [] };
      this.bySlot.set(slot, entry);
      this.byUid.set(pod.uid, entry);
      this.maps.names.update(u32Key(slot), encodeEndpointName(pod.namespace, pod.name));
    }
    // Owners can change while a pod lives (adopted, orphaned).
    if (entry.labels.workload !== pod.workload.name || entry.labels.workloadKind !== pod.workload.kind) entry.labels = labelsOf(pod);
    for (const ip of entry.ips) if (!pod.ips.includes(ip)) this.unmapIp(ip, entry.slot);
    let changed = false;
    for (const ip of pod.ips) {
      const addr = encodeEndpointAddr(ip);
      const key = addr.toString('hex');
      if (this.ipOwner.get(key) !== entry.slot || this.restored.has(key)) {
        this.maps.endpoints.update(addr, u32Key(entry.slot));
        changed = true;
      }
      this.ipOwner.set(key, entry.slot);
      this.restored.delete(key);
    }
    if (changed) this.maps.cacheGeneration.bump();
    entry.ips = [...pod.ips];
  }

  /** Pods waiting for a free slot. */
  get unplaced(): number {
    return this.waiting.size;
  }

  delete(pod: PodEndpoint): void {
    this.waiting.delete(pod.uid);
    const entry = this.byUid.get(pod.uid);
    if (!entry || entry.deletedAt !== undefined) return;
    for (const ip of entry.ips) this.unmapIp(ip, entry.slot);
    entry.deletedAt = Date.now();
  }

  /**
   * After the first full sync: slots of the pinned map that no current pod
   * claimed belonged to pods deleted while the agent was down. Their IPs go,
   * and their slots expire like a deleted pod's.
   */
  releaseUnclaimed(): void {
    for (const [key, slot] of this.restored) {
      this.unmapAddr(key, slot);
      if (!this.bySlot.has(slot)) {
        const entry: SlotEntry = {
          slot,
          uid: `restored:${slot}`,
          labels: { ...NO_POD_LABELS, uid: `restored:${slot}` },
          ips: [],
          deletedAt: 0,
        };
        this.bySlot.set(slot, entry);
        this.byUid.set(entry.uid, entry);
      }
    }
    this.restored.clear();
  }

  /** Slots whose grace period is over: zero their counters, then release(). */
  expired(now = Date.now()): EndpointSlot[] {
    return [...this.bySlot.values()].filter((e) => e.deletedAt !== undefined && now - e.deletedAt >= this.graceMs).map((e) => e.slot);
  }

  /** Returns a zeroed slot to the free list. */
  release(slot: EndpointSlot): void {
    const entry = this.bySlot.get(slot);
    if (!entry) return;
    this.bySlot.delete(slot);
    // The uid may have a newer slot by now (its IPs went and came back).
    if (this.byUid.get(entry.uid) === entry) this.byUid.delete(entry.uid);
    this.maps.names.update(u32Key(slot), encodeEndpointName('', ''));
    this.free.push(slot);
    const next = this.waiting.values().next();
    if (!next.done) this.upsert(next.value);
  }

  private claimSlot(pod: PodEndpoint): EndpointSlot | undefined {
    for (const ip of pod.ips) {
      const slot = this.restored.get(addrKey(ip));
      if (slot !== undefined && !this.bySlot.has(slot)) return slot;
    }
    return this.free.pop();
  }

  private unmapIp(ip: string, slot: EndpointSlot): void {
    this.unmapAddr(addrKey(ip), slot);
  }

  private unmapAddr(key: string, slot: EndpointSlot): void {
    // Another pod may hold this IP already (a new pod created before the old one's delete).
    if (this.ipOwner.get(key) !== slot) return;
    this.maps.endpoints.delete(Buffer.from(key, 'hex'));
    this.ipOwner.delete(key);
    this.maps.cacheGeneration.bump();
  }
}

function labelsOf(pod: PodEndpoint): PodLabels {
  return { namespace: pod.namespace, pod: pod.name, workload: pod.workload.name, workloadKind: pod.workload.kind, uid: pod.uid };
}

/** One spelling per address (IPv6 can be written many ways): its bytes in hex. */
function addrKey(ip: string): string {
  return encodeEndpointAddr(ip).toString('hex');
}

/** Empties the endpoint maps (running without Kubernetes: no pod is known). */
export function forgetEndpoints(maps: EndpointMaps): void {
  const { count, keys } = lookupAll(maps.endpoints, ENDPOINT_ADDR_SIZE, 4, ENDPOINT_SLOTS);
  for (let i = 0; i < count; i++) maps.endpoints.delete(Buffer.from(keys.subarray(i * ENDPOINT_ADDR_SIZE, (i + 1) * ENDPOINT_ADDR_SIZE)));
  if (count > 0) maps.cacheGeneration.bump();
  const empty = encodeEndpointName('', '');
  for (let slot = 0; slot < ENDPOINT_SLOTS; slot++) maps.names.update(u32Key(slot as EndpointSlot), empty);
}
