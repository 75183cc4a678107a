#!/usr/bin/env bash
# Injected faults over MQTT, end to end against a real mosquitto on a free loopback port, with a
# mosquitto_sub that records every delivery:
#  1. per-sample network and payload faults: each `duplicate` line arrives 1 + copies times, each
#     `malformed` payload fails to parse, each `delay` message arrives after its device's later
#     ones, `offline` (unsent) lines never arrive, everything else arrives exactly once; the
#     counts in the trace equal the transport report's;
#  2. a reconnect storm with jitter: every connection drops at once and reconnections spread over
#     `within` (measured by the transport, and seen by the broker); the same without jitter: all
#     back at once;
#  3. a dark site: its lines never arrive, its connections drop and come back after the window,
#     the other site's traffic is untouched;
#  4. connection churn: the selected connections drop on schedule and come back, every drop
#     seen by the broker as a new connection, nothing lost at QoS 1.
set -u
cd "$(dirname "$0")/../../.."
. ci/testlib.sh

port=$(free_port)
mosquitto_conf "$port" "max_inflight_messages 0" "log_dest file $T/mosquitto.log" \
  "log_type notice" "log_type information" "connection_messages true" \
  "max_queued_messages 0" > "$T/mosquitto.conf"
start_mosquitto "$T/mosquitto.conf" "$port"

# A subscriber that prints "topic payload" per delivery; ready once its SUBACK is logged.
start_sub() {  # out-file
  stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -t 'fleetbench/#' -q 1 -v -d > "$1" 2>&1 &
  sub=$!
  pids+=($sub)
  wait_lines "$1" 'received SUBACK' 1
}
# Stops the subscriber once N messages are in its out-file, then checks it got exactly N.
expect_deliveries() {  # out-file N
  wait_lines "$1" '^fleetbench/' "$2"
  kill "$sub"; wait "$sub" 2>/dev/null
  local got
  got=$(grep -c '^fleetbench/' "$1")
  [ "$got" -eq "$2" ] || fail "expected $2 deliveries, got $got"
}

# ---- 1. per-sample faults ----
cat > "$T/net.yaml" <<YAML
name: mqtt-faults
seed: 5
start: 2026-06-01T08:00:00Z
duration: 2h
sites:
  - {id: port, lat: 43.2951, lon: 5.3744}
transports:
  mqtt: {url: "mqtt://127.0.0.1:$port", qos: 1}
fleets:
  - type: noise
    count: 12
    site: port
    interval: 2m
    transport: mqtt
    faults:
      - {kind: duplicate, rate: 0.05, copies: 2}
      - {kind: delay, rate: 0.05, delay: 7m}
      - {kind: malformed, rate: 0.05, mode: truncated}
      - {kind: offline, devices: [noise-000003], from: 30m, for: 30m}
YAML
start_sub "$T/sub1.txt"
$FB run "$T/net.yaml" --speed max --out "$T/net.jsonl" --report "$T/net.json" 2> "$T/net.err" ||
  fail "run exited $?: $(cat "$T/net.err")"
n=$(wc -l < "$T/net.jsonl")
dup=$(grep -c '"fault":"duplicate"' "$T/net.jsonl")
del=$(grep -c '"fault":"delay"' "$T/net.jsonl")
mal=$(grep -c '"fault":"malformed"' "$T/net.jsonl")
off=$(grep -c '"fault":"offline"' "$T/net.jsonl")
[ "$n" -eq 720 ] || fail "expected 720 trace lines, got $n"
[ "$off" -eq 15 ] || fail "expected 15 offline lines, got $off"
[ "$dup" -gt 0 ] && [ "$del" -gt 0 ] && [ "$mal" -gt 0 ] || fail "no fault drawn: dup $dup del $del mal $mal"
want=$((n - off + 2 * dup))
expect_deliveries "$T/sub1.txt" "$want"

