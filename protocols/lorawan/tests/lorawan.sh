#!/usr/bin/env bash
# End to end: `fleetbench run` with LoRaWAN fleets against the lora-packet oracle network server
# (ci/oracles/lns-oracle.js) on a free loopback port. OTAA joins of every device, confirmed
# uplinks all verified (MIC) and decrypted by lora-packet, one per trace sample (the sample that starts a
# device's join is kept and sent once joined);
# a LinkADRReq that moves the DR; an application downlink that dims a street light (seen in its
# next trace samples); DevNonce never reused across two runs with one --state file; bad
# `transports.lorawan` settings exit 2 with file:line:col; every uplink decodes to its trace sample
# (binary and LPP); DevStatusAns carries the model's battery and the downlink's SNR; two shards
# splitting a site use distinct gateway EUIs.
set -u
cd "$(dirname "$0")/../../.."
. ci/testlib.sh

# A keys file shared by the scenario and the oracle (the keys-file path of `keys:`).
lorawan_keys_csv 12 70b3d57ed00 > "$T/keys.csv"

# The oracle: LinkADRReq to DR3 with the 2nd uplink, a dimming command (binary codec: field 1
# dimmingLevel = 0x19 = 25 %) with the 3rd. Its stdin stays open until the script ends.
start_lns_oracle ns --keys "$T/keys.csv" --adr-after 2 --adr-dr 3 \
  --app-after 3 --app-port 10 --app-hex 0119
port=$lns_port

cat > "$T/lw.yaml" <<YAML
name: lorawan-e2e
seed: 11
start: 2026-06-01T22:00:00+02:00
duration: 20m
sites:
  - {id: port, name: "Vieux-Port", lat: 43.2951, lon: 5.3744, radius: 60m}
transports:
  lorawan:
    server: udp://127.0.0.1:$port
    gateways: {per_site: 1, height: 25m}
    activation: otaa
    region: EU868
    lorawan_version: 1.0.4
    keys: {file: $T/keys.csv}
    payload: binary
    confirmed: true
fleets:
  - {type: streetlight, count: 8, site: port, interval: 2m, transport: lorawan}
  - {type: noise, count: 4, site: port, interval: 2m, transport: lorawan}
YAML

$FB run "$T/lw.yaml" --speed max --out "$T/trace1.jsonl" --state "$T/state" > "$T/run1.out" 2> "$T/run1.err" ||
  fail "run 1 exited $?: $(cat "$T/run1.err")"
wait_lines "$T/ns.jsonl" '"event":"uplink"' "$(wc -l < "$T/trace1.jsonl")"
cp "$T/ns.jsonl" "$T/ns1.jsonl"
joins=$(grep -c '"event":"join"' "$T/ns.jsonl")
[ "$joins" -eq 12 ] || fail "expected 12 joins, got $joins"
grep '"event":"join"' "$T/ns.jsonl" | grep -q '"mic_ok":false' && fail "a join-request MIC failed"
ups=$(grep '"event":"uplink"' "$T/ns.jsonl" | grep -c '"mic_ok":true')
bad=$(grep '"event":"uplink"' "$T/ns.jsonl" | grep -c '"mic_ok":false')
[ "$bad" -eq 0 ] || fail "$bad uplinks failed the MIC"
samples=$(wc -l < "$T/trace1.jsonl")
# every sample is an uplink: the first sample of each device starts its join, waits for the
# join-accept and goes out with FCnt 0
[ "$ups" -eq "$samples" ] || fail "oracle saw $ups uplinks for $samples samples"
[ "$(grep '"event":"uplink"' "$T/ns.jsonl" | grep -c '"fcnt":0,')" -eq 12 ] || fail "not every device sent FCnt 0"
grep -q 'samples before join 12 (sent once joined 12, replaced 0)' "$T/run1.err" ||
  fail "kept samples: $(grep 'before join' "$T/run1.err")"
