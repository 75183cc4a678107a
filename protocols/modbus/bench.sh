#!/usr/bin/env bash
# Modbus TCP figures for `make bench` (called by ci/bench.sh with env B = build folder); prints
# `name value unit` lines, per-round figures on stderr.
#
# 1 000 simulated devices served by `fleetbench run` (gateway layout, 200 units on each of 5
# ports, realtime); 100 client connections each reading 10 holding registers (FC 03).
# 1. Throughput, closed loop (one request in flight per connection), in ROUNDS rounds with the
#    order of the three servers rotated each round: fleetbench, a select()-based libmodbus 3.1.6
#    server, npm modbus-serial's ServerTCP. Medians of requests/s and the client's p50/p99; the
#    CPU each server spends per request (/proc, user + system).
# 2. Latency at half the libmodbus server's median throughput: open loop, requests evenly spaced
#    (protocols/modbus/bench/load.c), a fresh fleetbench per round so that its own histogram
#    (request read -> reply handed to the kernel) covers that load only, and in the same rounds
#    the libmodbus server at the same load. The latency is from the request's write to the
#    kernel's receipt of the reply (SO_TIMESTAMPNS), so the generator's own wake-up delays are
#    not counted against the server; the latency at the generator's read is printed too
#    (`_app_`). Medians of the rounds; per round also the generator's lag behind its schedule
#    (p99) and the CPU time the hypervisor stole from this VM (/proc/stat "steal"), the two
#    measures of how much of a round's tail is the machine's rather than the server's.
# The machine is shared: rates move with the other processes' load; the CPU per request and the
# server-side latency move less. About 1.5 minutes with the defaults.
# Environment: MODBUS_BENCH_SECS (4 per measurement), MODBUS_BENCH_ROUNDS (3),
# MODBUS_BENCH_HALF_ROUNDS (5).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
FB=$B/fleetbench
SECS=${MODBUS_BENCH_SECS:-4}
ROUNDS=${MODBUS_BENCH_ROUNDS:-3}
HALF_ROUNDS=${MODBUS_BENCH_HALF_ROUNDS:-5}
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
field() { sed -n "s/.* $2 \([0-9.]*\).*/\1/p" <<<" $1"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
  if (NR == 0) { print 0; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)

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

# Starts fleetbench (name in $1); sets fb_pid and fb_ports.
start_fb() {
  $FB run "$T/s.yaml" --speed realtime > "$T/$1.out" 2> "$T/$1.err" &
  fb_pid=$!
  pids+=("$fb_pid")
  wait_lines "$T/$1.err" 'modbus: listening on 127.0.0.1:[0-9]+' 5
  fb_ports=$(sed -n 's/.*modbus: listening on 127.0.0.1:\([0-9]*\),.*/\1/p' "$T/$1.err" | paste -sd,)
}
# Stops fleetbench and prints its own latency quantiles "P50 P99" from the summary.
stop_fb() {
  kill -INT "$fb_pid"
  wait "$fb_pid" || true
  sed -n 's/.*latency p50 \([0-9]*\) us, p99 \([0-9]*\) us.*/\1 \2/p' "$T/$1.err" | tail -1
}
# Runs the load against PID's PORTS at RATE; prints the load's line plus " server_cpu_us X".
# The machine's steal and total ticks ("cpu" line of /proc/stat).
steal_ticks() { awk '/^cpu /{ print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
measure() {  # pid ports rate
  local c0 c1 s0 s1 out
  c0=$(cpu_ticks "$1")
  s0=$(steal_ticks)
  out=$("$T/load" 127.0.0.1 "$2" 100 "$SECS" "$3" 200)
  s1=$(steal_ticks)
  c1=$(cpu_ticks "$1")
  [ "$(field "$out" errors)" = 0 ] || { echo "modbus bench: bad replies: $out" >&2; return 1; }
  awk -v o="$out" -v d=$((c1 - c0)) -v n="$(field "$out" replies)" -v hz="$tck" -v s="$s0 $s1" \
    'BEGIN { split(s, a, " "); printf "%s server_cpu_us %.2f steal_pct %.1f\n", o, n ? d / hz * 1e6 / n : 0,
             (a[4] > a[2] ? (a[3] - a[1]) * 100 / (a[4] - a[2]) : 0) }'
}

# ---- 1. throughput, closed loop, rounds with the order rotated ----
start_fb fbfull
"$T/lmb" 0 > "$T/lmb.out" &
lmb_pid=$!
pids+=("$lmb_pid")
node ci/oracles/modbus-server.js > "$T/node.out" &
node_pid=$!
pids+=("$node_pid")
wait_lines "$T/lmb.out" 'listening on [0-9]+' 1
wait_lines "$T/node.out" 'listening on [0-9]+' 1
lmb_port=$(sed -n 's/listening on //p' "$T/lmb.out")
node_port=$(sed -n 's/listening on //p' "$T/node.out")
names=(fleetbench libmodbus modbus_serial)
declare -A rps p50 p99 cpu
for r in $(seq "$ROUNDS"); do
  for i in 0 1 2; do
    n=${names[$(((i + r) % 3))]}
    case $n in
      fleetbench) out=$(measure "$fb_pid" "$fb_ports" 0) ;;
      libmodbus) out=$(measure "$lmb_pid" "$lmb_port" 0) ;;
      modbus_serial) out=$(measure "$node_pid" "$node_port" 0) ;;
    esac
    echo "# round $r $n closed loop: $out" >&2
    rps[$n]="${rps[$n]:-} $(field "$out" rps)"
    p50[$n]="${p50[$n]:-} $(field "$out" p50_us)"
    p99[$n]="${p99[$n]:-} $(field "$out" p99_us)"
    cpu[$n]="${cpu[$n]:-} $(field "$out" server_cpu_us)"
  done
