#!/usr/bin/env bash
# Scale-out without Kubernetes: the shard command line of ci/k8s/fleetbench-job.yaml, run as 4
# processes on loopback against one mosquitto (JOB_COMPLETION_INDEX=0..3, --start-at aligning
# them), each reconciling through its own MQTT collector (--collect); their reports merged with
# `fleetbench report merge` equal the single-process run's counts, and the union of their traces
# equals its trace.
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh
[ -n "${KEEP:-}" ] && trap - EXIT

port=$(free_port)
mosquitto_conf "$port" "max_queued_messages 0" "max_inflight_messages 0" \
  "log_dest file $T/mosquitto.log" > "$T/mosquitto.conf"
start_mosquitto "$T/mosquitto.conf" "$port"

cat > "$T/scenario.yaml" <<EOF
name: shards-test
seed: 11
start: 2026-06-01T06:00:00Z
duration: 2h
sites:
  - {id: vieux-port, lat: 43.295, lon: 5.374}
  - {id: aix-centre, lat: 43.529, lon: 5.447}
transports:
  mqtt: {url: "mqtt://127.0.0.1:$port", qos: 1, topic: "amp/{site}/{type}/{device}"}
fleets:
  - {type: noise, count: 13, site: vieux-port, interval: 1m, transport: mqtt, codec: json}
  - {type: bike-counter, count: 7, site: vieux-port, transport: mqtt, codec: senml}
  - {type: waste, count: 9, site: aix-centre, transport: mqtt, codec: json}
expect: {loss_max: 0, errors_max: 0}
EOF

# The pod's command, from the manifest: the folded `args` block after "- >-".
manifest=ci/k8s/fleetbench-job.yaml
cmd=$(awk '/^ *- >-$/{on=1; next} on && /^ *(resources|volumeMounts):/{on=0} on{printf "%s ", $0}' "$manifest")
case "$cmd" in *'--shard "${JOB_COMPLETION_INDEX}/${SHARDS}"'*) ;; *) fail "manifest command lacks the shard option: $cmd" ;; esac
case "$cmd" in *--start-at*) ;; *) fail "manifest command lacks --start-at: $cmd" ;; esac
start=$(date -u -d '+2 sec' +%Y-%m-%dT%H:%M:%SZ)
cmd=${cmd//__START_AT__/$start}
cmd=${cmd//\/scenario\/scenario.yaml/$T\/scenario.yaml}
cmd=${cmd//\/reports/$T}
cmd=${cmd//--speed realtime/--speed x3600}
cmd=${cmd/exec fleetbench/exec $FB}
cmd="$cmd --collect mqtt://127.0.0.1:$port --out $T/trace-\${JOB_COMPLETION_INDEX}.jsonl"

SHARDS=4
for i in 0 1 2 3; do
  (JOB_COMPLETION_INDEX=$i SHARDS=$SHARDS sh -c "$cmd") 2> "$T/shard-$i.err" &
  spids[$i]=$!
done
for i in 0 1 2 3; do
  wait "${spids[$i]}" || fail "shard $i exited $?: $(cat "$T/shard-$i.err")"
done
ok "4 shard processes ran the manifest's command"
# the pilot's LoRaWAN gateways are per site: by site, no shard shares (and renames) a gateway
for i in 0 1 2 3; do
  grep -q 'shares .* gateway' "$T/shard-$i.err" && fail "shard $i cut a LoRaWAN site: $(cat "$T/shard-$i.err")"
done

"$FB" run "$T/scenario.yaml" --speed x3600 --collect "mqtt://127.0.0.1:$port" --quiet \
  --out "$T/single.jsonl" --report "$T/single.json" || fail "single run failed"

"$FB" report merge "$T"/shard-0.json "$T"/shard-1.json "$T"/shard-2.json "$T"/shard-3.json \
  > "$T/total.json" 2> "$T/merge.err" || fail "merge failed: $(cat "$T/merge.err")"

python3 - "$T/single.json" "$T/total.json" "$T" <<'EOF' || fail "merged report differs from the single run"
import json, sys
single, total = (json.load(open(p)) for p in sys.argv[1:3])
d = sys.argv[3]
def counts(r):
    t = r["bench"]["total"]
    return {k: t[k] for k in ("expected", "received", "lost", "duplicated", "out_of_order",
                              "wrong_values", "undecodable", "unexpected")}
cs, ct = counts(single), counts(total)
assert cs == ct, (cs, ct)
assert cs["expected"] == single["samples"] and cs["received"] == cs["expected"], cs
assert total["samples"] == single["samples"], (total["samples"], single["samples"])
assert total["devices"] == single["devices"]
for k in ("samples_by_type", "samples_by_site"):
    assert total[k] == single[k], (k, total[k], single[k])
bt_s = single["bench"]["protocols"]["mqtt"]["by_type"]
bt_t = total["bench"]["protocols"]["mqtt"]["by_type"]
assert {k: v["received"] for k, v in bt_s.items()} == {k: v["received"] for k, v in bt_t.items()}
assert total["bench"]["total"]["latency_us"]["count"] == cs["received"]
# each shard's collector subscribes to its own fleets' sites and types only: it sees the other
# shards' devices of those fleets (set aside as foreign) but not the rest of the traffic
want = [["amp/vieux-port/noise/+"], ["amp/vieux-port/noise/+", "amp/vieux-port/bike-counter/+"],
        ["amp/vieux-port/bike-counter/+", "amp/aix-centre/waste/+"], ["amp/aix-centre/waste/+"]]
for i in range(4):
    s = json.load(open(f"{d}/shard-{i}.json"))
    m = s["bench"]["collectors"]["mqtt"]
    assert sorted(m["filters"]) == sorted(want[i]), (i, m["filters"])
    assert m["foreign"] < single["samples"] - s["samples"], (i, m["foreign"], s["samples"])
assert all(e["ok"] for e in total["expectations"]), total["expectations"]
print("merged counts", ct)
EOF
ok "merged shard reports equal the single run's counts (expected = received = $(python3 -c "import json;print(json.load(open('$T/single.json'))['samples'])"))"

sort "$T"/trace-[0-3].jsonl > "$T/union.sorted"
sort "$T/single.jsonl" > "$T/single.sorted"
cmp -s "$T/union.sorted" "$T/single.sorted" || fail "union of shard traces differs from the single trace"
ok "union of the 4 shard traces equals the single trace"
echo "0 failed"