grep '"event":"uplink"' "$T/ns.jsonl" | grep '"fcnt":3,' | grep -q '"datr":"SF9BW125"' ||
  fail "no uplink moved to DR3 (SF9) after the LinkADRReq"
grep -q 'lorawan: joins requested 12, accepted 12, failed 0' "$T/run1.err" ||
  fail "summary: $(grep lorawan "$T/run1.err")"

# Every decrypted uplink decodes (the generated decoders/<type>.js, as a network server runs
# them) to the values of its sample in the trace, at the field's resolution.
node ci/oracles/lorawan-trace-check.js --ns "$T/ns1.jsonl" --trace "$T/trace1.jsonl" --keys "$T/keys.csv" \
  > "$T/check1.json" || fail "binary payloads vs trace: $(cat "$T/check1.json")"
grep -q "\"checked\":$ups,\"binary\":$ups," "$T/check1.json" || fail "not every uplink checked: $(cat "$T/check1.json")"

# The dimming command reached the street lights and the engine applied it.
# 12 join-accepts and an ACK for each of the 120 confirmed uplinks, every one in its window
grep -q 'lorawan: downlinks 132 (in window 132, late 0, unmatched 0, bad MIC 0, app 12)' "$T/run1.err" ||
  fail "downlinks: $(grep 'lorawan: downlinks' "$T/run1.err")"
grep -q 'lorawan: commands applied 8, rejected 4' "$T/run1.err" ||
  fail "commands (8 lights take it, 4 noise meters have no field 1 to write): $(grep 'lorawan: commands' "$T/run1.err")"
# ... and a later sample of each light shows dimmingLevel 25. This needs the runner to re-read
# hold_until() after each event of a batch (a join or confirmed uplink starts a wait mid-batch).
dimmed=$(grep '"dimmingLevel":25[,}]' "$T/trace1.jsonl" | grep -o '"device":"streetlight-[0-9]*"' | sort -u | wc -l)
[ "$dimmed" -eq 8 ] || fail "expected 8 dimmed street lights in the trace, got $dimmed (does harness/run.c honour a hold that starts mid-batch?)"

# Run 2, same state file: no DevNonce is reused (the oracle refuses repeats, as ChirpStack does).
$FB run "$T/lw.yaml" --speed max --out "$T/trace2.jsonl" --state "$T/state" > "$T/run2.out" 2> "$T/run2.err" ||
  fail "run 2 exited $?: $(cat "$T/run2.err")"
[ "$(grep -c '"event":"join"' "$T/ns.jsonl")" -eq 24 ] || fail "run 2 did not join every device once"
grep '"event":"join"' "$T/ns.jsonl" | grep -q '"nonce_reused":true' && fail "a DevNonce was reused"
grep -q 'lorawan: joins requested 12, accepted 12' "$T/run2.err" || fail "run 2 summary"

# Run 3, Cayenne LPP payloads (same state file: fresh DevNonces): decoded by a Cayenne LPP decoder
# in node, channel N = field N-1, equal to the trace at the LPP type's resolution (saturated at
# its range, as lpp.h documents).
wait_lines "$T/ns.jsonl" '"event":"uplink"' $((ups + $(wc -l < "$T/trace2.jsonl")))
n2=$(wc -l < "$T/ns.jsonl")
up2=$(grep -c '"event":"uplink"' "$T/ns.jsonl")
sed 's/payload: binary/payload: lpp/' "$T/lw.yaml" > "$T/lpp.yaml"
$FB run "$T/lpp.yaml" --speed max --out "$T/trace3.jsonl" --state "$T/state" > "$T/run3.out" 2> "$T/run3.err" ||
  fail "run 3 exited $?: $(cat "$T/run3.err")"
