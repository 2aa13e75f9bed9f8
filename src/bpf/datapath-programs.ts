// Everything the agent loads into the kernel, as one unit: both objects
// (sharing pinned maps), the kfree_skb attachment and the tc attachments.
// Opened in order and, on any failure, closed in reverse so nothing is left
// half-attached.
import { DropReasonNames } from './drop-reasons.js';
import { ForwardProgram } from './forward-program.js';
import { TcpProgram } from './tcp-program.js';
import { KernelDropProgram } from './kernel-drop-program.js';
import { libbpf } from './libbpf.js';
import { PinDir } from './pin-dir.js';
import { constants } from 'node:os';
import { BpfError } from './errors.js';
import { type NetInterface } from '../os/pod-interfaces.js';
import { TcAttacher, type TcMode } from './tc-attach.js';
import { kernelVersion } from './kernel-version.js';
import type { Logger } from '../log/logger.js';
import { Backoff } from '../backoff.js';

export type TcModeOption = TcMode | 'auto';

/** errnos of an interface that no longer exists. */
const VANISHED = new Set([constants.errno.ENODEV, constants.errno.ENXIO, constants.errno.ENOENT]);

/** Retries of a failed tc attachment: 5 s, doubling to 5 minutes. */
const ATTACH_RETRY = { initialMs: 5_000, maxMs: 300_000 };

/** A tc attachment that fails at start: one line saying what and how to fix it. */
export class TcAttachError extends Error {}

function attachHint(err: unknown, mode: TcMode): string {
  const errno = err instanceof BpfError ? err.errno : 0;
  if (errno === constants.errno.EPERM || errno === constants.errno.EACCES) return 'attaching tc programs needs CAP_NET_ADMIN';
  if (mode === 'tcx' && (errno === constants.errno.EINVAL || errno === constants.errno.EOPNOTSUPP)) {
    return 'this kernel may have no tcx (6.6+): try --tc-mode clsact';
  }
  if (mode === 'tcx' && errno === constants.errno.ERANGE) {
    return "the interface's tcx hook already holds as many programs as the kernel allows (63): detach some, or leave the interface out with --interfaces";
  }
  return 'leave the interface out with --interfaces, or see the log at --log-level debug';
}

/** tcx exists since 6.6; older kernels get clsact filters. */
export function resolveTcMode(option: TcModeOption): TcMode {
  if (option !== 'auto') return option;
  const [major, minor] = kernelVersion();
  return major > 6 || (major === 6 && minor >= 6) ? 'tcx' : 'clsact';
}

/**
 * tcp.bpf.o, or undefined when this kernel cannot load it (its tracepoints
 * have no BTF-typed form there, or kernel lockdown in confidentiality mode
 * refuses the probe reads it makes): the TCP counters are then left out,
 * with one log line saying why, and everything else runs.
 */
function loadTcp(bpffs: string, layoutChanged: (map: string) => void, log: Logger): TcpProgram | undefined {
  try {
    return TcpProgram.load(bpffs, layoutChanged, (err) =>
      log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'cannot load the fentry programs on tcp_v4_send_reset/tcp_v6_send_reset on this kernel: resets to closed ports and from TIME_WAIT are not counted (before 6.10 the tcp_send_reset tracepoint misses them); the other TCP counters run',
      ),
    );
  } catch (err) {
    if (err instanceof BpfError && err.verifierLog) log.debug({ verifierLog: err.verifierLog }, 'verifier log of the rejected TCP program');
    log.warn(
      { err: err instanceof Error ? err.message : String(err) },
      'cannot load the TCP tracepoints (tcp_retransmit_skb, tcp_retransmit_synack, tcp_send_reset, tcp_receive_reset) on this kernel: no TCP retransmission or reset counters',
    );
    return undefined;
  }
}

export class DatapathPrograms {
  readonly cpus = libbpf.libbpf_num_possible_cpus();
  readonly reasons = DropReasonNames.fromRunningKernel();
  /** Interfaces whose attachment failed: tried again after a delay that doubles (a failure may pass: a CNI still setting up, a full hook freed). */
  private readonly failedInterfaces = new Map<number, { retryAt: number; backoff: Backoff; failures: number }>();

  private constructor(
    readonly pinDir: PinDir,
    readonly drops: KernelDropProgram,
    readonly forward: ForwardProgram,
    readonly tc: TcAttacher,
    private readonly log: Logger,
    /** The TCP tracepoints; undefined on a kernel without them (see load). */
    readonly tcp: TcpProgram | undefined,
  ) {}

