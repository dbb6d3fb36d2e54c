#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what is missing first (scripts/setup.sh), then
# lints, type-checks and runs every tap test. It also proves the suite left the machine as it found
# it: the namespaces and root-namespace links after the run must equal those before.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit $?

# Temp files go to tmpfs when the machine has one at /dev/shm: the tests make and remove tens of
# thousands of files (sandboxes, scripts, sockets), and on a disk filesystem each creation searches
# the inode bitmaps past the recently deleted ones (about 2% of the suite's CPU on ext4). A fixed name,
# so the next run reaps what a killed run left there; used only if it is root's own directory, so a
# directory another user made in the world-writable /dev/shm is never trusted.
TEST_TMP=/dev/shm/cnidbg-tests
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
  mkdir -m 700 "$TEST_TMP" 2>/dev/null || true
  if [ -d "$TEST_TMP" ] && [ ! -L "$TEST_TMP" ] && [ "$(stat -c %u:%a "$TEST_TMP")" = "$(id -u):700" ]; then
    export TMPDIR=$TEST_TMP
  fi
fi

# What a killed earlier run left (a CI job cut off, a suite stopped with kill -9) is reaped first, as
# any cnidbg run reaps it; otherwise the suite's own reaping of it would read below as a change it made.
# Live runs and labs are not touched (`cnidbg sandbox gc --help`).
node bin/run.js sandbox gc || echo "warning: could not reap an earlier run's leftovers" >&2
# Labs count as crashed once their processes died, or the test process they were made for
# (LabState.heldBy) is gone: a test file that crashed before its teardown ran. Any `lab up` or
# `lab down` reaps them, so one of this run's tests would, and the check below would read that as a
# change the run made: reaped here first. Running labs (a user's) are not touched.
node --input-type=module -e "
  const {reapCrashedLabs} = await import('./dist/lab/lifecycle.js')
  for (const r of await reapCrashedLabs()) console.log('reaped crashed lab ' + r.name)
" || echo "warning: could not reap crashed labs" >&2

before_ns=$(ip netns list | sort)
before_links=$(ip -o link show | awk -F': ' '{print $2}' | sort)

status=0
# The four checkers run side by side (each is mostly one thread, and the machine has two cores or more);
# each one's output is printed whole, in this order, once all are done.
checks=$(mktemp -d)
trap 'rm -rf "$checks"' EXIT
check() {
  local name=$1
  shift
  ("$@" >"$checks/$name.out" 2>&1; echo $? >"$checks/$name.rc") &
}
# Each keeps what it found per file content in node_modules/.cache (gone with node_modules, as with
# `npm ci`): a file, config or tool version that changed is checked again, the rest is not, which takes
# this step from about 23 s to 5 s on a second run. None of the lint rules reads another file's types,
# so a file's lint result depends on its own content alone; tsc's incremental mode tracks what each file
# depends on and reports an unchanged file's errors again.
lint_cache=node_modules/.cache/cnidbg-lint
# The tools are run from node_modules/.bin, not through npx: npx starts npm's own CLI first, about
# 0.4 s of CPU for each run below.
bin=node_modules/.bin
check eslint "$bin/eslint" --cache --cache-strategy content --cache-location "$lint_cache/eslint/" .
# Prettier reads JavaScript and TypeScript with its oxc parser plugin (.prettierrc.json), a third less CPU
# than its default parsers, with the same output: every file of the tree passed the check under both when
# the plugin came in.
check prettier "$bin/prettier" --check --cache --cache-strategy content --cache-location "$lint_cache/prettier.json" \
  --log-level warn .
check depcruise "$bin/depcruise" src --config .dependency-cruiser.cjs --output-type err \
  --cache "$lint_cache/depcruise" --cache-strategy content
# Type-checking is TypeScript 7's compiler (typescript-native in package.json: native code, several
# threads), about 3.5 s of CPU on a cold cache against 14 s for TypeScript 5.9's. 5.9 stays installed as
# `typescript` for typescript-eslint, which parses through TypeScript's JavaScript API; 7 has none. Both
# packages have a bin named tsc, and npm links one of them to node_modules/.bin/tsc, so it is named by path.
check tsc node_modules/typescript-native/bin/tsc -p tsconfig.test.json --incremental \
  --tsBuildInfoFile "$lint_cache/tsc-test.tsbuildinfo"
