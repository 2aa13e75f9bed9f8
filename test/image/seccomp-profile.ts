// A container runtime's default seccomp profile (the containers/moby JSON
// format: /usr/share/containers/seccomp.json is podman's RuntimeDefault) turned
// into the OCI runtime config's linux.seccomp for one container, the way the
// runtimes do it (moby's and containers/common's setupSeccomp): a rule applies
// only if the container's bounding set holds every capability it `includes`
// and none it `excludes`, and only on the architectures it names.
import { readFileSync } from 'node:fs';

export interface ProfileSyscall {
  names?: string[];
  name?: string;
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[] | null;
  includes?: { caps?: string[]; arches?: string[] };
  excludes?: { caps?: string[]; arches?: string[] };
}

interface Profile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap?: { architecture: string; subArchitectures: string[] }[];
  syscalls: ProfileSyscall[];
}

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface OciSeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: OciSeccompRule[];
}

export const PODMAN_DEFAULT_PROFILE = '/usr/share/containers/seccomp.json';

/** Node's process.arch → the profile's arch names (Go's GOARCH) and libseccomp's. */
const ARCHES: Readonly<Record<string, { goarch: string; scmp: string }>> = {
  x64: { goarch: 'amd64', scmp: 'SCMP_ARCH_X86_64' },
  arm64: { goarch: 'arm64', scmp: 'SCMP_ARCH_AARCH64' },
};

/**
 * The rules that current containerd and moby default profiles add, which
 * podman 4.3's lacks: bpf(2) with CAP_BPF, perf_event_open(2) with
 * CAP_PERFMON, syslog(2) with CAP_SYSLOG (podman's allows them only with
 * CAP_SYS_ADMIN, or not at all).
 */
export const CAPABILITY_GATES: readonly ProfileSyscall[] = [
  { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_BPF'] } },
  { names: ['perf_event_open'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_PERFMON'] } },
  { names: ['syslog'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYSLOG'] } },
];

/**
 * linux.seccomp for a container whose bounding set is `caps` (CAP_* names),
 * on `arch` (process.arch), from the profile at `path` and any `extra` rules
 * (placed first: a runtime applies the first matching rule's action).
 */
export function seccompForContainer(
  caps: readonly string[],
  path = PODMAN_DEFAULT_PROFILE,
  extra: readonly ProfileSyscall[] = [],
  arch = process.arch,
): OciSeccomp {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const target = ARCHES[arch];
  if (!target) throw new Error(`no seccomp architecture for ${arch}`);
  const entry = profile.archMap?.find((a) => a.architecture === target.scmp);
  const has = (c: string) => caps.includes(c);
  const syscalls: OciSeccompRule[] = [];
  const decided = new Set<string>();
  for (const s of [...extra, ...profile.syscalls]) {
    const inc = s.includes ?? {};
    const exc = s.excludes ?? {};
    if (inc.arches?.length && !inc.arches.includes(target.goarch)) continue;
    if (exc.arches?.length && exc.arches.includes(target.goarch)) continue;
    if (inc.caps?.length && !inc.caps.every(has)) continue;
    if (exc.caps?.length && exc.caps.some(has)) continue;
    // A syscall an earlier rule already decides unconditionally is left out
    // of later ones (libseccomp refuses two actions for one syscall).
    const names = (s.names ?? (s.name ? [s.name] : [])).filter((n) => !decided.has(n));
    if (names.length === 0) continue;
    if (!s.args || s.args.length === 0) for (const n of names) decided.add(n);
    const rule: OciSeccompRule = { names, action: s.action };
    if (s.errnoRet !== undefined) rule.errnoRet = s.errnoRet;
    if (s.args && s.args.length > 0) rule.args = s.args;
    syscalls.push(rule);
  }
  const out: OciSeccomp = {
    defaultAction: profile.defaultAction,
    architectures: entry ? [entry.architecture, ...entry.subArchitectures] : [target.scmp],
    syscalls,
  };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  return out;
}

/** The action the filter takes for a syscall without argument conditions (for checks). */
export function actionFor(seccomp: OciSeccomp, name: string): string {
  const rules = seccomp.syscalls.filter((r) => r.names.includes(name) && !r.args);
  return rules[0]?.action ?? seccomp.defaultAction;
}
