// Benchmark 10 — big nodes, in-process: the poll's decoding and summing at the
// compiled maximum (every drop_counts slot holding a key, every
// forward_counts cell counting) over synthetic per-CPU buffers of 2 … 192
// CPUs, laid out as bpf_map_lookup_batch fills them (round_up(size, 8) bytes
// per CPU). What runs is the agent's own decode path after the batch reads:
// decodeDropTable + kernelDropRows (reasons from this kernel's BTF, locations
// from /proc/kallsyms) and forwardRows. Beside it, the same decode with the
// summing as it was before (one BigInt per CPU and field), and a check that
// both give the same totals.
//
// No syscalls are timed here (the batch reads are 2-3 per poll whatever the
// CPU count; benchmark 1 times them on the real maps).
//
// Run: node dist/bench/poll-decode.js [--cpus 2,16,64,192] [--polls 15]
//      (and under the launcher's flags: node --max-semi-space-size=1 --optimize-for-size dist/bench/poll-decode.js)
import { readFileSync } from 'node:fs';
import {
  COUNTER_SIZE,
  decodeDropKey,
  DIRECTION_CODES,
  DROP_KEY_SIZE,
  DROP_OVERFLOW_SLOT,
  DROP_SLOTS,
  type DropSlot,
  encodeDropKey,
  ENDPOINT_SLOTS,
  type EndpointSlot,
  FORWARD_CELLS,
  LAYOUTS,
  SITE_COUNTER_SIZE,
} from '../src/bpf/contract.js';
import { DropReasonNames } from '../src/bpf/drop-reasons.js';
import { perCpuStride } from '../src/bpf/map.js';
import { PerCpuCells } from '../src/collect/counters.js';
import { type DropCell, type DropTableRead, decodeDropTable } from '../src/collect/drop-table.js';
import { forwardRows } from '../src/collect/forward-table.js';
import { Kallsyms } from '../src/collect/kallsyms.js';
import { kernelDropRows } from '../src/collect/kernel-drops.js';
import type { DatapathRow } from '../src/collect/rows.js';
import { runBenchmark } from './support/cleanup.js';
import { flag, fmt, header, int, median, numberFlag, spread, table } from './support/report.js';

const CPU_COUNTS = flag('cpus', '2,16,64,192').split(',').map(Number);
const POLLS = numberFlag('polls', 15);
const SC = LAYOUTS.site_counter.members;

