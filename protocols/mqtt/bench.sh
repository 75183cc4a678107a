#!/usr/bin/env bash
# MQTT client benchmark for `make bench` (ci/bench.sh calls it with env B = build folder): builds
# protocols/mqtt/bench/mqtt_bench.c with the sources it needs (the MQTT client, the peer helpers)
# and prints `name value unit` lines: connections held by one process, connect rate, memory per
# idle connection; then, for QoS 0 and 1 with 1, 100, 1 000 and 10 000 connections, the messages/s
# a subscriber receives (100-byte payloads) with our client, the MQTT.js loader
# (ci/oracles/mqtt-load.js) and parallel `mosquitto_pub -l` processes (up to 100) as the
# publishers, measured in interleaved rounds (medians), the broker's ceiling (the best loader at
# that point), our share of it and our ratio to the best other loader; and CPU time per message
# of each loader and of the broker. Per-round figures go to stderr.
# Usage: B=build bash protocols/mqtt/bench.sh [seconds-per-measurement] [held] [max-mqttjs]
# Environment: FB_MQTT_BENCH_POINT=QOS:N[:ours,mqttjs,mosquitto_pub] one point only;
# FB_MQTT_BENCH_ROUNDS (3); FB_MQTT_BENCH_SYSCALLS=1 adds system calls and packets per message
# (perf stat); see the head of mqtt_bench.c for the rest.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
mkdir -p "$B"
cc -std=c11 -D_GNU_SOURCE -O2 -g -I. -o "$B/mqtt-bench" protocols/mqtt/bench/mqtt_bench.c \
   protocols/mqtt/client.c protocols/mqtt/packet.c harness/peer.c sim/log.c sim/rng.c \
   $(pkg-config --cflags --libs openssl) -lev -lm
exec "$B/mqtt-bench" "${1:-2}" "${2:-15000}" "${3:-10000}"
