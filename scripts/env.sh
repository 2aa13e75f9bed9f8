# Sourced by the scripts: puts the project's Node.js 24 (from scripts/setup)
# first on PATH, and stops with a clear line when no recent enough Node is there.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$_root/.runtime/bin/node" ]; then
  export PATH="$_root/.runtime/bin:$PATH"
fi
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 22 ]; then
  echo "datapath-exporter needs Node.js 22.15 or later (found $(node -v 2>/dev/null || echo none)); run ./scripts/setup first" >&2
  exit 1
fi
unset _root