await runBenchmark(async () => {
  header(
    "10. Big nodes: the poll's decoding and summing at the maximum, 2 … 192 CPUs",
    `node ${process.execArgv.join(' ')} dist/bench/poll-decode.js`.replace(/\s+/g, ' '),
  );
  const reasons = DropReasonNames.fromRunningKernel();
  const kallsyms = new Kallsyms();
  const locations = kernelTextAddresses(DROP_SLOTS);
  const reasonValues = [2, 3, 5, 6, 7, 16, 77, 0x10002];

  // drop_slot_of's batch: DROP_SLOTS distinct keys, each with its slot.
  const keys = Buffer.alloc(DROP_SLOTS * DROP_KEY_SIZE);
  const slots = Buffer.alloc(DROP_SLOTS * 4);
  for (let i = 0; i < DROP_SLOTS; i++) {
    encodeDropKey(
      {
        location: locations[i] as bigint,
        reason: reasonValues[i % reasonValues.length] as number,
        endpoint: (i % ENDPOINT_SLOTS) as EndpointSlot,
        direction: DIRECTION_CODES[i % 3] ?? 'unknown',
      },
      keys,
      i * DROP_KEY_SIZE,
    );
    slots.writeUInt32LE((i * 2654435761) % DROP_SLOTS, i * 4); // slots in the order the queue handed them: not the key order
  }

  const out: string[][] = [];
  const sumOut: string[][] = [];
  for (const cpus of CPU_COUNTS) {
    const drops = counterCells(DROP_SLOTS + 1, cpus, COUNTER_SIZE, []);
    const forward = counterCells(FORWARD_CELLS, cpus, SITE_COUNTER_SIZE, [
      [SC.file, 2],
      [SC.line, 123],
    ]);
    const dropCells = new PerCpuCells(drops, COUNTER_SIZE, cpus);
    const forwardCells = new PerCpuCells(forward, SITE_COUNTER_SIZE, cpus);

    const poll = (): DatapathRow[] => [
      ...kernelDropRows(decodeDropTable(keys, slots, DROP_SLOTS, dropCells), reasons, kallsyms),
      ...forwardRows(forwardCells),
    ];
    const before = (): DatapathRow[] => [
      ...kernelDropRows(bigintDropTable(keys, slots, DROP_SLOTS, drops, cpus), reasons, kallsyms),
      ...bigintForwardRows(forward, cpus),
    ];
    const a = totals(poll());
    const b = totals(before());
    const exact = a.packets === b.packets && a.bytes === b.bytes && a.rows === b.rows;
    if (!exact)
      throw new Error(
        `${cpus} CPUs: the sums differ from the BigInt sums (${JSON.stringify([a, b], (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))})`,
      );

    const now = time(poll);
    const old = time(before);
    const sumNow = time(() => sumAll(dropCells, forwardCells));
    const sumOld = time(() => bigintSumAll(drops, forward, cpus));
    const mb = (drops.length + forward.length) / 1e6;
    out.push([
      int(cpus),
      fmt(mb, 1),
      int(a.rows),
      spread(now.cpu, 1),
      spread(now.wall, 1),
      spread(old.cpu, 1),
      spread(old.wall, 1),
      `${fmt(median(old.cpu) / median(now.cpu), 1)}×`,
      exact ? 'yes' : 'NO',
    ]);
    const u64s = (DROP_SLOTS + 1 + FORWARD_CELLS) * cpus * 2;
    sumOut.push([
      int(cpus),
      int(u64s),
      spread(sumNow.cpu, 2),
      spread(sumOld.cpu, 2),
      fmt((median(sumNow.cpu) * 1e6) / u64s, 2),
      fmt((median(sumOld.cpu) * 1e6) / u64s, 2),
    ]);
  }

  console.log(
    `Decode and sum of one poll at the maximum (${int(DROP_SLOTS)} drop keys + the overflow slot, ${int(FORWARD_CELLS)} forward cells all counting; ` +
      `${POLLS} polls after 3 warm-up, median (min–max)), in-process; CPU ms = this process's CPU time (all threads, GC included), which other load on the machine disturbs less than wall ms; ` +
      `"before" = the same decode summing one BigInt per CPU and field:\n`,
  );
  console.log(
    table(
      [
        'CPUs',
        'per-CPU buffers MB',
        'rows',
        'poll decode CPU ms',
        'wall ms',
        'before: CPU ms',
        'wall ms',
        'before / now (CPU)',
        'same totals',
      ],
      out,
    ),
  );
  console.log('\nThe summing alone (every u64 of both tables over all CPUs), CPU ms:\n');
  console.log(
    table(['CPUs', 'u64 cells summed', 'halves in doubles ms', 'BigInt per CPU ms', 'ns per u64 (now)', 'ns per u64 (before)'], sumOut),
  );
});

/** Per-CPU values as a batch lookup returns them: every counter non-zero, of every magnitude up to 2^40 per CPU. */
function counterCells(entries: number, cpus: number, valueSize: number, u32s: Array<[number, number]>): Buffer {
  const perCpu = perCpuStride(valueSize, 1);
  const buf = Buffer.alloc(entries * perCpuStride(valueSize, cpus));
  let x = 0x9e3779b9;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let at = 0; at < buf.length; at += perCpu) {
    const packets = next() % 2 ** (1 + (next() % 32));
    buf.writeBigUInt64LE(BigInt(packets) + 1n, at);
    buf.writeBigUInt64LE(BigInt(packets) * BigInt(64 + (next() % 1400)) + 64n, at + 8);
    for (const [off, v] of u32s) buf.writeUInt32LE(v, at + off);
  }
  return buf;
}

/** Wall ms and CPU ms (this process, all threads: GC included) of each of POLLS calls, after 3 warm-up. */
function time(fn: () => unknown): { wall: number[]; cpu: number[] } {
  for (let i = 0; i < 3; i++) fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < POLLS; i++) {
    const c = process.cpuUsage();
    const t = process.hrtime.bigint();
    fn();
    wall.push(Number(process.hrtime.bigint() - t) / 1e6);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1e3);
  }
  return { wall, cpu };
}

function totals(rows: DatapathRow[]): { rows: number; packets: bigint; bytes: bigint } {
  let packets = 0n;
  let bytes = 0n;
  for (const r of rows) {
    packets += r.packets;
    bytes += r.bytes;
  }
  return { rows: rows.length, packets, bytes };
}