  /** Loads both objects (maps pinned under bpffs); attaches nothing yet. */
  static load(bpffs: string, tcMode: TcModeOption, log: Logger): DatapathPrograms {
    const layoutChanged = (map: string) =>
      log.warn({ map }, 'pinned map has another layout (agent upgraded): starting it afresh, its counters reset');
    const pinDir = PinDir.acquire(bpffs);
    const undo: Array<() => void> = [() => pinDir.discard()];
    try {
      const drops = KernelDropProgram.load(bpffs, layoutChanged);
      undo.unshift(() => drops.close());
      const forward = ForwardProgram.load(bpffs, layoutChanged);
      undo.unshift(() => forward.close());
      const tcp = loadTcp(bpffs, layoutChanged, log);
      if (tcp) undo.unshift(() => tcp.close());
      const tc = new TcAttacher(resolveTcMode(tcMode), bpffs, forward.programs);
      return new DatapathPrograms(pinDir, drops, forward, tc, log, tcp);
    } catch (err) {
      for (const u of undo) u();
      throw err;
    }
  }

  /**
   * The first attachment, at start: unlike later ones (an interface may
   * vanish while being attached), a failure here is a setup problem and stops
   * the agent with one line.
   */
  attachAtStart(present: NetInterface[]): void {
    for (const { name, ifindex } of present) {
      try {
        this.tc.attach(name, ifindex);
      } catch (err) {
        // Gone between listing and attaching (pods come and go): not a setup problem.
        if (err instanceof BpfError && VANISHED.has(err.errno)) {
          this.log.debug({ interface: name, ifindex }, 'interface went away while attaching');
          continue;
        }
        throw new TcAttachError(
          `cannot attach the tc programs to ${name} (${this.tc.mode}): ${String(err instanceof Error ? err.message : err)}; ${attachHint(err, this.tc.mode)}`,
        );
      }
    }
  }

  /**
   * Brings the tc attachments in line with the interfaces present: new ones
   * attached, vanished ones forgotten. An interface that fails to attach is
   * reported once (a warning, and an info line if a retry succeeds) and tried
   * again after about 5 s, 10 s, ... up to every 5 minutes.
   */
  syncInterfaces(present: NetInterface[], now = Date.now()): void {
    const indexes = new Set(present.map((i) => i.ifindex));
    for (const ifindex of this.tc.attachedIndexes()) if (!indexes.has(ifindex)) this.tc.forget(ifindex);
    for (const ifindex of this.failedInterfaces.keys()) if (!indexes.has(ifindex)) this.failedInterfaces.delete(ifindex);
    for (const { name, ifindex } of present) {
      if (this.tc.isAttached(ifindex)) continue;
      const failed = this.failedInterfaces.get(ifindex);
      if (failed && now < failed.retryAt) continue;
      try {
        this.tc.attach(name, ifindex);
        if (failed) {
          this.failedInterfaces.delete(ifindex);
          this.log.info({ interface: name, ifindex, failures: failed.failures }, 'tc programs attached after failing before');
        } else {
          this.log.debug({ interface: name, ifindex, mode: this.tc.mode }, 'tc programs attached');
        }
      } catch (err) {
        const backoff = failed?.backoff ?? new Backoff(ATTACH_RETRY);
        const delayMs = backoff.next();
        this.failedInterfaces.set(ifindex, { retryAt: now + delayMs, backoff, failures: (failed?.failures ?? 0) + 1 });
        if (failed) this.log.debug({ interface: name, ifindex, err: String(err), retryInMs: delayMs }, 'tc attach failed again');
        else
          this.log.warn(
            { interface: name, ifindex, err: String(err), retryInMs: delayMs },
            'cannot attach tc programs to interface: its traffic is not counted until a retry succeeds',
          );
      }
    }
  }

  /** Detaches every program; the pinned maps keep the counts. */
  close(): void {
    this.detach();
    this.pinDir.release();
  }

  /** After a failed start: detaches, and unpins what this start pinned afresh. */
  discard(): void {
    this.detach();
    this.pinDir.discard();
  }

  private detach(): void {
    this.tc.detachAll();
    this.tcp?.close();
    this.forward.close();
    this.drops.close();
  }
}
