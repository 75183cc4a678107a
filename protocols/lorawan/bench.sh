#!/usr/bin/env bash
# LoRaWAN bench: uplinks built, encrypted, MIC'd, batched and sent over loopback UDP to a counting
# sink (10 000 devices, 20 gateways), and the same frames built by lora-packet in node for the
# ratio. Prints `name value unit` lines; exits non-zero if the sink did not get every frame.
# Env: B (build folder, default build), LW_BENCH_FRAMES (default 1000000).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
frames=${LW_BENCH_FRAMES:-1000000}
make -s --no-print-directory "$B/protocols/lorawan/bench/lw_bench" >&2
out=$("$B/protocols/lorawan/bench/lw_bench" "$frames")
echo "$out"
c=$(awk '$1 == "lorawan_uplinks_per_s" { print $2 }' <<<"$out")
n=$(node protocols/lorawan/bench/lora_packet_bench.js $((frames / 5)))
echo "$n"
js=$(awk '{ print $2 }' <<<"$n")
awk -v c="$c" -v j="$js" 'BEGIN { printf "lorawan_c_over_lora_packet %.1f x\n", c / j }'