function sumAll(drops: PerCpuCells, forward: PerCpuCells): void {
  for (let i = 0; i <= DROP_OVERFLOW_SLOT; i++) drops.counter(i);
  for (let i = 0; i < FORWARD_CELLS; i++) {
    forward.sumU64(i, SC.packets);
    forward.sumU64(i, SC.bytes);
  }
}

// The summing before this benchmark's change (src/collect/counters.ts and
// forward-table.ts at commit 8113f09): one BigInt read and add per CPU and field.
function bigintSum(values: Buffer, index: number, cpus: number, valueSize: number, offset: number): bigint {
  const stride = perCpuStride(valueSize, cpus);
  let sum = 0n;
  for (let cpu = 0, off = index * stride; cpu < cpus; cpu++, off += valueSize) sum += values.readBigUInt64LE(off + offset);
  return sum;
}

function bigintSumAll(drops: Buffer, forward: Buffer, cpus: number): void {
  for (let i = 0; i <= DROP_OVERFLOW_SLOT; i++) {
    bigintSum(drops, i, cpus, COUNTER_SIZE, 0);
    bigintSum(drops, i, cpus, COUNTER_SIZE, 8);
  }
  for (let i = 0; i < FORWARD_CELLS; i++) {
    bigintSum(forward, i, cpus, SITE_COUNTER_SIZE, SC.packets);
    bigintSum(forward, i, cpus, SITE_COUNTER_SIZE, SC.bytes);
  }
}

function bigintDropTable(keys: Buffer, slots: Buffer, count: number, counts: Buffer, cpus: number): DropTableRead {
  const counter = (slot: number) => ({
    packets: bigintSum(counts, slot, cpus, COUNTER_SIZE, 0),
    bytes: bigintSum(counts, slot, cpus, COUNTER_SIZE, 8),
  });
  const cells: DropCell[] = [];
  for (let i = 0; i < count; i++) {
    const slot = slots.readUInt32LE(i * 4) as DropSlot;
    cells.push({ key: decodeDropKey(keys, i * DROP_KEY_SIZE), slot, counter: counter(slot) });
  }
  return { cells, overflow: counter(DROP_OVERFLOW_SLOT), used: count };
}

function bigintForwardRows(values: Buffer, cpus: number): DatapathRow[] {
  const stride = perCpuStride(SITE_COUNTER_SIZE, cpus);
  const rows: DatapathRow[] = [];
  for (let index = 0; index < FORWARD_CELLS; index++) {
    let packets = 0n;
    let bytes = 0n;
    let file = 0;
    let line = 0;
    for (let cpu = 0, off = index * stride; cpu < cpus; cpu++, off += SITE_COUNTER_SIZE) {
      packets += values.readBigUInt64LE(off + SC.packets);
      bytes += values.readBigUInt64LE(off + SC.bytes);
      file ||= values.readUInt32LE(off + SC.file);
      line ||= values.readUInt32LE(off + SC.line);
    }
    if (packets === 0n) continue;
    const name = file === 2 ? 'forward.bpf.c' : `unknown(${file})`;
    rows.push({
      kind: 'forward',
      source: 'tc',
      reason: '',
      direction: index % 2 === 1 ? 'egress' : 'ingress',
      site: { file: name, line },
      location: `${name}:${line}`,
      endpoint: Math.floor(index / 2) as EndpointSlot,
      packets,
      bytes,
    });
  }
  return rows;
}

/** Distinct kernel text addresses from /proc/kallsyms as drop locations; synthetic ones when addresses are hidden (not root). */
function kernelTextAddresses(n: number): bigint[] {
  const out: bigint[] = [];
  const seen = new Set<string>();
  for (const line of readFileSync('/proc/kallsyms', 'latin1').split('\n')) {
    const [addr, type, name] = line.split(/\s+/);
    if (!addr || !name || (type !== 't' && type !== 'T') || /^0+$/.test(addr) || seen.has(addr)) continue;
    seen.add(addr);
    out.push(BigInt(`0x${addr}`));
    if (out.length === n) return out;
  }
  console.log(`(kernel addresses hidden: ${int(n)} synthetic locations, unresolved by kallsyms)\n`);
  return Array.from({ length: n }, (_, i) => 0xffffffff81000000n + BigInt(i) * 64n);
}
