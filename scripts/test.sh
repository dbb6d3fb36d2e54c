#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what is missing first (scripts/setup.sh), then
# lints, type-checks and runs every tap test. It also proves the suite left the machine as it found
# it: the namespaces and root-namespace links after the run must equal those before.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit $?

# What a killed earlier run left (a CI job cut off, a suite stopped with kill -9) is reaped first, as
# any cnidbg run reaps it; otherwise the suite's own reaping of it would read below as a change it made.
# Live runs and labs are not touched (`cnidbg sandbox gc --help`).
node bin/run.js sandbox gc || echo "warning: could not reap an earlier run's leftovers" >&2

before_ns=$(ip netns list | sort)
before_links=$(ip -o link show | awk -F': ' '{print $2}' | sort)

status=0
echo "== lint"
npx eslint . || status=1
npx prettier --check --log-level warn . || status=1
npx depcruise src --config .dependency-cruiser.cjs --output-type err || status=1
echo "== typecheck"
npx tsc -p tsconfig.test.json || status=1

echo "== tests"
mkdir -p .tap
npx tap --reporter=tap "$@" | tee .tap/last-run.tap
tap_status=${PIPESTATUS[0]}
[ "$tap_status" = 0 ] || status=1

after_ns=$(ip netns list | sort)
after_links=$(ip -o link show | awk -F': ' '{print $2}' | sort)
if [ "$before_ns" != "$after_ns" ] || [ "$before_links" != "$after_links" ]; then
  echo "FAIL: the tests left namespaces or links behind:" >&2
  diff <(echo "$before_ns"; echo "$before_links") <(echo "$after_ns"; echo "$after_links") >&2
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
