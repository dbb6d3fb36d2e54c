#!/usr/bin/env bash
# Installs everything cnidbg needs on a fresh Debian machine, idempotently:
# Debian packages (only the missing ones), npm dependencies (only when the lock changed), the build
# (only when a source is newer than the last build). Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(iproute2 iptables nftables jq containernetworking-plugins tcpdump iperf3
  iputils-ping netcat-openbsd procps util-linux mount ethtool openssl dnsmasq-base bird2 conntrack)
# Debian's kubectl is the kubernetes-client package (1.20); a kubectl already on PATH will do.
command -v kubectl >/dev/null 2>&1 || PACKAGES+=(kubernetes-client)

if [ "$(id -u)" != 0 ]; then
  echo "setup: run as root (it installs Debian packages and cnidbg needs namespaces)" >&2
  exit 3
fi

# Node.js 20 or later with npm, before anything that needs them (npm ci, the build).
bash scripts/require-node.sh

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=node_modules/.cnidbg-lock-stamp
tap_build=
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "setup: installing npm dependencies"
  # --prefer-offline: a package already in npm's cache is taken from it without asking the registry
  # whether its metadata changed (the lockfile pins every version and checksum anyway); about 5 s of a
  # 20 s install here. An empty cache (a fresh machine) is filled from the registry as before.
  npm ci --no-audit --no-fund --loglevel=error --prefer-offline
  # tap rebuilds its Test class on its first run when package.json's plugin list is not the one it
  # was built with; scripts/test.sh runs two taps at once, which must not both rebuild it. It runs
  # beside the build below (it writes only under node_modules/@tapjs, the build only dist/).
  node_modules/.bin/tap build >/dev/null &
  tap_build=$!
  trap 'kill "$tap_build" 2>/dev/null || true' EXIT
fi

if [ ! -f dist/.build-stamp ] || [ -n "$(find src bin scripts/transpile-src.mjs scripts/bundle-kube.mjs scripts/kube-client-loader.cjs scripts/bundle-plugins.mjs scripts/bundle-cli.mjs scripts/oclif-manifest.mjs scripts/ascii-string-width.cjs scripts/ejs-plain-text.cjs scripts/wsl-utils-lazy.mjs scripts/wrap-ansi-plain-text.cjs package.json tsconfig.json -newer dist/.build-stamp -print -quit 2>/dev/null)" ]; then
  echo "setup: building"
  npm run --silent build
  touch dist/.build-stamp
fi

if [ -n "$tap_build" ]; then
  wait "$tap_build" || {
    echo "setup: tap build failed" >&2
    exit 1
  }
  trap - EXIT
  touch "$stamp"
fi
