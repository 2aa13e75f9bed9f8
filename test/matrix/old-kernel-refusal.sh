#!/usr/bin/env bash
# Run in the 5.10 VM by kernels.test.ts: `run` on a kernel below the minimum,
# with every module it imports recorded, then what it left in bpffs and the
# kernel. The host test asserts on the files this writes to $VM_RESULT_DIR.
set -u
out="${VM_RESULT_DIR:?}"
# Node's own start under emulation, for comparison (it also reads node into the page cache).
start=$(date +%s%N)
.runtime/bin/node -e 0
echo $(( ($(date +%s%N) - start) / 1000000 )) >"$out/node-ms"
start=$(date +%s%N)
MODULE_TRACE_FILE="$out/modules.txt" .runtime/bin/node --import ./dist/test/support/module-trace.js dist/src/cli/main.js \
  run --bpffs /sys/fs/bpf/dpx-matrix-old --metrics-addr 127.0.0.1:0 >"$out/stdout" 2>"$out/stderr"
echo $? >"$out/status"
echo $(( ($(date +%s%N) - start) / 1000000 )) >"$out/ms"
ls -A /sys/fs/bpf >"$out/bpffs"
bpftool -j prog show >"$out/progs" 2>"$out/progs.err"
