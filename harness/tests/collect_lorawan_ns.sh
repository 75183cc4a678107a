#!/usr/bin/env bash
# `run --collect-lorawan`: the simulated gateways send to a network server (ci/oracles/ns-bridge.js:
# lora-packet verifies the MIC and decrypts each uplink, one per (DevAddr, FCnt) across two
# gateways) that publishes ChirpStack v4 or The Things Stack v3 integration events to a real
# mosquitto; the bench counts what came out of it. For each format: every uplink the fleet sent is
# received once with its values (expected == received, nothing lost, duplicated or wrong), the
# scenario's expectations are met (exit 0). ChirpStack's status events (another event type) are
# counted and ignored. MQTT fleets of the same scenario are reconciled when --collect is given too,
# and are not expected at all when it is not. When the server drops every 10th uplink, the report
# counts exactly those lost and the expectation fails (exit 3). Bad URLs and --local exit 2.
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh
# field REPORT EXPR: a value of the JSON report (a python expression over r)
field() { python3 -c "import json, sys; r = json.load(open(sys.argv[1])); print($2)" "$1"; }

mq=$(free_port)
mosquitto_conf "$mq" "max_queued_messages 0" "max_inflight_messages 0" > "$T/mosquitto.conf"
start_mosquitto "$T/mosquitto.conf" "$mq"

# scenario NS_PORT: 30 ABP devices heard by two gateways (binary and LPP payloads), 360 uplinks
# in an hour, plus 4 MQTT noise meters on the same broker
scenario() {
  cat <<YAML
name: collect-lorawan-ns
seed: 7
start: 2026-06-01T08:00:00Z
duration: 1h
sites:
  - {id: port, lat: 43.2951, lon: 5.3744, radius: 60m}
transports:
  lorawan:
    server: udp://127.0.0.1:$1
    gateways: {per_site: 2, height: 25m}
    activation: abp
    payload: binary
  mqtt: {url: "mqtt://127.0.0.1:$mq", qos: 1, topic: "city/{site}/{type}/{device}"}
fleets:
  - {type: waste, count: 20, site: port, interval: 5m, transport: lorawan}
  - {type: noise, count: 10, site: port, interval: 5m, transport: lorawan, codec: lpp}
  - {type: noise, count: 4, site: port, interval: 5m, transport: mqtt, codec: json}
expect: {loss_max: 0, errors_max: 0}
YAML
}
scenario 1700 > "$T/keys.yaml"
"$FB" keys "$T/keys.yaml" --format csv > "$T/keys.csv" || die "fleetbench keys"

# bridge NAME ARGS...: starts ns-bridge.js, waits for its port (in $ns_port)
bridge() {
  local name=$1
  shift
  node ci/oracles/ns-bridge.js --keys "$T/keys.csv" --mqtt-port "$mq" "$@" > "$T/$name.jsonl" 2> "$T/$name.err" &
  bridge_pid=$!
  pids+=($bridge_pid)
  wait_lines "$T/$name.jsonl" '"event":"listening"' 1
  ns_port=$(sed -n 's/.*"event":"listening","port":\([0-9]*\).*/\1/p' "$T/$name.jsonl")
  scenario "$ns_port" > "$T/$name.yaml"
}
stop_bridge() { kill "$bridge_pid"; wait "$bridge_pid" 2>/dev/null; }

# ---- ChirpStack v4, with --collect for the MQTT fleet, all event types subscribed
bridge cs --format chirpstack --status-events
"$FB" run "$T/cs.yaml" --speed x1200 --grace 2s --quiet --report "$T/cs.json" \
  --collect "mqtt://127.0.0.1:$mq" --collect-lorawan "chirpstack://127.0.0.1:$mq" \
  --collect-lorawan-topic 'application/+/device/+/event/+' > "$T/cs.out" 2>&1
rc=$?
stop_bridge
[ "$rc" = 0 ] || fail "chirpstack: exit $rc: $(tail -20 "$T/cs.out")"
published=$(grep -c '"event":"published"' "$T/cs.jsonl")
[ "$(grep -c '"gateways":2' "$T/cs.jsonl")" = "$published" ] || fail "chirpstack: not every uplink heard by both gateways"
got=$(field "$T/cs.json" "' '.join(str(r['bench']['protocols']['lorawan'][k]) for k in ('expected', 'received', 'lost', 'duplicated', 'wrong_values', 'undecodable', 'unexpected'))")
[ "$got" = "360 360 0 0 0 0 0" ] && [ "$published" = 360 ] \
  && ok "chirpstack: 360 uplinks expected, 360 received from the integration with their values, none lost, duplicated or wrong" \
  || fail "chirpstack: expected/received/lost/dup/wrong/undecodable/unexpected = $got, bridge published $published"
