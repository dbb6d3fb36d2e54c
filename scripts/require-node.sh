#!/usr/bin/env bash
# Node.js 20 or later with npm (package.json "engines"), which scripts/setup.sh needs for `npm ci` and
# the build. Debian 12's own nodejs is 18, too old: NodeSource's nodejs package (npm included) or a
# later Debian's nodejs and npm will do. When apt offers a nodejs of 20 or later (its source is set
# up), it is installed; otherwise this names what to install and exits 3 (environment not ready).
# Uses only node, npm, apt-get, apt-cache and dpkg (test/scripts/require-node.ts runs it with stubs).
set -euo pipefail

found() {
  local v
  v=$(node -p 'process.versions.node' 2>/dev/null) || v=
  if [ -z "$v" ]; then echo 'no node'; else echo "node $v"; fi
}
ready() {
  local v
  v=$(node -p 'process.versions.node' 2>/dev/null) || return 1
  dpkg --compare-versions "$v" ge 20 && command -v npm >/dev/null 2>&1
}

ready && exit 0

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
candidate=
while read -r key value; do
  if [ "$key" = Candidate: ]; then candidate=$value; fi
done < <(apt-cache policy nodejs 2>/dev/null)
if [ -n "$candidate" ] && [ "$candidate" != '(none)' ] && dpkg --compare-versions "$candidate" ge 20~; then
  echo "setup: installing Node.js (Debian package nodejs $candidate)"
  apt-get install -y -qq --no-install-recommends nodejs >/dev/null
  # NodeSource's package carries npm; Debian's own is a package of its own.
  command -v npm >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends npm >/dev/null
  ready && exit 0
fi

npm=$(command -v npm >/dev/null 2>&1 && echo 'npm' || echo 'no npm')
{
  echo "setup: cnidbg needs Node.js 20 or later with npm; this machine has $(found) and ${npm}, and apt"
  echo "offers no nodejs of 20 or later (its candidate: ${candidate:-none}; Debian 12's own is 18). Install"
  echo "one, e.g. NodeSource's nodejs package for Node.js 20 or later (npm included) or the official"
  echo "Node.js binaries with node and npm on PATH, then run this again."
} >&2
exit 3
