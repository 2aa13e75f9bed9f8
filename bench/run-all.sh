#!/usr/bin/env bash
# Runs every benchmark in turn and prints their results as markdown
# (benchmarks 1-7, 9 and 13: over 13 minutes on 2 vCPU). Needs root, the build (`npm run build`), a C
# compiler for bench/udp-flood.c (see BENCHMARKS.md).
#   sudo bash bench/run-all.sh | tee bench-results.md
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh   # the project's Node.js 24 (scripts/setup)
if [ ! -f dist/bench/kernel-drops.js ] || [ ! -f bench/bpf/empty_tc.bpf.o ]; then
  echo "build first: npm run build" >&2
  exit 2
fi
for b in kernel-drops tc-test-run forward-pps scrape agent scrape-secure otlp-export real-traffic node-loss; do
  node "dist/bench/$b.js"
  echo
done
