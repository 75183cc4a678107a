#!/usr/bin/env bash
# Injected faults through the command line: `fleetbench run` writes the marked trace; the same
# seed gives the same bytes, another seed other faults; three shards write exactly the lines of
# the single run (marks included); a bad faults: entry stops the run with a located error.
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh

cat > "$T/f.yaml" <<'EOF'
name: faults-cli
seed: 12
start: 2026-06-01T00:00:00+02:00
duration: 12h
sites:
  - {id: port, lat: 43.2951, lon: 5.3744}
  - {id: aix, lat: 43.5297, lon: 5.4474}
fleets:
  - {type: noise, count: 40, site: port, interval: 5m}
  - {type: waste, count: 30, site: aix, interval: 15m,
     faults: [{kind: battery, rate: 0.2, from: 2h, for: 4h}]}
  - {type: water-level, count: 10, site: aix, interval: 10m}
faults:
  - {kind: stuck, rate: 0.1, from: 1h, for: 2h}
  - {kind: spike, rate: 0.01, type: noise}
  - {kind: invalid, rate: 0.01, type: water-level}
  - {kind: offline, site: port, rate: 0.25, from: 6h, for: 90m, backlog: send, backlog_max: 10}
  - {kind: clock_skew, devices: [noise-000007], skew: -2m}
  - {kind: reboot, rate: 0.5, from: 8h, for: 2h}
EOF
$FB run "$T/f.yaml" --out "$T/a.jsonl" --quiet || fail "run exited $?"
$FB run "$T/f.yaml" --out "$T/b.jsonl" --quiet || fail "run 2 exited $?"
cmp -s "$T/a.jsonl" "$T/b.jsonl" || fail "same seed, different traces"
$FB run "$T/f.yaml" --out "$T/c.jsonl" --seed 13 --quiet || fail "run 3 exited $?"
marks() {  # the (time, device, kind) of every marked line
  sed -n -E 's/^\{"ts":"([^"]*)","device":"([^"]*)".*"fault":"([a-z_]*)"\}$/\1 \2 \3/p' "$1"
}
[ "$(marks "$T/a.jsonl" | wc -l)" -eq "$(grep -c '"fault"' "$T/a.jsonl")" ] || fail "unparsed marks"
cmp -s <(marks "$T/a.jsonl") <(marks "$T/c.jsonl") && fail "another seed gave the same faults"
for k in stuck spike invalid battery offline clock_skew reboot; do
  [ "$(grep -c "\"fault\":\"$k\"}\$" "$T/a.jsonl")" -gt 0 ] || fail "no '$k' line in the trace"
done
grep '"fault":"invalid"' "$T/a.jsonl" | grep -q ':null' || fail "an invalid reading is not null"
for i in 0 1 2; do
  $FB run "$T/f.yaml" --shard "$i/3" --out "$T/s$i.jsonl" --quiet || fail "shard $i exited $?"
done
cmp -s <(sort "$T/a.jsonl") <(sort "$T"/s[012].jsonl) || fail "the shards' lines are not the single run's"

# a bad entry: located error, suggestion, no trace
sed 's/kind: spike,/kind: spyke,/' "$T/f.yaml" > "$T/bad.yaml"
$FB run "$T/bad.yaml" --out "$T/bad.jsonl" 2> "$T/bad.err" && fail "a bad fault kind was accepted"
grep -q "bad.yaml:15:12: error: unknown fault kind 'spyke' (did you mean 'spike'?)" "$T/bad.err" ||
  fail "error message: $(cat "$T/bad.err")"
echo "faults through the CLI: ok ($(grep -c '"fault"' "$T/a.jsonl") marked lines of $(wc -l < "$T/a.jsonl"))"