# Beside them, the test loader's cache is filled in one process (scripts/warm-test-loader.mjs says why).
# The tests do not depend on it: a failure here is only a warning.
(node scripts/warm-test-loader.mjs >"$checks/warm.out" 2>&1 || echo "warning: scripts/warm-test-loader.mjs failed" >>"$checks/warm.out") &
wait
for name in eslint prettier depcruise tsc; do
  [ "$name" = eslint ] && echo "== lint"
  [ "$name" = tsc ] && echo "== typecheck"
  cat "$checks/$name.out"
  [ "$(cat "$checks/$name.rc" 2>/dev/null)" = 0 ] || { echo "FAIL: $name" >&2; status=1; }
done
cat "$checks/warm.out"
rm -rf "$checks"

echo "== tests"
# The CA bundle NODE_EXTRA_CA_CERTS names is parsed by every Node process at start (about 40 ms of CPU
# each) and no test needs it: setup above (npm, behind a proxy) had it, the tests go without
# (scripts/test-loader.mjs says why).
unset NODE_EXTRA_CA_CERTS
mkdir -p .tap
if [ $# -gt 0 ]; then
  "$bin/tap" --reporter=tap "$@" | tee .tap/last-run.tap
  tap_status=${PIPESTATUS[0]}
else
  # tap starts its files in alphabetical order, so the few that run longest (most of them wait on
  # labs and probes) would start late and run on alone after the rest, the CPU half idle. They are
  # listed in test/run-first.txt and run from the start in a tap of their own, two at a time, beside
  # the rest, three at a time. Their output follows the rest's; every file runs exactly once.
  mapfile -t first < <(grep -vE '^[[:space:]]*(#|$)' test/run-first.txt)
  mapfile -t rest < <("$bin/tap" list | grep -vxF -f test/run-first.txt)
  # tap given no file runs them all: an empty list here must fail, not run everything twice.
  if [ "${#first[@]}" = 0 ] || [ "${#rest[@]}" = 0 ]; then
    echo "FAIL: no test files to run (test/run-first.txt: ${#first[@]}, the rest: ${#rest[@]})" >&2
    exit 1
  fi
  "$bin/tap" --jobs=2 --reporter=tap "${first[@]}" >.tap/run-first.tap 2>&1 &
  first_pid=$!
  trap 'kill "$first_pid" 2>/dev/null; rm -rf "$checks"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  "$bin/tap" --jobs=3 --reporter=tap "${rest[@]}" | tee .tap/rest.tap
  tap_status=${PIPESTATUS[0]}
  wait "$first_pid" || tap_status=1
  trap 'rm -rf "$checks"' EXIT
  echo "== tests started first (test/run-first.txt)"
  cat .tap/run-first.tap
  cat .tap/rest.tap .tap/run-first.tap >.tap/last-run.tap
  rm -f .tap/rest.tap .tap/run-first.tap
fi
[ "$tap_status" = 0 ] || status=1

after_ns=$(ip netns list | sort)
after_links=$(ip -o link show | awk -F': ' '{print $2}' | sort)
if [ "$before_ns" != "$after_ns" ] || [ "$before_links" != "$after_links" ]; then
  echo "FAIL: the tests left namespaces or links behind:" >&2
  diff <(echo "$before_ns"; echo "$before_links") <(echo "$after_ns"; echo "$after_links") >&2
  status=1
fi

# The temp dir goes when the tests left nothing in it (what they left is named below, and reaped by the
# next run's `sandbox gc`).
if [ "${TMPDIR:-}" = "$TEST_TMP" ] && ! rmdir "$TEST_TMP" 2>/dev/null; then
  echo "FAIL: the tests left files in $TEST_TMP:" >&2
  ls -A "$TEST_TMP" | head -20 >&2
  status=1
fi

# One plain summary line over the test files, for humans and for CI log readers.
passed=$(grep -cE '^ok [0-9]+' .tap/last-run.tap || true)
failed=$(grep -cE '^not ok [0-9]+' .tap/last-run.tap || true)
echo "tests: ${passed} passed, ${failed} failed"
# CI logs are often read from the tail: repeat every failed assertion there with its diagnostic
# (the YAML block tap prints under it), so a failure is named without scrolling the whole run.
if grep -qE '^\s*not ok' .tap/last-run.tap; then
  echo "== failures"
  awk '/^[[:space:]]*not ok/{print; show=1; next}
       show && /^[[:space:]]*(ok|not ok|# Subtest:|1\.\.)/{show=0}
       show{print}' .tap/last-run.tap | head -200
fi
exit $status
