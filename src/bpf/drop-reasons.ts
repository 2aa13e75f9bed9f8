// Names of the kernel's drop reasons, read from the running kernel's BTF
// (enum skb_drop_reason), never from a table of ours: a newer kernel's new
// reasons appear by name, and values that shift between kernels stay right.
import { DROP_REASON_ABSENT } from './contract.js';
import { type BtfPtr, libbpf, readMemory } from './libbpf.js';

const BTF_KIND_ENUM = 6;
const BTF_TYPE_SIZE = 12; // struct btf_type: name_off, info, size
const BTF_ENUM_SIZE = 8; // struct btf_enum: name_off, val
const REASON_PREFIX = 'SKB_DROP_REASON_';
const SUBSYS_PREFIX = 'SKB_DROP_REASON_SUBSYS_';
// Since 6.4 a subsystem's own reasons carry the subsystem id in the high 16 bits.
const SUBSYS_SHIFT = 16;

/** A kernel drop reason's name without its SKB_DROP_REASON_ prefix. */
export type DropReason = string & { readonly __brand: 'DropReason' };

export class DropReasonNames {
  private constructor(
    private readonly names: ReadonlyMap<number, DropReason>,
    private readonly subsystems: ReadonlyMap<number, string>,
    /** False when this kernel's BTF has no enum skb_drop_reason (< 5.17). */
    readonly fromKernel: boolean,
  ) {}

  /** Reads the running kernel's enums; an empty table when BTF lacks them. */
  static fromRunningKernel(): DropReasonNames {
    const btf = libbpf.btf__load_vmlinux_btf();
    if (btf === null) return new DropReasonNames(new Map(), new Map(), false);
    try {
      const reasons = readEnum(btf, 'skb_drop_reason', REASON_PREFIX);
      const subsystems = readEnum(btf, 'skb_drop_reason_subsys', SUBSYS_PREFIX);
      return new DropReasonNames(reasons as Map<number, DropReason>, subsystems, reasons.size > 0);
    } finally {
      libbpf.btf__free(btf);
    }
  }

  get size(): number {
    return this.names.size;
  }

  name(value: number): DropReason {
    if (value === DROP_REASON_ABSENT) return 'NOT_SPECIFIED' as DropReason;
    const known = this.names.get(value);
    if (known !== undefined) return known;
    const subsys = value >>> SUBSYS_SHIFT;
    if (subsys !== 0) {
      const name = this.subsystems.get(subsys) ?? `SUBSYS_${subsys}`;
      return `${name}_${value & 0xffff}` as DropReason;
    }
    return `REASON_${value}` as DropReason;
  }
}

function readEnum(btf: BtfPtr, enumName: string, prefix: string): Map<number, string> {
  const out = new Map<number, string>();
  const id = libbpf.btf__find_by_name_kind(btf, enumName, BTF_KIND_ENUM);
  if (id < 0) return out;
  const type = libbpf.btf__type_by_id(btf, id);
  if (type === null) return out;
  const vlen = readMemory(type, BTF_TYPE_SIZE).readUInt32LE(4) & 0xffff;
  const entries = readMemory(type + BigInt(BTF_TYPE_SIZE), vlen * BTF_ENUM_SIZE);
  for (let i = 0; i < vlen; i++) {
    const name = libbpf.btf__name_by_offset(btf, entries.readUInt32LE(i * BTF_ENUM_SIZE)) ?? '';
    const value = entries.readUInt32LE(i * BTF_ENUM_SIZE + 4);
    if (name.endsWith('_MAX') || name === `${prefix}MAX`) continue;
    out.set(value, name.startsWith(prefix) ? name.slice(prefix.length) : name);
  }
  return out;
}
