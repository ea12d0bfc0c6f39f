#!/usr/bin/env bash
# Runs every test (unit, integration, interop) with node's test runner, after setup.
# Prints the spec report, then the plain summary line "N passed, N failed" taken from the TAP
# report written alongside.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

mapfile -t files < <(find dist/test -name '*.test.js' | sort)
if ((${#files[@]} == 0)); then echo "no test files under dist/test" >&2; exit 1; fi
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT

node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "${files[@]}"
status=$?

pass=$(grep -E '^# pass [0-9]+' "$tap" | tail -1 | awk '{print $3}')
fail=$(grep -E '^# fail [0-9]+' "$tap" | tail -1 | awk '{print $3}')
skip=$(grep -E '^# skipped [0-9]+' "$tap" | tail -1 | awk '{print $3}')
cancelled=$(grep -E '^# cancelled [0-9]+' "$tap" | tail -1 | awk '{print $3}')
# A test cancelled (its suite's set-up failed, or it outran its parent) did not pass: count it failed.
fail=$(( ${fail:-0} + ${cancelled:-0} ))
echo
echo "${pass:-0} passed, ${fail} failed, ${skip:-0} skipped"
exit $status
