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

export class Kallsyms {
  private addrs: BigUint64Array = new BigUint64Array(0);
  private names: string[] = [];
  private readAt = 0;
  private visible = true;

  constructor(private readonly path = '/proc/kallsyms') {}

  /** False when kallsyms shows only zero addresses (no CAP_SYSLOG, or kptr_restrict). */
  addressesVisible(): boolean {
    if (this.names.length === 0) this.read();
    return this.visible;
  }

  resolve(addr: bigint): KernelSymbol | undefined {
    if (this.names.length === 0 || (this.find(addr) === undefined && Date.now() - this.readAt > REREAD_AFTER_MS)) {
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
    return { name: this.names[lo] ?? '', offset: Number(offset) };
  }

  private read(): void {
    this.readAt = Date.now();
    const entries: Array<[bigint, string]> = [];
    for (const line of readFileSync(this.path, 'latin1').split('\n')) {
      // "ffffffff81000000 T _stext" or "... t name\t[module]"
      const sp1 = line.indexOf(' ');
      const sp2 = line.indexOf(' ', sp1 + 1);
      if (sp1 < 0 || sp2 < 0) continue;
      const type = line[sp1 + 1];
      if (type !== 't' && type !== 'T') continue;
      const tab = line.indexOf('\t', sp2 + 1);
      const name = line.slice(sp2 + 1, tab < 0 ? undefined : tab);
      entries.push([BigInt(`0x${line.slice(0, sp1)}`), name]);
    }
    entries.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    this.visible = entries.length > 0 && (entries[entries.length - 1]?.[0] ?? 0n) !== 0n;
    this.addrs = BigUint64Array.from(entries.map((e) => e[0]));
    this.names = entries.map((e) => e[1]);
  }
}
