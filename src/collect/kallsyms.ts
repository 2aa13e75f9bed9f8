// Kernel text address -> function name, from /proc/kallsyms. Read once and
// kept; read again (at most once a minute) only when an address falls
// outside every known symbol, as after a module load.
import { readFileSync } from 'node:fs';

export interface KernelSymbol {
  name: string;
  /** Bytes from the start of the function. */
  offset: number;
}

const REREAD_AFTER_MS = 60_000;
const NL = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const LOWER_T = 0x74;
const UPPER_T = 0x54;

export class Kallsyms {
  private addrs: BigUint64Array = new BigUint64Array(0);
  /** Every name, back to back (latin1), and where each starts: nameAt[i]..nameAt[i + 1]. */
  private nameBytes: Buffer = Buffer.alloc(0);
  private nameAt: Uint32Array = new Uint32Array(1);
  private readAt = 0;
  private visible = true;

  constructor(private readonly path = '/proc/kallsyms') {}

  /** False when kallsyms shows only zero addresses (no CAP_SYSLOG, or kptr_restrict). */
  addressesVisible(): boolean {
    if (this.addrs.length === 0) this.read();
    return this.visible;
  }

  resolve(addr: bigint): KernelSymbol | undefined {
    if (this.addrs.length === 0 || (this.find(addr) === undefined && Date.now() - this.readAt > REREAD_AFTER_MS)) {
      this.read();
    }
    return this.find(addr);
  }

  private find(addr: bigint): KernelSymbol | undefined {
    const a = this.addrs;
    let lo = 0;
    let hi = a.length - 1;
    if (hi < 0 || addr < (a[0] ?? 0n)) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((a[mid] ?? 0n) <= addr) lo = mid;
      else hi = mid - 1;
    }
    const offset = addr - (a[lo] ?? 0n);
    // A drop location lies inside a function; far past the nearest symbol is not a match.
    if (offset > 0x100000n) return undefined;
    return { name: this.nameBytes.toString('latin1', this.nameAt[lo], this.nameAt[lo + 1]), offset: Number(offset) };
  }

  /**
   * One pass over the file's bytes (~5 MB, ~120k text symbols): no string per
   * line and no BigInt per address. Splitting it into lines grew the heap by
   * ~45 MB, which V8 kept for the agent's lifetime (BENCHMARKS.md 5).
   */
  private read(): void {
    this.readAt = Date.now();
    const text = readFileSync(this.path);
    let cap = 1;
    for (let at = text.indexOf(NL); at >= 0; at = text.indexOf(NL, at + 1)) cap++;
    const words = new Uint32Array(cap * 2); // address of symbol k: lo at 2k, hi at 2k + 1
    const nameStart = new Uint32Array(cap);
    const nameEnd = new Uint32Array(cap);
    let n = 0;
    // "ffffffff81000000 T _stext" or "... t name\t[module]"
    for (let pos = 0; pos < text.length;) {
      let eol = text.indexOf(NL, pos);
      if (eol < 0) eol = text.length;
      const sp1 = text.indexOf(SP, pos);
      const type = text[sp1 + 1];
      if (sp1 > pos && sp1 + 3 <= eol && (type === LOWER_T || type === UPPER_T)) {
        const split = Math.max(pos, sp1 - 8);
        words[2 * n] = hexAt(text, split, sp1);
        words[2 * n + 1] = hexAt(text, pos, split);
        let end = sp1 + 3;
        while (end < eol && text[end] !== TAB) end++;
        nameStart[n] = sp1 + 3;
        nameEnd[n] = end;
        n++;
      }
      pos = eol + 1;
    }
    // /proc/kallsyms is nearly sorted; sort an index by (hi, lo) rather than the entries.
    const order = Array.from({ length: n }, (_, k) => k);
    order.sort((x, y) => words[2 * x + 1]! - words[2 * y + 1]! || words[2 * x]! - words[2 * y]!);
    this.addrs = new BigUint64Array(n);
    const halves = new Uint32Array(this.addrs.buffer);
    this.nameAt = new Uint32Array(n + 1);
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += nameEnd[order[i]!]! - nameStart[order[i]!]!;
    this.nameBytes = Buffer.alloc(bytes);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const k = order[i]!;
      halves[2 * i] = words[2 * k]!; // little endian: low word first
      halves[2 * i + 1] = words[2 * k + 1]!;
      this.nameAt[i] = at;
      at += text.copy(this.nameBytes, at, nameStart[k], nameEnd[k]);
    }
    this.nameAt[n] = at;
    this.visible = n > 0 && (this.addrs[n - 1] ?? 0n) !== 0n;
  }
}

/** The hex number in buf[from, to), at most 8 digits: no string per address. */
function hexAt(buf: Buffer, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    v = v * 16 + (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);
  }
  return v;
}
