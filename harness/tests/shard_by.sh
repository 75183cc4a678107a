#!/usr/bin/env bash
# Shards by site: which fleets a transport binds to their site, where `check` and `run` cut, and
# --shard-by. A site's LoRaWAN devices (gateways per site) and per-site Sparkplug devices stay in
# one shard whatever the fleets' order; other fleets are cut anywhere; a LoRaWAN `gateways:` list
# or per-device Sparkplug binds nothing; --shard-by device cuts anywhere; a bad value is exit 2.
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh

# segment "SCENARIO i/N [args]" -> "by FROM TO"
segment() {
  local y=$1 s=$2
  shift 2
  "$FB" check "$y" --shard "$s" "$@" | sed -n 's/.*shard [0-9]*\/[0-9]* (by \([a-z]*\)): devices \[\([0-9]*\), \([0-9]*\)).*/\1 \2 \3/p'
}

scenario_head() {
  cat <<YAML
name: shard-by
seed: 3
start: 2026-06-01T00:00:00Z
duration: 1h
sites:
  - {id: a, lat: 43.30, lon: 5.37, radius: 1km}
  - {id: b, lat: 43.53, lon: 5.45, radius: 1km}
YAML
}

# Sparkplug per site, interleaved with JSON fleets: a's streetlights [0, 30) and [50, 60) span
# [0, 60); b's [60, 90). The JSON fleet [30, 50) sits inside a's span.
{ scenario_head; cat <<'YAML'
transports:
  mqtt: {url: "mqtt://127.0.0.1:1", connection: per-site}
fleets:
  - {type: streetlight, count: 30, site: a, transport: mqtt, codec: sparkplug}
  - {type: noise, count: 20, site: b, transport: mqtt, codec: json}
  - {type: streetlight, count: 10, site: a, transport: mqtt, codec: sparkplug}
  - {type: streetlight, count: 30, site: b, transport: mqtt, codec: sparkplug}
  - {type: noise, count: 30, site: a, transport: mqtt, codec: json}
YAML
} > "$T/spb.yaml"
# 120 devices, 4 shards: cuts 30 -> 60 (inside a's [0, 60), nearer its end), 60 stays, 90 stays
want=("site 0 60" "site 60 60" "site 60 90" "site 90 120")
for i in 0 1 2 3; do
  got=$(segment "$T/spb.yaml" "$i/4")
  [ "$got" = "${want[$i]}" ] || fail "per-site Sparkplug, shard $i/4: '$got', expected '${want[$i]}'"
done
ok "per-site Sparkplug fleets keep their site in one shard across the fleets between them"
[ "$(segment "$T/spb.yaml" 1/4 --shard-by device)" = "device 30 60" ] ||
  fail "--shard-by device: $(segment "$T/spb.yaml" 1/4 --shard-by device)"
sed 's/connection: per-site/connection: per-device/' "$T/spb.yaml" > "$T/spd.yaml"
[ "$(segment "$T/spd.yaml" 1/4)" = "device 30 60" ] ||
  fail "per-device Sparkplug should bind nothing: $(segment "$T/spd.yaml" 1/4)"
ok "per-device Sparkplug and --shard-by device cut anywhere"

# LoRaWAN: gateways per site bind, a gateway list does not.
{ scenario_head; cat <<'YAML'
transports:
  lorawan: {server: "udp://127.0.0.1:1", gateways: {per_site: 1}, activation: abp}
fleets:
  - {type: waste, count: 10, site: a, transport: lorawan}
  - {type: waste, count: 10, site: b, transport: lorawan}
YAML
} > "$T/lw.yaml"
# 20 devices, 4 shards: cut 5 -> 10 (a tie of 5 and 5 goes up), 10 stays, 15 -> 20
want=("site 0 10" "site 10 10" "site 10 20" "site 20 20")
for i in 0 1 2 3; do
  got=$(segment "$T/lw.yaml" "$i/4")
  [ "$got" = "${want[$i]}" ] || fail "LoRaWAN per-site gateways, shard $i/4: '$got', expected '${want[$i]}'"
done
sed 's/gateways: {per_site: 1}/gateways: [{eui: "0102030405060708", lat: 43.4, lon: 5.4}]/' "$T/lw.yaml" > "$T/lwl.yaml"
[ "$(segment "$T/lwl.yaml" 0/4)" = "device 0 5" ] || fail "a gateway list should bind nothing: $(segment "$T/lwl.yaml" 0/4)"
ok "LoRaWAN gateways per site keep a site in one shard; a gateway list does not bind"

# An empty shard runs, and says why; the report says by what.
expect_code 0 "empty shard" -- "$FB" run "$T/lw.yaml" --shard 3/4 --duration 1m --report "$T/r.json"
expect_err "shard 3/4 has no devices: shards keep each site's LoRaWAN" "empty shard warning"
[ "$(json_field "$T/r.json" 'r.shard.by + " " + r.shard.devices')" = "site 0" ] ||
  fail "report shard: $(json_field "$T/r.json" 'r.shard')"

expect_code 2 "bad --shard-by" -- "$FB" run "$T/lw.yaml" --shard-by sites
expect_err "invalid --shard-by 'sites': expected 'site' or 'device'" "bad --shard-by message"
expect_code 2 "bad --shard-by (check)" -- "$FB" check "$T/lw.yaml" --shard-by ''
ok "empty shard, report, bad values"