wait_lines "$T/ns.jsonl" '"event":"uplink"' $((up2 + $(wc -l < "$T/trace3.jsonl")))
tail -n +$((n2 + 1)) "$T/ns.jsonl" > "$T/ns3.jsonl"
ups3=$(grep '"event":"uplink"' "$T/ns3.jsonl" | grep -c '"fport":2,"mic_ok":true')
[ "$ups3" -eq "$(wc -l < "$T/trace3.jsonl")" ] || fail "run 3: $ups3 LPP uplinks"
node ci/oracles/lorawan-trace-check.js --ns "$T/ns3.jsonl" --trace "$T/trace3.jsonl" --keys "$T/keys.csv" \
  > "$T/check3.json" || fail "LPP payloads vs trace: $(cat "$T/check3.json")"
grep -q "\"checked\":$ups3,\"binary\":0,\"lpp\":$ups3," "$T/check3.json" || fail "not every LPP uplink checked: $(cat "$T/check3.json")"

# DevStatusAns through the whole transport: a second oracle asks every device for its status with
# its 2nd uplink; waste bins answer their sample's batteryLevel (0..1 as 1..254), street lights 0
# (external power, LoRaWAN 1.0.4 §5.5).
start_lns_oracle ds --keys "$T/keys.csv" --devstatus-after 2 --powe 20
dport=$lns_port
sed -e "s|udp://127.0.0.1:$port|udp://127.0.0.1:$dport|" -e 's/duration: 20m/duration: 10m/' \
    -e 's/{type: streetlight, count: 8,/{type: waste, count: 3,/' -e 's/{type: noise, count: 4,/{type: streetlight, count: 2,/' \
    "$T/lw.yaml" > "$T/ds.yaml"
$FB run "$T/ds.yaml" --speed max --out "$T/trace4.jsonl" --state "$T/state4" > "$T/run4.out" 2> "$T/run4.err" ||
  fail "run 4 exited $?: $(cat "$T/run4.err")"
wait_lines "$T/ds.jsonl" '"event":"uplink"' "$(wc -l < "$T/trace4.jsonl")"
node - "$T/ds.jsonl" "$T/trace4.jsonl" "$T/keys.csv" > "$T/ds.check" <<'JS' || fail "DevStatusAns: $(cat "$T/ds.check")"
"use strict";
const fs = require("fs");
const [nsF, trF, keysF] = process.argv.slice(2);
const lines = (f) => fs.readFileSync(f, "utf8").split("\n").filter((l) => l).map((l) => l.includes("{") ? JSON.parse(l) : l);
const dev = new Map(lines(keysF).slice(1).map((l) => [l.split(",")[1], +l.split(",")[0]]));
const trace = lines(trF);
let waste = 0, lights = 0, bad = [];
const ups = lines(nsF).filter((e) => e.event === "uplink");
for (const e of ups) {
  if (!e.fopts.startsWith("06")) continue;
  const idx = dev.get(e.dev_eui);
  const mine = trace.filter((r) => +r.device.split("-").pop() === idx && Date.parse(r.ts) <= Date.parse(e.time));
  const r = mine[mine.length - 1];
  const batt = parseInt(e.fopts.substr(2, 2), 16);
  let m = parseInt(e.fopts.substr(4, 2), 16) & 0x3f;
  if (m >= 32) m -= 64;
  // margin: the SNR the device heard the DevStatusReq at; it came with the ACK of the previous
  // uplink, whose path it crossed back: that uplink's lsnr + powe 20 - the device's 14 dBm
  const prev = ups.find((u) => u.dev_eui === e.dev_eui && u.fcnt === e.fcnt - 1);
  const want = r.type === "waste" ? 1 + Math.round(r.values.batteryLevel * 253) : 0;
  if (r.type === "waste") waste++; else lights++;
  if (batt !== want || !prev || prev.lsnr >= 10 || Math.abs(m - (prev.lsnr + 6)) > 0.55)
    bad.push({ device: r.device, seq: r.seq, batt, want, margin: m, lsnr: prev && prev.lsnr });
}
console.log(JSON.stringify({ waste, lights, bad }));
process.exit(bad.length || waste !== 3 || lights !== 2 ? 1 : 0);
JS

