#!/usr/bin/env bash
# Runs every unit test binary given on the command line, then every integration script
# (<layer>/tests/*.sh and protocols/*/tests/*.sh) with B set to the build folder.
# Prints each program's result and closes with one 'N passed, N failed' line.
set -u
cd "$(dirname "$0")/.."
export B=${B:-build}
pass=0; fail=0; failed=()
run_one() {
  local name=$1; shift
  local t0=$(date +%s.%N)
  if "$@" > "$B/test-logs/$(basename "$name").log" 2>&1; then
    pass=$((pass+1)); printf 'ok    %-48s %6.1fs\n' "$name" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')"
  else
    fail=$((fail+1)); failed+=("$name")
    printf 'FAIL  %-48s (log: %s)\n' "$name" "$B/test-logs/$(basename "$name").log"
    tail -n 40 "$B/test-logs/$(basename "$name").log" | sed 's/^/      /'
  fi
}
mkdir -p "$B/test-logs"
for t in "$@"; do run_one "$t" "$t"; done
for s in $(ls sim/tests/*.sh protocols/tests/*.sh protocols/*/tests/*.sh harness/tests/*.sh 2>/dev/null | sort); do
  run_one "$s" bash "$s"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
