#!/usr/bin/env bash
# make soak: a simulated week of the pilot at x1000 (about 10 minutes) against a local broker,
# network-server endpoint and Modbus poller (--local), sampling the process's resident memory
# every 10 s. Prints the samples, the run's reconciliation and a verdict: after the first quarter
# (warm-up: buffers and tables reach their working size) memory must stay within 10 % of its
# level then. Exit 0 when flat and every message was reconciled, 1 otherwise.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
SPEED=${SOAK_SPEED:-x1000}
DURATION=${SOAK_DURATION:-7d}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$B/fleetbench" run scenarios/aix-marseille-pilot.yaml --local --speed "$SPEED" \
  --duration "$DURATION" --quiet --report "$T/report.json" 2> "$T/err" &
pid=$!
t0=$(date +%s)
while kill -0 $pid 2>/dev/null; do
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null)
  [ -n "$rss" ] && echo "$(( $(date +%s) - t0 )) $rss" >> "$T/rss"
  sleep 10
done
wait $pid; code=$?
echo "# seconds rss_kib"; cat "$T/rss"
[ $code = 0 ] || { echo "soak: the run exited $code: $(tail -5 "$T/err")"; exit 1; }
python3 - "$T/rss" "$T/report.json" <<'EOF'
import json, sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1])]
r = json.load(open(sys.argv[2]))
n = len(rows)
if n < 8:
    print("soak: too short to judge (fewer than 8 memory samples)")
    sys.exit(1)
base = rows[n // 4][1]
top = max(v for _, v in rows[n // 4:])
growth = (top - base) / base
for p, c in r["bench"]["protocols"].items():
    print(f"soak_{p}_messages {c['received']} of {c['expected']} (lost {c['lost']}, wrong {c['wrong_values']})")
print(f"soak_samples {r['samples']} in {r['wall_time_s']:.0f} s")
print(f"soak_rss_after_warmup {base} KiB, max after {top} KiB, growth {growth * 100:.1f} %")
ok = growth <= 0.10 and all(c["lost"] == 0 for c in r["bench"]["protocols"].values())
print("soak: flat" if ok else "soak: NOT flat or messages lost")
sys.exit(0 if ok else 1)
EOF