# Sharding: by site (the default with per-site gateways) the one site stays whole: shard 1/2 has
# no devices, and says so. With --shard-by device, --shard 0/2 and 1/2 run at once against one
# server split the site's devices. Each shard speaks for the site's gateway under its own EUI
# (shard 1: 02fbffff..., warned), so the server routes each shard's downlinks to it: every device
# of both shards joins, and every uplink decodes to its sample in that shard's trace.
$FB check "$T/lw.yaml" --shard 1/2 | grep -q 'shard 1/2 (by site): devices \[12, 12), 0 devices' ||
  fail "by site, the one site is not kept whole: $($FB check "$T/lw.yaml" --shard 1/2 | grep shard)"

start_lns_oracle sh --keys "$T/keys.csv"
sport=$lns_port
sed -e "s|udp://127.0.0.1:$port|udp://127.0.0.1:$sport|" -e 's/duration: 20m/duration: 10m/' "$T/lw.yaml" > "$T/sh.yaml"
$FB run "$T/sh.yaml" --speed max --shard 0/2 --shard-by device --out "$T/sh0.jsonl" --state "$T/sh0.state" > /dev/null 2> "$T/sh0.err" &
sh0=$!
$FB run "$T/sh.yaml" --speed max --shard 1/2 --shard-by device --out "$T/sh1.jsonl" --state "$T/sh1.state" > /dev/null 2> "$T/sh1.err" ||
  fail "shard 1 exited $?: $(cat "$T/sh1.err")"
wait $sh0 || fail "shard 0 exited: $(cat "$T/sh0.err")"
cat "$T/sh0.jsonl" "$T/sh1.jsonl" > "$T/sh.trace"
wait_lines "$T/sh.jsonl" '"event":"uplink"' "$(wc -l < "$T/sh.trace")"
gws=$(grep '"event":"pull_data"' "$T/sh.jsonl" | grep -o '"gw":"[0-9a-f]*"' | sort -u | tr '\n' ' ')
[ "$gws" = '"gw":"02fbfffe00000000" "gw":"02fbffff00000000" ' ] ||
  fail "shard gateways: $(grep pull_data "$T/sh.jsonl")"
grep -q "shard 1 shares 1 gateway(s) with other shards.*'02fbffff00000000'" "$T/sh1.err" || fail "no shard warning: $(cat "$T/sh1.err")"
grep -q 'shares' "$T/sh0.err" && fail "shard 0 renamed its gateway"
for k in 0 1; do
  grep -q 'lorawan: joins requested 6, accepted 6, failed 0' "$T/sh$k.err" || fail "shard $k joins: $(grep 'lorawan: joins' "$T/sh$k.err")"
done
node ci/oracles/lorawan-trace-check.js --ns "$T/sh.jsonl" --trace "$T/sh.trace" --keys "$T/keys.csv" \
  > "$T/sh.check" || fail "sharded payloads vs trace: $(cat "$T/sh.check")"
grep -q "\"checked\":$(wc -l < "$T/sh.trace")," "$T/sh.check" || fail "sharded uplinks missing: $(cat "$T/sh.check")"

# Bad settings: located errors, exit 2.
sed 's/activation: otaa/activation: otta/' "$T/lw.yaml" > "$T/bad.yaml"
$FB run "$T/bad.yaml" > /dev/null 2> "$T/bad.err"
rc=$?
[ "$rc" -eq 2 ] || fail "bad activation: exit $rc"
grep -q "bad.yaml:[0-9]*:[0-9]*: error: .*'otta'" "$T/bad.err" || fail "bad activation message: $(cat "$T/bad.err")"
echo "ok: 12 devices joined three times without DevNonce reuse, $ups binary + $ups3 LPP uplinks verified by lora-packet and decoded to the trace's values, 8 lights dimmed, DevStatusAns battery and margin checked, 2 shards with distinct gateway EUIs"