python3 - "$T/net.jsonl" "$T/sub1.txt" "$T/net.json" <<'PY' || fail "deliveries do not match the trace"
import json, sys, collections
trace = [json.loads(l) for l in open(sys.argv[1])]
recv = collections.Counter()
order = collections.defaultdict(list)       # device -> ts in arrival order
bad = 0
for line in open(sys.argv[2]):
    if not line.startswith('fleetbench/'):
        continue
    topic, _, payload = line.rstrip('\n').partition(' ')
    try:
        p = json.loads(payload)
    except ValueError:
        bad += 1
        continue
    recv[(p['id'], p['ts'])] += 1
    order[p['id']].append(p['ts'])
kinds = collections.Counter(l.get('fault') for l in trace)
errors = []
if bad != kinds['malformed']:
    errors.append('%d payloads do not parse, %d malformed lines' % (bad, kinds['malformed']))
for l in trace:
    k, key = l.get('fault'), (l['device'], l['ts'])
    want = {'duplicate': 3, 'offline': 0, 'malformed': 0}.get(k, 1)
    if recv[key] != want:
        errors.append('%s %s (%s): received %d, expected %d' % (key + (k, recv[key], want)))
    if k == 'delay':
        # held back 7 min: the device's messages up to 6 min later arrive before it
        arr = order[l['device']]
        i = arr.index(l['ts'])
        if not any(t > l['ts'] for t in arr[:i]) and any(t > l['ts'] for t in arr):
            errors.append('%s %s: delayed but not overtaken' % key)
rep = json.load(open(sys.argv[3]))['transports']['mqtt']['faults']
if (rep['duplicated'], rep['held_back'], rep['malformed']) != (2 * kinds['duplicate'], kinds['delay'], kinds['malformed']):
    errors.append('report %r vs trace %r' % (rep, dict(kinds)))
for e in errors[:10]:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# ---- 2. reconnect storm, with and without jitter ----
storm_run() {  # jitter(true|false) out-prefix
  cat > "$T/storm.yaml" <<YAML
name: mqtt-storm
seed: 9
start: 2026-06-01T08:00:00Z
duration: 6m
sites:
  - {id: port, lat: 43.2951, lon: 5.3744}
transports:
  mqtt: {url: "mqtt://127.0.0.1:$port", qos: 1}
fleets:
  - {type: noise, count: 200, site: port, interval: 1m, transport: mqtt}
faults:
  - {kind: reconnect_storm, from: 1m, within: 4m, jitter: $1}
YAML
  # x120: 6 min of virtual time in 3 s, the storm at 0.5 s spreading over 4 min / 120 = 2 s
  $FB run "$T/storm.yaml" --speed x120 --out "$2.jsonl" --report "$2.json" 2> "$2.err" ||
    fail "storm run exited $?: $(cat "$2.err")"
}
before=$(grep -c 'New client connected' "$T/mosquitto.log")
storm_run true "$T/storm-jitter"
after=$(grep -c 'New client connected' "$T/mosquitto.log")
[ $((after - before)) -eq 400 ] || fail "the broker saw $((after - before)) connections, expected 200 + 200 after the storm"
storm_run false "$T/storm-flat"
python3 - "$T/storm-jitter.json" "$T/storm-flat.json" <<'PY' || fail "storm spread"
import json, sys
j = json.load(open(sys.argv[1]))
f = json.load(open(sys.argv[2]))
sj = j['transports']['mqtt']['faults']['storm']
sf = f['transports']['mqtt']['faults']['storm']
print('storm with jitter:    %(connections)d connections, %(reconnected)d back, spread %(spread_s)s' % sj)
print('storm without jitter: %(connections)d connections, %(reconnected)d back, spread %(spread_s)s' % sf)
ok = sj['connections'] == 200 and sj['reconnected'] == 200 and sf['connections'] == 200 and sf['reconnected'] == 200
# jitter: uniform over 2 s of wall time
# (upper bounds leave room for a loaded machine's connect latency)
ok = ok and 0.6 <= sj['spread_s']['p50'] <= 2.0 and 1.5 <= sj['spread_s']['max'] <= 4.0
# no jitter: all at once, as fast as the broker accepts (those that overflow its listen backlog
# come back with the kernel's SYN retry, 1 s later: the storm's own cost, reported as measured)
ok = ok and sf['spread_s']['p50'] < sj['spread_s']['p50'] - 0.3
for r in (j, f):
    ok = ok and r['transports']['mqtt']['connects_ok'] == 400 and r['transports']['mqtt']['pub_acked'] == 1200
