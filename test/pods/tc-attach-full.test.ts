// A tc attachment the kernel refuses at start is one line naming the
// interface and what to do, exit 1, and nothing of ours left attached or
// pinned. The refusal is real: the interface's tcx ingress already holds as
// many programs as the kernel allows (63 on 6.x: bpf_mprog_max()), as on a
// node where other agents stacked theirs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import koffi from 'koffi';
import { LIBBPF_SONAME, lastErrno, libbpf, type Fd } from '../../src/bpf/libbpf.js';
import { runCli, testPinDir, removePinDir } from '../support/exporter.js';
import { requireBpf } from '../support/privileges.js';

const BPF_PROG_TYPE_SCHED_CLS = 3;
const BPF_TCX_INGRESS = 46;
const BPF_TCX_EGRESS = 47;

// int bpf_prog_load(enum bpf_prog_type, const char *name, const char *license,
//                   const struct bpf_insn *insns, size_t insn_cnt, const struct bpf_prog_load_opts *opts)
const lib = koffi.load(LIBBPF_SONAME);
const bpfProgLoad = lib.func('int bpf_prog_load(int type, const char *name, const char *license, const void *insns, size_t cnt, const void *opts)') as (
  type: number,
  name: string,
  license: string,
  insns: Buffer,
  cnt: number,
  opts: null,
) => number;

/** `r0 = -1 (TCX_NEXT); exit`: a program that passes every packet on. */
function passProgram(): Buffer {
  const insns = Buffer.alloc(16);
  insns.writeUInt8(0xb7, 0); // BPF_ALU64 | BPF_MOV | BPF_K, dst r0
  insns.writeInt32LE(-1, 4);
  insns.writeUInt8(0x95, 8); // BPF_JMP | BPF_EXIT
  return insns;
}

function ifindexOf(dev: string): number {
  return Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8'));
}

// int bpf_prog_query(int target, enum bpf_attach_type, __u32 query_flags,
//                    __u32 *attach_flags, __u32 *prog_ids, __u32 *prog_cnt)
// For tcx the target is the ifindex. (Debian's bpftool 7.1 predates tcx.)
const bpfProgQuery = lib.func('int bpf_prog_query(int target, int type, uint32_t flags, void *attach_flags, void *ids, _Inout_ uint32_t *cnt)') as (
  target: number,
  type: number,
  flags: number,
  attachFlags: null,
  ids: Buffer,
  cnt: [number],
) => number;

/** How many programs the kernel runs at a tcx hook of ifindex. */
function tcxPrograms(ifindex: number, type: number): number {
  const cnt: [number] = [256];
  const err = bpfProgQuery(ifindex, type, 0, null, Buffer.alloc(4 * 256), cnt);
  if (err < 0) throw new Error(`bpf_prog_query on ifindex ${ifindex}: ${err}`);
  return cnt[0];
}

describe('a tc attachment the kernel refuses at start', function () {
  const dev = `dpxfull${process.pid % 10_000}`;
  const held: number[] = [];
  let filled = 0;
  let pinDir: string;

  before(function () {
    requireBpf(this);
    execFileSync('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`]);
    execFileSync('ip', ['link', 'set', dev, 'up']);
    const ifindex = ifindexOf(dev);
    // Until the kernel says the hook is full (ERANGE).
    for (;;) {
      const prog = bpfProgLoad(BPF_PROG_TYPE_SCHED_CLS, `dpx_fill_${filled}`, 'GPL', passProgram(), 2, null);
      if (prog < 0) throw new Error(`bpf_prog_load: errno ${-prog}`);
      held.push(prog);
      const link = libbpf.bpf_link_create(prog as Fd, ifindex, BPF_TCX_INGRESS, null);
      if (link < 0) {
        const errno = lastErrno();
        if (errno !== constants.errno.ERANGE || filled === 0) throw new Error(`filling tcx ingress of ${dev}: link ${filled} refused, errno ${errno}`);
        break;
      }
      held.push(link);
      filled++;
    }
    pinDir = testPinDir();
  });

  after(function () {
    for (const fd of held.splice(0)) closeSync(fd); // the links go with their last fd
    try {
      execFileSync('ip', ['link', 'del', dev], { stdio: 'ignore' });
    } catch {
      // not created (deleting one end of the veth deletes both)
    }
    if (pinDir) removePinDir(pinDir);
  });

  it('exits 1 with one line naming the interface and the full hook, leaving nothing of ours', function () {
    const ifindex = ifindexOf(dev);
    assert.equal(tcxPrograms(ifindex, BPF_TCX_INGRESS), filled, 'the hook is full before the agent starts');
    const r = runCli(['run', '--bpffs', pinDir, '--interfaces', dev, '--metrics-addr', '127.0.0.1:0']);
    assert.equal(r.status, 1, r.stderr);
    const failures = r.stderr.split('\n').filter((l) => l.startsWith('datapath-exporter: '));
    assert.equal(failures.length, 1, r.stderr);
    assert.match(
      failures[0] ?? '',
      new RegExp(`^datapath-exporter: cannot attach the tc programs to ${dev} \\(tcx\\): .*ERANGE; the interface's tcx hook already holds as many programs as the kernel allows`),
    );
    assert.equal(tcxPrograms(ifindex, BPF_TCX_INGRESS), filled, 'only the programs that were there');
    assert.equal(tcxPrograms(ifindex, BPF_TCX_EGRESS), 0, 'nothing of ours on the other hook');
    assert.equal(existsSync(pinDir), false, 'the pin directory the failed start made is gone');
  });
});
