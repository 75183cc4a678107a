#!/usr/bin/env bash
# --collect over TLS, as against a platform's broker with a private CA: a mosquitto TLS listener
# with a certificate from a CA this test makes (openssl CLI), the fleet publishing over mqtts://
# (the transport's own tls:), the collector trusting that CA with --collect-ca: every message
# reconciled. Without --collect-ca the collector cannot verify the broker and the run says so
# (exit 1); with a listener that requires client certificates, --collect-cert/--collect-key get
# the collector in. Bad option combinations: exit 2.
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh

cd "$T"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=fb-test-ca 2> /dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2> /dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
  -extfile san.ext 2> /dev/null
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=fb-collector 2> /dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 2> /dev/null
cd - > /dev/null
[ -s "$T/server.pem" ] && [ -s "$T/client.pem" ] || die "openssl could not make the certificates"

plain=$(free_port)
tls=$(free_port)
mtls=$(free_port)
mosquitto_conf "$plain" \
  "listener $tls 127.0.0.1" "cafile $T/ca.pem" "certfile $T/server.pem" "keyfile $T/server.key" \
  "listener $mtls 127.0.0.1" "cafile $T/ca.pem" "certfile $T/server.pem" "keyfile $T/server.key" \
  "require_certificate true" > "$T/mosquitto.conf"
start_mosquitto "$T/mosquitto.conf" "$plain" "$tls" "$mtls"

scenario() {  # PORT [transport tls extra]
  cat <<YAML
name: collect-tls
seed: 5
start: 2026-06-01T08:00:00Z
duration: 30m
sites:
  - {id: port, lat: 43.2951, lon: 5.3744, radius: 500m}
transports:
  mqtt:
    url: "mqtts://127.0.0.1:$1"
    qos: 1
    topic: "amp/{site}/{type}/{device}"
    tls: {ca: "$T/ca.pem"$2}
fleets:
  - {type: noise, count: 5, site: port, interval: 1m, transport: mqtt, codec: json}
expect: {loss_max: 0, errors_max: 0}
YAML
}
scenario "$tls" "" > "$T/s.yaml"
scenario "$mtls" ", cert: \"$T/client.pem\", key: \"$T/client.key\"" > "$T/m.yaml"

expect_code 0 "collect over TLS with --collect-ca" -- "$FB" run "$T/s.yaml" --speed x600 --quiet \
  --collect "mqtts://127.0.0.1:$tls" --collect-ca "$T/ca.pem" --report "$T/r.json"
[ "$(json_field "$T/r.json" 'r.bench.total.expected + " " + r.bench.total.received + " " + r.bench.total.lost')" = "150 150 0" ] ||
  fail "TLS collection: $(json_field "$T/r.json" 'r.bench.total')"

expect_code 1 "the broker's CA not trusted" -- "$FB" run "$T/s.yaml" --speed x600 --quiet \
  --collect "mqtts://127.0.0.1:$tls"
expect_err "error: mqtt .*: unknown ca" "the collector names the TLS failure, even with --quiet"

expect_code 0 "client certificate" -- "$FB" run "$T/m.yaml" --speed x600 --quiet \
  --collect "mqtts://127.0.0.1:$mtls" --collect-ca "$T/ca.pem" --collect-cert "$T/client.pem" \
  --collect-key "$T/client.key" --report "$T/m.json"
[ "$(json_field "$T/m.json" 'r.bench.total.received')" = 150 ] || fail "mutual TLS: $(json_field "$T/m.json" 'r.bench.total')"

expect_code 2 "missing CA file" -- "$FB" run "$T/s.yaml" --collect "mqtts://127.0.0.1:$tls" --collect-ca "$T/nope.pem"
expect_err "--collect-ca '$T/nope.pem': No such file or directory" "missing CA named"
expect_code 2 "certificate without key" -- "$FB" run "$T/s.yaml" --collect "mqtts://127.0.0.1:$tls" \
  --collect-cert "$T/client.pem"
expect_err "--collect-cert and --collect-key go together" "cert without key named"
expect_code 2 "CA without a collector" -- "$FB" run "$T/s.yaml" --collect-ca "$T/ca.pem"
expect_err "go with --collect or --collect-lorawan" "CA without collector named"