sys.exit(0 if ok else 1)
PY

# ---- 3. a dark site ----
cat > "$T/dark.yaml" <<YAML
name: mqtt-dark
seed: 3
start: 2026-06-01T08:00:00Z
duration: 20m
sites:
  - {id: port, lat: 43.2951, lon: 5.3744}
  - {id: aix, lat: 43.5297, lon: 5.4474}
transports:
  mqtt: {url: "mqtt://127.0.0.1:$port", qos: 1}
fleets:
  - {type: noise, count: 10, site: port, interval: 1m, transport: mqtt}
  - {type: noise, count: 10, site: aix, interval: 1m, transport: mqtt}
faults:
  - {kind: site_dark, site: port, from: 5m, for: 10m}
YAML
start_sub "$T/sub3.txt"
before=$(grep -c 'New client connected' "$T/mosquitto.log")
$FB run "$T/dark.yaml" --speed x240 --out "$T/dark.jsonl" --report "$T/dark.json" 2> "$T/dark.err" ||
  fail "dark run exited $?: $(cat "$T/dark.err")"
n=$(wc -l < "$T/dark.jsonl")
dark=$(grep -c '"fault":"site_dark"' "$T/dark.jsonl")
[ "$dark" -eq 100 ] || fail "expected 100 dark lines (10 devices x 10 min), got $dark"
expect_deliveries "$T/sub3.txt" $((n - dark))
grep '^fleetbench/port/' "$T/sub3.txt" | python3 -c '
import json, sys
for line in sys.stdin:
    ts = json.loads(line.split(" ", 1)[1])["ts"]
    if "2026-06-01T08:05:00" <= ts < "2026-06-01T08:15:00":
        sys.exit("a message of the dark window arrived: " + ts)
' || fail "dark site"
after=$(grep -c 'New client connected' "$T/mosquitto.log")
[ $((after - before)) -eq 30 ] || fail "the broker saw $((after - before)) connections, expected 20 + 10 back after the dark window"
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["transports"]["mqtt"]["faults"]
s = r["storm"]
print("dark site back: %(connections)d connections, %(reconnected)d up, spread %(spread_s)s" % s)
sys.exit(0 if r["dropped_dark"] == 100 and s["connections"] == 10 and s["reconnected"] == 10
         else "report: %r" % r)' "$T/dark.json" || fail "dark report"
# ---- 4. connection churn ----
cat > "$T/churn.yaml" <<YAML
name: mqtt-churn
seed: 8
start: 2026-06-01T08:00:00Z
duration: 10m
sites:
  - {id: port, lat: 43.2951, lon: 5.3744}
transports:
  mqtt: {url: "mqtt://127.0.0.1:$port", qos: 1}
fleets:
  - {type: noise, count: 20, site: port, interval: 1m, transport: mqtt}
faults:
  - {kind: churn, per_hour: 30, rate: 0.5}
YAML
before=$(grep -c 'New client connected' "$T/mosquitto.log")
# x240: a drop per selected connection every 2 min of virtual time = every half second
$FB run "$T/churn.yaml" --speed x240 --out "$T/churn.jsonl" --report "$T/churn.json" 2> "$T/churn.err" ||
  fail "churn run exited $?: $(cat "$T/churn.err")"
after=$(grep -c 'New client connected' "$T/mosquitto.log")
python3 - "$T/churn.json" $((after - before)) <<'PY' || fail "churn"
import json, sys
m = json.load(open(sys.argv[1]))["transports"]["mqtt"]
seen = int(sys.argv[2])
churned = m["faults"]["churned"]
print("churn: %d drops, the broker saw %d connections (20 + the drops)" % (churned, seen))
# about half of the 20 connections, each dropped once per 2 min over 10 min; QoS 1: nothing lost
ok = 20 <= churned <= 60 and seen == 20 + churned and m["reconnects"] == churned
ok = ok and m["pub_acked"] == 200
sys.exit(0 if ok else "report: %r" % m)
PY
echo "mqtt faults: ok"
