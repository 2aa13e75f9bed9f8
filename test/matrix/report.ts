// What scenario.ts hands back from a VM, one entry per check.
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

export interface MatrixReport {
  kernel: string;
  facts: Record<string, string | number>;
  results: CheckResult[];
}
