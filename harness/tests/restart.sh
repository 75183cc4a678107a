#!/usr/bin/env bash
# The target fails under load: the broker is stopped mid-run and started again on its
# persistence. The fleet's QoS 1 clients and the bench's collector reconnect with back-off and
# the run finishes with a true report: reconciliation finds every message the fleet sent
# (lost 0; duplicates allowed, at least once) and counts the reconnects. At QoS 0 the messages
# the outage swallowed are counted as lost, not hidden.
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh
keep_going

port=$(free_port)
mosquitto_conf "$port" "persistence true" "persistence_location $T/" "max_queued_messages 0" \
  "log_dest file $T/mosquitto.log" "log_type all" > "$T/mosquitto.conf"
published_at_least() { [ "$(published)" -ge "$1" ]; }
published() { grep -c 'Received PUBLISH from noise' "$T/mosquitto.log" 2>/dev/null; }
# report FILE FIELD: bench.protocols.mqtt.FIELD of a JSON report
report() { json_field "$1" "r.bench.protocols.mqtt['$2']"; }

# one_run QOS: runs 20 devices x 60 s at x10 (6 s of wall time) and restarts the broker after
# 300 of the 1200 messages
one_run() {
  local qos=$1
  cat > "$T/s$qos.yaml" <<YAML
name: restart-qos$qos
seed: 1
start: 2026-06-01T00:00:00Z
duration: 60s
sites:
  - {id: s, lat: 43.3, lon: 5.4, radius: 100m}
fleets:
  - {type: noise, count: 20, site: s, interval: 1s, transport: mqtt, codec: json}
transports:
  mqtt: {url: "mqtt://127.0.0.1:$port", connection: per-device, qos: $qos}
YAML
  : > "$T/mosquitto.log"
  $FB run "$T/s$qos.yaml" --collect "mqtt://127.0.0.1:$port" --speed x10 --grace 5s \
      --report "$T/r$qos.json" > "$T/run$qos.out" 2>&1 &
  local run=$!
  pids+=($run)
  poll 8 published_at_least 300 || { fail "qos $qos: the fleet did not publish"; cat "$T/run$qos.out"; return; }
  kill -TERM "$mosquitto_pid"; wait "$mosquitto_pid" 2>/dev/null
  local at=$(published)
  start_mosquitto "$T/mosquitto.conf" "$port"
  wait "$run"; rc=$?
  [ "$at" -lt 1200 ] && ok "qos $qos: the broker stopped mid-run (after $at of 1200 messages)" \
    || fail "qos $qos: the broker stopped only after $at messages"
  if [ "$rc" = 0 ]; then ok "qos $qos: the run finishes (exit 0)"; else fail "qos $qos: exit $rc"; tail -20 "$T/run$qos.out"; fi
}

start_mosquitto "$T/mosquitto.conf" "$port"

one_run 1
expected=$(report "$T/r1.json" expected); received=$(report "$T/r1.json" received); lost=$(report "$T/r1.json" lost)
[ "$expected" = 1200 ] && ok "qos 1: 1200 messages expected" || fail "qos 1: expected $expected, not 1200"
[ "$lost" = 0 ] && ok "qos 1: nothing lost across the restart (received $received)" || fail "qos 1: $lost lost"
grep -qE '^mqtt: 20 connections, [0-9]+ up; connects [0-9]+ ok, [0-9]+ failed, [0-9]+ refused; 20 reconnects' "$T/run1.out" \
  && ok "qos 1: every device connection reconnected once" || { fail "qos 1: reconnects"; grep '^mqtt' "$T/run1.out"; }
grep -qE '^mqtt collector: [1-9][0-9]* reconnects' "$T/run1.out" && ok "qos 1: the collector reconnected" \
  || { fail "qos 1: the collector reconnected"; grep 'collector' "$T/run1.out"; }

one_run 0
expected=$(report "$T/r0.json" expected); received=$(report "$T/r0.json" received); lost=$(report "$T/r0.json" lost)
[ "$expected" = 1200 ] && ok "qos 0: 1200 messages expected" || fail "qos 0: expected $expected, not 1200"
[ "$lost" -gt 0 ] && [ $((received + lost)) -eq "$expected" ] && ok "qos 0: the outage's losses are counted ($lost lost, $received received)" \
  || fail "qos 0: lost $lost, received $received of $expected"

finish