got=$(field "$T/cs.json" "' '.join(str(r['bench']['collectors']['lorawan-ns'][k]) for k in ('uplinks', 'other_events', 'bad_json', 'unknown_device'))")
[ "$got" = "360 30 0 0" ] && ok "chirpstack: the 30 status events counted and ignored" \
  || fail "chirpstack: collector uplinks/other_events/bad_json/unknown = $got"
got=$(field "$T/cs.json" "(lambda m: (m['expected'], m['received'], m['lost']))(r['bench']['protocols']['mqtt'])")
[ "$got" = "(48, 48, 0)" ] && ok "--collect and --collect-lorawan together: the MQTT fleet reconciled too" \
  || fail "mqtt with both collectors: $got"

# ---- The Things Stack v3, --collect-lorawan alone: the MQTT fleet is not expected
bridge tts --format tts
"$FB" run "$T/tts.yaml" --speed x1200 --grace 2s --quiet --report "$T/tts.json" \
  --collect-lorawan "tts://127.0.0.1:$mq" > "$T/tts.out" 2>&1
rc=$?
stop_bridge
[ "$rc" = 0 ] || fail "tts: exit $rc: $(tail -20 "$T/tts.out")"
got=$(field "$T/tts.json" "' '.join(str(r['bench']['protocols']['lorawan'][k]) for k in ('expected', 'received', 'lost', 'duplicated', 'wrong_values', 'undecodable', 'unexpected'))")
[ "$got" = "360 360 0 0 0 0 0" ] \
  && ok "tts: 360 uplinks expected, 360 received with their values, none lost, duplicated or wrong" \
  || fail "tts: expected/received/lost/dup/wrong/undecodable/unexpected = $got"
[ "$(field "$T/tts.json" "sorted(r['bench']['protocols'])")" = "['lorawan']" ] \
  && ok "tts: without --collect the MQTT fleet's messages are not expected (none counted lost)" \
  || fail "tts: protocols reconciled: $(field "$T/tts.json" "sorted(r['bench']['protocols'])")"

# ---- The server drops every 10th uplink: exactly those are lost, the expectation fails
bridge drop --format chirpstack --drop-every 10
"$FB" run "$T/drop.yaml" --speed x1200 --grace 1s --quiet --report "$T/drop.json" \
  --collect-lorawan "chirpstack://127.0.0.1:$mq" > "$T/drop.out" 2>&1
rc=$?
stop_bridge
dropped=$(grep -c '"event":"dropped"' "$T/drop.jsonl")
published=$(grep -c '"event":"published"' "$T/drop.jsonl")
[ "$dropped" = 36 ] || fail "drop: the bridge dropped $dropped uplinks, wanted 36 of 360"
got=$(field "$T/drop.json" "' '.join(str(r['bench']['protocols']['lorawan'][k]) for k in ('expected', 'received', 'lost', 'wrong_values'))")
[ "$got" = "360 $published $dropped 0" ] \
  && ok "drop: the $dropped uplinks the server dropped are lost, the $published it published received" \
  || fail "drop: expected/received/lost/wrong = $got (bridge published $published, dropped $dropped)"
[ "$rc" = 3 ] && grep -q "expectation 'loss_max' not met" "$T/drop.out" \
  && ok "drop: loss_max not met (exit 3)" || fail "drop: exit $rc: $(grep expectation "$T/drop.out")"

# ---- usage errors
"$FB" run "$T/tts.yaml" --collect-lorawan "chirpstacks://127.0.0.1:$mq" > "$T/bad.out" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -q "error: --collect-lorawan 'chirpstacks://127.0.0.1:$mq': unknown scheme; expected chirpstack://" "$T/bad.out" \
  && ok "an unknown scheme: exit 2, the accepted forms named" || fail "bad scheme: exit $rc: $(cat "$T/bad.out")"
"$FB" run "$T/tts.yaml" --local --collect-lorawan "tts://127.0.0.1:$mq" > "$T/local.out" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -q "error: --local and --collect-lorawan exclude each other" "$T/local.out" \
  && ok "--local with --collect-lorawan: exit 2" || fail "--local: exit $rc: $(cat "$T/local.out")"
finish
