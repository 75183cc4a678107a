#!/usr/bin/env bash
# Transport-level failures count as errors: the report's COUNTS carry "transport_errors" (MQTT
# publishes failed + connects failed or refused, LoRaWAN PUSH_DATA timeouts, Modbus accept
# errors), per protocol and in total, from each transport's own counters, and `expect:
# {errors_max: 0}` fails on them. One mosquitto with two listeners: the fleet's asks for a
# password (only noise-000000 has one), the collector's (--collect) is open.
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh
keep_going

fleet_port=$(free_port); open_port=$(free_port)
while [ "$open_port" = "$fleet_port" ]; do open_port=$(free_port); done
mosquitto_passwd -b -c "$T/passwords" noise-000000 secret || die "mosquitto_passwd"
cat > "$T/mosquitto.conf" <<CONF
user $(id -un)
per_listener_settings true
listener $fleet_port 127.0.0.1
allow_anonymous false
password_file $T/passwords
listener $open_port 127.0.0.1
allow_anonymous true
max_queued_messages 0
CONF
start_mosquitto "$T/mosquitto.conf" "$fleet_port" "$open_port"

# scenario USERNAME: two devices a second apart for 10 s, every message expected error-free
scenario() {
  cat <<YAML
name: transport-errors
seed: 1
start: 2026-06-01T00:00:00Z
duration: 10s
sites:
  - {id: s, lat: 43.3, lon: 5.4, radius: 100m}
fleets:
  - {type: noise, count: 2, site: s, interval: 1s, transport: mqtt, codec: json}
transports:
  mqtt: {url: "mqtt://127.0.0.1:$fleet_port", username: "$1", password: secret, qos: 1}
expect: {errors_max: 0}
YAML
}

# Both devices log in (one account): no transport error, errors_max met.
scenario noise-000000 > "$T/ok.yaml"
"$FB" run "$T/ok.yaml" --collect "mqtt://127.0.0.1:$open_port" --speed x10 --grace 2s \
  --report "$T/ok.json" > "$T/ok.out" 2>&1
rc=$?
[ "$rc" = 0 ] && ok "accepted: errors_max met (exit 0)" || { fail "accepted: exit $rc"; tail -20 "$T/ok.out"; }
[ "$(json_field "$T/ok.json" "[r.bench.total.transport_errors, r.bench.protocols.mqtt.transport_errors, r.bench.total.received].join(' ')")" = "0 0 20" ] \
  && ok "accepted: transport_errors 0 in total and for mqtt, every message received" \
  || { fail "accepted: $(json_field "$T/ok.json" "r.bench.total")"; }

# Each device logs in as itself: noise-000001 has no password, its connects are refused.
scenario '{device}' > "$T/refused.yaml"
"$FB" run "$T/refused.yaml" --collect "mqtt://127.0.0.1:$open_port" --speed x10 --grace 2s \
  --report "$T/refused.json" > "$T/refused.out" 2>&1
rc=$?
[ "$rc" = 3 ] && ok "refused: an expectation failed (exit 3)" || { fail "refused: exit $rc, wanted 3"; tail -20 "$T/refused.out"; }
grep -qE "expectation 'errors_max' not met: errors [1-9][0-9]* > 0 \(0 undecodable, 0 wrong values, 0 unexpected, [1-9][0-9]* transport\)" "$T/refused.out" \
  && ok "refused: errors_max named, the errors are the transport's" || { fail "refused: errors_max message"; grep expectation "$T/refused.out"; }
# the count is the transport's own: refused + failed connects + failed publishes
want=$(json_field "$T/refused.json" "r.transports.mqtt.connects_refused + r.transports.mqtt.connects_failed + r.transports.mqtt.pub_failed")
got=$(json_field "$T/refused.json" "[r.bench.total.transport_errors, r.bench.protocols.mqtt.transport_errors]")
[ "$want" -ge 1 ] && [ "$got" = "[$want,$want]" ] && ok "refused: transport_errors $want in total and for mqtt (the transport's refused connects)" \
  || fail "refused: transport_errors $got, the transport counted $want"
[ "$(json_field "$T/refused.json" "r.expectations.filter(e => !e.ok).map(e => e.name)")" = '["errors_max"]' ] \
  && ok "refused: the report's failed expectation is errors_max" || fail "refused: expectations $(json_field "$T/refused.json" "r.expectations")"

finish
