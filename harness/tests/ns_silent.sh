#!/usr/bin/env bash
# The network server stops answering: OTAA devices whose gateway's server never replies keep
# retrying their joins with back-off, the engine waits on each reply window for a bounded wall
# time only (reply_grace), the run ends on time with a true report (joins requested and none
# accepted, every PUSH_DATA timed out) and exits 1, as a run where nothing could join must.
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh
port=$(free_port udp)
cat > "$T/ns.yaml" <<EOF
name: ns-silent
seed: 5
start: 2026-06-01T00:00:00Z
duration: 2h
sites: [{id: s, lat: 43.3, lon: 5.4, radius: 300m}]
transports:
  lorawan: {server: "udp://127.0.0.1:$port", activation: otaa, reply_grace: 20ms, push_timeout: 20ms}
fleets:
  - {type: waste, count: 10, site: s, transport: lorawan, interval: 10m}
EOF
start=$(date +%s)
timeout 60 "$FB" run "$T/ns.yaml" --quiet --report "$T/r.json"
code=$?
[ $code = 1 ] || fail "exit $code, wanted 1 (nothing could join)"
[ $(( $(date +%s) - start )) -lt 30 ] || fail "the run took too long: the engine waited beyond reply_grace"
python3 - "$T/r.json" <<'EOF' || fail "report"
import json, sys
r = json.load(open(sys.argv[1]))
lw = r["transports"]["lorawan"]
j, u = lw["joins"], lw["udp"]
assert r["samples"] == 120, r["samples"]
assert j["requested"] > 10 and j["accepted"] == 0, j
assert u["push_timeouts"] > 0 and u["push_ack"] == 0, u
assert r["exit_code"] == 1
EOF
echo "ok: a silent network server: bounded waits, true report, exit 1"
echo "0 failed"
