#!/usr/bin/env bash
# The bench's own figures for `make bench` (ci/bench.sh runs this): `name value unit` lines.
# MQTT collector: 50 000 msg/s on loopback (fleetbench run publishing 5 000 noise sensors at x10
# through mosquitto), loss, duplicates and the collector's CPU (harness/bench/mqtt_collect_bench.c).
# Usage: B=build bash harness/bench.sh [rate] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
make --no-print-directory -s "$B/fleetbench" "$B/libfbharness.a" "$B/libfbproto.a" "$B/libfbsim.a" >&2
PKGS="yaml-0.1 jansson libmicrohttpd libprotobuf-c libmodbus openssl"
cc -std=c11 -D_GNU_SOURCE -O2 -g -I. -I"$B/gen" $(pkg-config --cflags $PKGS) \
   -o "$B/mqtt-collect-bench" harness/bench/mqtt_collect_bench.c \
   "$B/libfbharness.a" "$B/libfbproto.a" "$B/libfbsim.a" $(pkg-config --libs $PKGS) -lev -lm -lpthread
"$B/mqtt-collect-bench" "$B/fleetbench" "${1:-50000}" "${2:-10}"
