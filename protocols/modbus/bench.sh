#!/usr/bin/env bash
# Modbus TCP figures for `make bench` (called by ci/bench.sh with env B = build folder); prints
# `name value unit` lines. 1 000 simulated devices served by `fleetbench run` (gateway layout,
# 200 units on each of 5 ports, realtime), 100 client connections each reading 10 holding
# registers (FC 03) in a closed loop, one request in flight per connection; then the same load
# against a select()-based libmodbus 3.1.6 server and npm modbus-serial's ServerTCP, and finally
# fleetbench at half the libmodbus server's throughput. About 30 s in all.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
FB=$B/fleetbench
SECS=${MODBUS_BENCH_SECS:-5}
T=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT

cc -O2 -o "$T/load" protocols/modbus/bench/load.c
cc -O2 $(pkg-config --cflags libmodbus) -o "$T/lmb" protocols/modbus/bench/libmodbus_server.c \
   $(pkg-config --libs libmodbus)

# Waits until FILE has N lines matching RE (polling, 20 s at most).
wait_lines() {
  local i
  for i in $(seq 400); do
    [ "$(grep -c -E "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
    sleep 0.05
  done
  echo "modbus bench: timed out waiting for /$2/ in $1" >&2
  cat "$1" >&2
  return 1
}
field() { sed -n "s/.* $2 \([0-9.]*\).*/\1/p" <<<"$1"; }
emit() {  # prefix result
  echo "$1_rps $(field "$2" rps) req/s"
  echo "$1_p50 $(field "$2" p50_us) us"
  echo "$1_p99 $(field "$2" p99_us) us"
  [ "$(field "$2" errors)" = 0 ] || { echo "modbus bench: $1: bad replies: $2" >&2; return 1; }
}

cat > "$T/s.yaml" <<'YAML'
name: modbus-bench
seed: 1
start: 2026-06-01T12:00:00+02:00
duration: 1d
sites:
  - {id: s1, name: "Site 1", lat: 43.2951, lon: 5.3744, radius: 2km}
transports:
  modbus: {listen: "127.0.0.1:0", layout: gateway, units_per_port: 200}
fleets:
  - {type: water-level, count: 500, site: s1, interval: 10s, transport: modbus}
  - {type: noise, count: 500, site: s1, interval: 10s, transport: modbus}
YAML
$FB run "$T/s.yaml" --speed realtime > "$T/fb.out" 2> "$T/fb.err" &
fb=$!
pids+=($fb)
wait_lines "$T/fb.err" 'modbus: listening on 127.0.0.1:[0-9]+' 5
ports=$(sed -n 's/.*modbus: listening on 127.0.0.1:\([0-9]*\),.*/\1/p' "$T/fb.err" | paste -sd,)
fbr=$("$T/load" 127.0.0.1 "$ports" 100 "$SECS" 0 200)

"$T/lmb" 0 > "$T/lmb.out" &
pids+=($!)
wait_lines "$T/lmb.out" 'listening on [0-9]+' 1
lmr=$("$T/load" 127.0.0.1 "$(sed -n 's/listening on //p' "$T/lmb.out")" 100 "$SECS" 0 200)

node ci/oracles/modbus-server.js > "$T/node.out" &
pids+=($!)
wait_lines "$T/node.out" 'listening on [0-9]+' 1
ndr=$("$T/load" 127.0.0.1 "$(sed -n 's/listening on //p' "$T/node.out")" 100 "$SECS" 0 200)

half=$(awk -v r="$(field "$lmr" rps)" 'BEGIN { printf "%d", r / 2 }')
hfr=$("$T/load" 127.0.0.1 "$ports" 100 "$SECS" "$half" 200)

emit modbus_fleetbench_1000dev_100conn "$fbr"
emit modbus_libmodbus_select_100conn "$lmr"
emit modbus_modbus_serial_100conn "$ndr"
awk -v a="$(field "$fbr" rps)" -v b="$(field "$lmr" rps)" -v c="$(field "$ndr" rps)" 'BEGIN {
  printf "modbus_ratio_vs_libmodbus %.2f x\nmodbus_ratio_vs_modbus_serial %.2f x\n", a / b, a / c }'
echo "modbus_fleetbench_half_libmodbus_load_target $half req/s"
emit modbus_fleetbench_half_libmodbus_load "$hfr"
kill -INT "$fb"
wait "$fb" || true
exit 0
