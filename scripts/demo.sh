#!/usr/bin/env bash
# The README's main-job command: installs what is missing (scripts/setup.sh), then runs `cnidbg demo`
# on the embedded lab. Everything it creates lives in cnidbg- namespaces and is removed at the end,
# on error and on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/run.js demo "$@"
