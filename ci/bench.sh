#!/usr/bin/env bash
# make bench: prints one `name value unit` line per figure the issues name. A benchmark, not a
# test: it measures and prints; it fails only if a run itself fails.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
FB=$B/fleetbench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

jget() { node -e "const r=require('$1'); console.log(r$2)"; }

echo "# machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
# How busy the machine was besides the bench: the load average before it starts, and at the end
# the share of CPU time the hypervisor stole during the whole bench (/proc/stat "steal"; on a
# virtual machine the tail latencies move with it).
echo "# load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
steal0=$(awk '/^cpu /{ print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)

# 1. Engine alone: 1 000 000 devices, no output.
$FB run ci/bench/million.yaml --quiet --report "$tmp/a.json"
echo "engine_1m_devices_rate $(jget "$tmp/a.json" .samples_per_s | cut -d. -f1) samples/s"
echo "engine_1m_devices_peak_rss $(jget "$tmp/a.json" .peak_rss_mib | cut -d. -f1) MiB"
echo "engine_1m_devices_startup $(jget "$tmp/a.json" .startup_s) s"

# 2. The same, writing the trace to /dev/null.
$FB run ci/bench/million.yaml --quiet --out /dev/null --report "$tmp/b.json"
echo "trace_1m_devices_rate $(jget "$tmp/b.json" .samples_per_s | cut -d. -f1) samples/s"

# 3. metro-scale.yaml, one simulated day, trace to /dev/null.
$FB run scenarios/metro-scale.yaml --quiet --duration 1d --out /dev/null --report "$tmp/c.json"
echo "metro_scale_1d_wall $(jget "$tmp/c.json" .wall_time_s) s"
echo "metro_scale_1d_samples $(jget "$tmp/c.json" .samples) samples"
echo "metro_scale_1d_peak_rss $(jget "$tmp/c.json" .peak_rss_mib | cut -d. -f1) MiB"

# Protocol figures, each from its own script.
for s in protocols/*/bench.sh harness/bench.sh; do
  [ -f "$s" ] && B=$B bash "$s"
done
awk -v s="$steal0 $(awk '/^cpu /{ print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)" 'BEGIN {
  split(s, a, " "); printf "bench_cpu_steal %.1f %%\n", (a[4] > a[2] ? (a[3] - a[1]) * 100 / (a[4] - a[2]) : 0) }'
exit 0
