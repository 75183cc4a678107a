#!/usr/bin/env bash
# MQTT client benchmark for `make bench` (ci/bench.sh may call it): builds
# protocols/mqtt/bench/mqtt_bench.c against the build's libraries and prints `name value unit`
# lines: delivered messages/s (100-byte payloads, counted by a subscriber) at QoS 0 and 1 with
# 1, 100, 1 000 and 10 000 connections, connections held by one process, connect rate, and
# memory per idle connection; then the same delivered rates with the MQTT.js loader
# (ci/oracles/mqtt-load.js, up to 1 000 connections) and parallel `mosquitto_pub -l` processes
# (up to 100) as the publishers, for comparison.
# Usage: B=build bash protocols/mqtt/bench.sh [seconds-per-point]
# (FB_MQTT_BENCH_POINT=1:1000 measures only QoS 1 with 1 000 connections, for profiling)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
make --no-print-directory -s "$B/libfbharness.a" "$B/libfbproto.a" "$B/libfbsim.a" >&2
PKGS="yaml-0.1 jansson libmicrohttpd libprotobuf-c libmodbus openssl"
cc -std=c11 -D_GNU_SOURCE -O2 -g -I. -I"$B/gen" $(pkg-config --cflags $PKGS) \
   -o "$B/mqtt-bench" protocols/mqtt/bench/mqtt_bench.c \
   "$B/libfbharness.a" "$B/libfbproto.a" "$B/libfbsim.a" $(pkg-config --libs $PKGS) -lev -lm -lpthread
exec "$B/mqtt-bench" "${1:-3}" 15000 1000
