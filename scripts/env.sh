# Sourced by the scripts: puts the project's Node.js 24 (from scripts/setup) first on PATH.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$_root/.runtime/bin/node" ]; then
  export PATH="$_root/.runtime/bin:$PATH"
fi
unset _root
