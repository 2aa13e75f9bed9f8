// The layout of Cilium's metrics map (cilium_metrics, pinned by Cilium at
// /sys/fs/bpf/tc/globals/cilium_metrics): a per-CPU hash, 1024 entries,
// BPF_F_NO_PREALLOC. Facts from Cilium's bpf/lib/common.h (struct
// metrics_key, struct metrics_value), bpf/lib/metrics.h and
// pkg/maps/metricsmap/metricsmap.go.
//
//   key, 8 bytes                        value, 16 bytes per possible CPU
//   0  u8  reason  0 forwarded,         0  u64 count (packets)
//                  else -(DROP_*)       8  u64 bytes
//   1  u8  dir:2   0 unknown, 1 ingress, 2 egress, 3 service (pad:6 above)
//   2  u16 line    __MAGIC_LINE__  } Cilium 1.16+; before, these bytes
//   4  u8  file    __MAGIC_FILE__  } were u16 reserved[3], always 0,
//   5  u8  reserved[3]             } so one decoder reads both layouts
//                                    (old keys decode as line 0, file 0).
//
// The value is the agent's own `struct counter` layout, so PerCpuCells.counter sums it.

export const CILIUM_METRICS_MAP_TYPE = 5; // BPF_MAP_TYPE_PERCPU_HASH
export const CILIUM_METRICS_KEY_SIZE = 8;
export const CILIUM_METRICS_VALUE_SIZE = 16;

/** Direction names as Cilium prints them (metricsmap direction table). */
export const CILIUM_DIRECTIONS = ['UNKNOWN', 'INGRESS', 'EGRESS', 'SERVICE'] as const;
export type CiliumDirection = (typeof CILIUM_DIRECTIONS)[number];

export interface CiliumMetricsKey {
  /** Reason code: 0 forwarded, else a REASON_* or -(DROP_*) value. */
  reason: number;
  direction: CiliumDirection;
  /** Source line of the counting statement; 0 before Cilium 1.16. */
  line: number;
  /** Source file id (see source-files.ts); 0 before Cilium 1.16. */
  file: number;
}

export function decodeCiliumMetricsKey(buf: Buffer, offset = 0): CiliumMetricsKey {
  return {
    reason: buf.readUInt8(offset),
    direction: CILIUM_DIRECTIONS[buf.readUInt8(offset + 1) & 0b11] ?? 'UNKNOWN',
    line: buf.readUInt16LE(offset + 2),
    file: buf.readUInt8(offset + 4),
  };
}
