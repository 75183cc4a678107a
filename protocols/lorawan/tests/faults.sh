#!/usr/bin/env bash
# Injected faults over LoRaWAN, end to end against the lora-packet oracle network server
# (ci/oracles/lns-oracle.js) on a free loopback port:
#  - bad_mic: each marked sample reaches the server once, with a MIC that does not verify;
#  - reboot: each rebooted device joins again (fresh DevNonce) and starts over at FCnt 0;
#  - site_dark: no uplink of the dark window reaches the server (the gateways hear nothing, joins
#    and retransmissions included);
#  - offline (a device fault): its samples never leave the device.
set -u
cd "$(dirname "$0")/../../.."
. ci/testlib.sh

lorawan_keys_csv 8 70b3d57ed01 > "$T/keys.csv"
start_lns_oracle ns --keys "$T/keys.csv"
port=$lns_port

cat > "$T/lw.yaml" <<YAML
name: lorawan-faults
seed: 21
start: 2026-06-01T22:00:00+02:00
duration: 40m
sites:
  - {id: port, lat: 43.2951, lon: 5.3744, radius: 60m}
transports:
  lorawan:
    server: udp://127.0.0.1:$port
    gateways: {per_site: 1, height: 25m}
    activation: otaa
    region: EU868
    lorawan_version: 1.0.4
    keys: {file: $T/keys.csv}
    payload: binary
    confirmed: false         # no retransmissions: each sample is one frame, exactly countable
fleets:
  - type: noise
    count: 8
    site: port
    interval: 2m
    transport: lorawan
    faults:
      - {kind: bad_mic, rate: 0.1, from: 4m}
      - {kind: reboot, devices: [noise-000001, noise-000006], from: 10m, for: 5m}
      - {kind: site_dark, site: port, from: 20m, for: 6m}
      - {kind: offline, devices: [noise-000003], from: 30m, for: 6m}
YAML

$FB run "$T/lw.yaml" --speed max --out "$T/trace.jsonl" --report "$T/rep.json" > "$T/run.out" 2> "$T/run.err" ||
  fail "run exited $?: $(cat "$T/run.err")"
n=$(wc -l < "$T/trace.jsonl")
bad=$(grep -c '"fault":"bad_mic"' "$T/trace.jsonl")
reb=$(grep -c '"fault":"reboot"' "$T/trace.jsonl")
dark=$(grep -c '"fault":"site_dark"' "$T/trace.jsonl")
off=$(grep -c '"fault":"offline"' "$T/trace.jsonl")
[ "$n" -eq 160 ] || fail "expected 160 samples, got $n"
[ "$reb" -eq 2 ] || fail "expected 2 reboots, got $reb"
[ "$dark" -eq 24 ] || fail "expected 24 dark samples (8 devices x 3), got $dark"
[ "$off" -eq 3 ] || fail "expected 3 offline samples, got $off"
[ "$bad" -gt 0 ] || fail "no bad_mic drawn"
# every other sample arrives once with a good MIC
good=$((n - dark - off - bad))
wait_lines "$T/ns.jsonl" '"event":"uplink".*"mic_ok":true' "$good"
wait_lines "$T/ns.jsonl" '"mic_ok":false' "$bad"
[ "$(grep '"event":"uplink"' "$T/ns.jsonl" | grep -c '"mic_ok":true')" -eq "$good" ] ||
  fail "$(grep '"event":"uplink"' "$T/ns.jsonl" | grep -c '"mic_ok":true') good uplinks, expected $good"
[ "$(grep '"event":"uplink"' "$T/ns.jsonl" | grep -c '"mic_ok":false')" -eq "$bad" ] ||
  fail "$(grep -c '"mic_ok":false' "$T/ns.jsonl") bad-MIC uplinks, expected $bad"
# 8 first joins + 2 after the reboots, no DevNonce reused, and a session starting at FCnt 0 each
[ "$(grep -c '"event":"join"' "$T/ns.jsonl")" -eq 10 ] || fail "expected 10 joins: $(grep -c '"event":"join"' "$T/ns.jsonl")"
grep '"event":"join"' "$T/ns.jsonl" | grep -q '"nonce_reused":true' && fail "a DevNonce was reused"
[ "$(grep '"event":"uplink"' "$T/ns.jsonl" | grep '"mic_ok":true' | grep -c '"fcnt":0,')" -eq 10 ] ||
  fail "expected 10 sessions starting at FCnt 0"
# the trace's seq restarts at 0 on the reboot line
grep '"fault":"reboot"' "$T/trace.jsonl" | grep -q -v '"seq":0,' && fail "a reboot line does not restart seq"
echo "lorawan faults: ok ($bad bad MIC, $reb reboots, $dark dark, $off offline of $n samples)"