done
read -r full_s50 full_s99 <<<"$(stop_fb fbfull)"
kill "$lmb_pid" "$node_pid" 2>/dev/null || true

prefix() { case $1 in fleetbench) echo modbus_fleetbench_1000dev_100conn ;;
  libmodbus) echo modbus_libmodbus_select_100conn ;; modbus_serial) echo modbus_modbus_serial_100conn ;; esac; }
declare -A med
for n in "${names[@]}"; do
  pf=$(prefix "$n")
  med[$n]=$(median <<<"${rps[$n]}")
  echo "${pf}_rps ${med[$n]} req/s"
  echo "${pf}_p50 $(median <<<"${p50[$n]}") us"
  echo "${pf}_p99 $(median <<<"${p99[$n]}") us"
  echo "${pf}_server_cpu $(median <<<"${cpu[$n]}") us/req"
done
echo "modbus_fleetbench_full_load_server_p50 ${full_s50:-0} us"
echo "modbus_fleetbench_full_load_server_p99 ${full_s99:-0} us"
awk -v a="${med[fleetbench]}" -v b="${med[libmodbus]}" -v c="${med[modbus_serial]}" 'BEGIN {
  printf "modbus_ratio_vs_libmodbus %.2f x\nmodbus_ratio_vs_modbus_serial %.2f x\n", a / b, a / c }'

# ---- 2. half the libmodbus throughput, open loop, evenly spaced; a fresh fleetbench per round,
#      the libmodbus server at the same load in the same rounds ----
half=$(awk -v r="${med[libmodbus]}" 'BEGIN { printf "%d", r / 2 }')
echo "modbus_fleetbench_half_libmodbus_load_target $half req/s"
"$T/lmb" 0 > "$T/lmb2.out" &
lmb_pid=$!
pids+=("$lmb_pid")
wait_lines "$T/lmb2.out" 'listening on [0-9]+' 1
lmb_port=$(sed -n 's/listening on //p' "$T/lmb2.out")
h50="" h99="" h999="" happ="" hs50="" hs99="" hlag="" hrps="" hsteal="" l99="" lapp=""
for r in $(seq "$HALF_ROUNDS"); do
  start_fb "half$r"
  out=$(measure "$fb_pid" "$fb_ports" "$half")
  read -r s50 s99 <<<"$(stop_fb "half$r")"
  echo "# round $r fleetbench at $half req/s: $out server_p50_us $s50 server_p99_us $s99" >&2
  hrps="$hrps $(field "$out" rps)"
  h50="$h50 $(field "$out" p50_us)"; h99="$h99 $(field "$out" p99_us)"; h999="$h999 $(field "$out" p999_us)"
  happ="$happ $(field "$out" app_p99_us)"; hsteal="$hsteal $(field "$out" steal_pct)"
  hlag="$hlag $(field "$out" lag_p99_us)"; hs50="$hs50 $s50"; hs99="$hs99 $s99"
  out=$(measure "$lmb_pid" "$lmb_port" "$half")
  echo "# round $r libmodbus at $half req/s: $out" >&2
  l99="$l99 $(field "$out" p99_us)"; lapp="$lapp $(field "$out" app_p99_us)"
done
kill "$lmb_pid" 2>/dev/null || true
echo "modbus_fleetbench_half_libmodbus_load_rps $(median <<<"$hrps") req/s"
echo "modbus_fleetbench_half_libmodbus_load_p50 $(median <<<"$h50") us"
echo "modbus_fleetbench_half_libmodbus_load_p99 $(median <<<"$h99") us"
echo "modbus_fleetbench_half_libmodbus_load_p999 $(median <<<"$h999") us"
echo "modbus_fleetbench_half_libmodbus_load_app_p99 $(median <<<"$happ") us"
echo "modbus_fleetbench_half_libmodbus_load_server_p50 $(median <<<"$hs50") us"
echo "modbus_fleetbench_half_libmodbus_load_server_p99 $(median <<<"$hs99") us"
echo "modbus_libmodbus_select_half_load_p99 $(median <<<"$l99") us"
echo "modbus_libmodbus_select_half_load_app_p99 $(median <<<"$lapp") us"
echo "modbus_load_generator_lag_p99_at_half_load $(median <<<"$hlag") us"
echo "modbus_cpu_steal_at_half_load $(median <<<"$hsteal") %"
echo "modbus_fleetbench_half_load_rounds_p99 $(tr ' ' '\n' <<<"$h99" | grep -v '^$' | paste -sd/) us"
exit 0
