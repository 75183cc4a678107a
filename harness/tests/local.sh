#!/usr/bin/env bash
# `make run`'s job, shortened: the pilot scenario with --local sends over MQTT, LoRaWAN and Modbus
# to peers the run starts itself (a mosquitto child, the in-process network-server endpoint and
# Modbus poller), reconciles every message end to end, meets its expect: block (exit 0), and
# stops its broker by PID at the end.
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh

"$FB" run scenarios/aix-marseille-pilot.yaml --local --speed x3600 --duration 2h \
  --report "$T/r.json" --junit "$T/r.xml" 2> "$T/err"
code=$?
[ $code = 0 ] || fail "pilot --local exited $code: $(tail -20 "$T/err")"
ok "pilot --local meets its expectations (exit 0)"

python3 - "$T/r.json" <<'EOF' || fail "report: $(tail -20 "$T/err")"
import json, sys
r = json.load(open(sys.argv[1]))
p = r["bench"]["protocols"]
for proto in ("mqtt", "lorawan", "modbus"):
    c = p[proto]
    assert c["expected"] > 0, (proto, c)
    assert c["received"] == c["expected"] and c["lost"] == 0, (proto, c)
    assert c["wrong_values"] == 0 and c["undecodable"] == 0 and c["duplicated"] == 0, (proto, c)
    assert c["latency_us"]["count"] == c["received"], proto
# every type the pilot sends over MQTT and LoRaWAN is reconciled per type and per site
assert set(p["mqtt"]["by_type"]) == {"noise", "bike-counter", "pedestrian-counter", "streetlight"}, p["mqtt"]["by_type"].keys()
assert set(p["lorawan"]["by_type"]) <= {"waste", "water-level"} and "water-level" in p["lorawan"]["by_type"]
# MQTT and LoRaWAN expect exactly what the fleet generated for their fleets
per_type = r["samples_by_type"]
sent = sum(per_type[t] for t in ("noise", "bike-counter", "pedestrian-counter", "streetlight"))
assert p["mqtt"]["expected"] == sent, (p["mqtt"]["expected"], sent)
assert r["bench"]["joins"]["accepted"] == r["bench"]["joins"]["requested"] > 0
assert all(e["ok"] for e in r["expectations"]) and len(r["expectations"]) == 3
print("  mqtt %d, lorawan %d, modbus %d messages reconciled" %
      tuple(p[k]["received"] for k in ("mqtt", "lorawan", "modbus")))
EOF
ok "every protocol reconciled: nothing lost, duplicated or wrong"

xmllint --noout "$T/r.xml" || fail "JUnit not well-formed"
[ "$(grep -c '<testcase ' "$T/r.xml")" = 3 ] || fail "JUnit: expected 3 test cases"
ok "JUnit: one test case per expectation"

pid=$(sed -n 's/.*mosquitto (pid \([0-9]*\)).*/\1/p' "$T/err" | head -1)
[ -n "$pid" ] || fail "no broker pid announced"
[ ! -e "/proc/$pid" ] || fail "the local broker (pid $pid) outlived the run"
ok "the local broker was stopped by PID"
echo "0 failed"
