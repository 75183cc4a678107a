#!/usr/bin/env bash
# Injected faults over Modbus, polled by mbpoll: a `modbus_exception` storm (the server's own
# fault injection, switched on for the targeted devices during the window) answers every read of
# the targeted device with the configured exception while the other device answers with values;
# the exceptions the master saw are exactly those the report counts.
set -u
cd "$(dirname "$0")/../../.."
. ci/testlib.sh

cat > "$T/mb.yaml" <<'EOF'
name: modbus-faults
seed: 4
start: 2026-06-01T22:00:00+02:00
duration: 6s
sites:
  - {id: s1, lat: 43.2951, lon: 5.3744}
transports:
  modbus: {listen: "127.0.0.1:0", layout: gateway}
fleets:
  - {type: noise, count: 2, site: s1, interval: 1s, transport: modbus}
faults:
  - {kind: modbus_exception, devices: [noise-000000], exception: 6}
EOF
# a Modbus fleet runs paced at real time: the storm lasts the whole 6 s run
$FB run "$T/mb.yaml" --speed max --out "$T/trace.jsonl" --report "$T/rep.json" > "$T/mb.out" 2> "$T/mb.err" &
pids+=($!)
run=$!
modbus_ports "$T/mb.err" 1
# unit 1 = noise-000000 (in the storm), unit 2 = noise-000001; 5 reads of each
for i in 1 2 3 4 5; do
  mbpoll -m tcp -p "$port" -a 1 -t 4 -0 -r 0 -c 2 -1 127.0.0.1 >> "$T/u1.out" 2>&1
  mbpoll -m tcp -p "$port" -a 2 -t 4 -0 -r 0 -c 2 -1 127.0.0.1 >> "$T/u2.out" 2>&1
done
wait "$run" || fail "run exited $?: $(cat "$T/mb.err")"
pids=()
exc=$(grep -c -i 'busy' "$T/u1.out")
[ "$exc" -eq 5 ] || fail "unit 1: expected 5 'server busy' exceptions (code 6), got $exc: $(cat "$T/u1.out")"
grep -q -i 'busy\|exception\|fail' "$T/u2.out" && fail "unit 2 is outside the storm: $(cat "$T/u2.out")"
[ "$(grep -c '^\[0\]' "$T/u2.out")" -eq 5 ] || fail "unit 2: expected 5 reads: $(cat "$T/u2.out")"
python3 - "$T/rep.json" <<'PY' || fail "report"
import json, sys
m = json.load(open(sys.argv[1]))["transports"]["modbus"]
ok = m["exception_storm"]["exceptions"] == 5 and m["exceptions_by_code"] == {"6": 5}
sys.exit(0 if ok else "modbus report: %r" % {k: m[k] for k in ("exception_storm", "exceptions_by_code")})
PY
echo "modbus faults: ok"
