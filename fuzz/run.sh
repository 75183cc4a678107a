#!/usr/bin/env bash
# Runs each libFuzzer binary given for FUZZ_TIME seconds (fuzz/build.mk). The corpus of
# build-fuzz/fuzz_<name> is fixtures/fuzz/<name>/ (read, never written) plus a working folder
# $B/fuzz-corpus/<name>/ that keeps what the fuzzer adds between runs. A crash, a leak, a
# sanitizer report or an input slower than 10 s fails the run; the input is left in
# $B/fuzz-findings/<name>/ and the way to turn it into a regression is printed.
set -u
cd "$(dirname "$0")/.."
B=${B:-build-fuzz}
FUZZ_TIME=${FUZZ_TIME:-60}
failed=()
for bin in "$@"; do
  name=$(basename "$bin"); name=${name#fuzz_}
  work="$B/fuzz-corpus/$name"; findings="$B/fuzz-findings/$name"
  mkdir -p "$work" "$findings"
  seeds=()
  [ -d "fixtures/fuzz/$name" ] && seeds+=("fixtures/fuzz/$name")
  [ -d "fixtures/fuzz/regressions/$name" ] && seeds+=("fixtures/fuzz/regressions/$name")
  dict=()
  [ -f "fixtures/fuzz/$name.dict" ] && dict=(-dict="fixtures/fuzz/$name.dict")
  echo "fuzz: $name for ${FUZZ_TIME}s" >&2
  # -close_fd_mask=2: the harnesses' own error messages are noise here; libFuzzer and the
  # sanitizers keep a copy of stderr for their reports.
  if "$bin" -max_total_time="$FUZZ_TIME" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 \
       -print_final_stats=1 -artifact_prefix="$findings/" "${dict[@]}" "$work" "${seeds[@]}" \
       > "$B/fuzz-$name.log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$B/fuzz-$name.log" \
      | sed "s/^/fuzz: $name /" >&2
  else
    failed+=("$name")
    echo "fuzz: $name FAILED (log: $B/fuzz-$name.log)" >&2
    grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$B/fuzz-$name.log" | head -n 8 | sed 's/^/      /' >&2
    echo "      reproduce: $bin $findings/<file>; once fixed, copy it to fixtures/fuzz/regressions/$name/" >&2
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: $# harnesses, no findings" >&2
