#!/usr/bin/env bash
# Resource limits through the binary: a run too big for the file-descriptor limit, for the port
# range or for memory stops at start-up with an error naming the limit and the way out (exit 1,
# or 2 when the scenario alone says it), never a crash; a soft limit below what the run needs
# is raised to the hard limit first. Each limit is set with ulimit in a subshell.
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh
keep_going
# check CODE DESCRIPTION: the last command's exit code ($rc) and that it was no crash
check_code() {
  if [ "$rc" = "$1" ]; then ok "$2 (exit $rc)"; else fail "$2: exit $rc, wanted $1"; sed 's/^/    /' "$T/err"; fi
}
refute_err() {
  if grep -qE -- "$1" "$T/err"; then fail "$2: stderr has /$1/"; sed 's/^/    /' "$T/err"; else ok "$2"; fi
}

scenario() {  # scenario FILE COUNT TYPE TRANSPORT-LINE TRANSPORTS-BLOCK
  cat > "$1" <<YAML
name: limits
seed: 1
start: 2026-06-01T00:00:00Z
duration: 2s
sites:
  - {id: s, lat: 43.3, lon: 5.4, radius: 100m}
  - {id: t, lat: 43.4, lon: 5.5, radius: 100m}
fleets:
  - {type: $3, count: $2, site: s, interval: 5m$4}
$5
YAML
}

# ---- file descriptors: MQTT, one connection per device --------------------------------------
port=$(free_port)
mosquitto_conf "$port" > "$T/mosquitto.conf"
start_mosquitto "$T/mosquitto.conf" "$port"

mq="transports:
  mqtt: {url: \"mqtt://127.0.0.1:$port\", connection: per-device, qos: 1}"
scenario "$T/mqtt300.yaml" 300 noise ", transport: mqtt, codec: json" "$mq"
(ulimit -n 64; exec $FB run "$T/mqtt300.yaml") > "$T/out" 2> "$T/err"; rc=$?
check_code 1 "300 MQTT connections under 'ulimit -n 64'"
expect_err "mqtt: 300 connections \('connection: per-device'\) need [0-9]+ file descriptors in all, but the limit is 64" "the need and the limit are named"
expect_err "ulimit -n [0-9]+" "the way out: raise the limit"
expect_err "--shard i/N" "the way out: shards"
expect_err "'connection: per-site'" "the way out: shared connections"
refute_err "no file descriptor left" "stopped before opening anything"

# The same fleet sharing one connection per site fits.
scenario "$T/mqtt300s.yaml" 300 noise ", transport: mqtt, codec: json" "${mq/per-device/per-site}"
(ulimit -n 64; exec $FB run "$T/mqtt300s.yaml" --report "$T/persite.json") > "$T/out" 2> "$T/err"; rc=$?
check_code 0 "the same fleet with 'connection: per-site' under 'ulimit -n 64'"

# A soft limit below the need and a hard limit above it: raised, and every connection comes up.
(ulimit -Sn 64 && ulimit -Hn 512 && exec $FB run "$T/mqtt300.yaml" --report "$T/raised.json") > "$T/out" 2> "$T/err"; rc=$?
check_code 0 "soft limit 64, hard limit 512"
expect_err "raised the file-descriptor limit from 64 to 512 \(the hard limit\)" "the soft limit is raised to the hard one"
refute_err "no file descriptor left" "no connection ran out of descriptors"
grep -qE '^mqtt: 300 connections, [0-9]+ up; connects 300 ok, 0 failed' "$T/err" && ok "all 300 connections up" \
  || { fail "all 300 connections up"; grep '^mqtt' "$T/err"; }

# ---- local ports towards the broker ---------------------------------------------------------
# In a network namespace of the test's own (unshare -rn: a user namespace maps us to root there,
# so the namespace's ephemeral range can be set to 10 ports without touching the machine's).
cat > "$T/ports.sh" <<'NS'
set -u
T=$1 FB=$2
ip link set lo up || exit 90
echo "40000 40009" > /proc/sys/net/ipv4/ip_local_port_range || exit 91
port=1883
printf 'user %s\nlistener %s 127.0.0.1\nallow_anonymous true\n' "$(id -un)" $port > "$T/ns-mosquitto.conf"
mosquitto -c "$T/ns-mosquitto.conf" > "$T/ns-mosquitto.out" 2>&1 &
mp=$!
for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || { kill $mp; exit 92; }
sed "s|mqtt://127.0.0.1:[0-9]*|mqtt://127.0.0.1:$port|" "$T/mqtt300.yaml" > "$T/ns300.yaml"
# 300 connections cannot fit 10 ports: refused at start-up
$FB run "$T/ns300.yaml" > "$T/ns1.out" 2> "$T/ns1.err"; echo $? > "$T/ns1.rc"
# 8 fit the range, but another client holds 5 of its ports: those left over fail, counted
sed "s/count: 300/count: 8/" "$T/ns300.yaml" > "$T/ns8.yaml"
node -e "const net=require('net');let n=0;for(let i=0;i<5;i++)net.connect($port,'127.0.0.1',()=>{if(++n==5)console.log('ready')});setInterval(()=>{},1000)" > "$T/ns-holder.out" &
hp=$!
for i in $(seq 200); do grep -q ready "$T/ns-holder.out" && break; sleep 0.05; done
$FB run "$T/ns8.yaml" > "$T/ns2.out" 2> "$T/ns2.err"; echo $? > "$T/ns2.rc"
kill $hp $mp; wait $hp $mp 2>/dev/null
exit 0
NS
unshare -rn bash "$T/ports.sh" "$T" "$FB" > "$T/ns.out" 2>&1; rc=$?
check_code 0 "a network namespace with 10 ephemeral ports (unshare -rn, ip, mosquitto)"
cp "$T/ns1.err" "$T/err" 2>/dev/null; rc=$(cat "$T/ns1.rc" 2>/dev/null)
check_code 1 "300 MQTT connections with 10 local ports"
expect_err "mqtt: 300 connections \('connection: per-device'\) need 300 local ports, but the ephemeral port range has 10 \(net.ipv4.ip_local_port_range 40000-40009\): widen it" "the need, the range and the way out"
expect_err "'connection: per-site'" "the way out: shared connections"
cp "$T/ns2.err" "$T/err" 2>/dev/null; rc=$(cat "$T/ns2.rc" 2>/dev/null)
check_code 0 "8 connections when another client holds 5 of the 10 ports"
expect_err "no local port left: the ephemeral port range is exhausted" "the exhausted range is named"
expect_err "^mqtt: [1-9][0-9]*x no local port left" "the failed connections are counted"

# ---- file descriptors and ports: Modbus, one port per device --------------------------------
mb="transports:
  modbus: {listen: \"127.0.0.1:0\", layout: per-device}"
scenario "$T/mb300.yaml" 300 water-level ", transport: modbus" "$mb"
(ulimit -n 64; exec $FB run "$T/mb300.yaml") > "$T/out" 2> "$T/err"; rc=$?
check_code 1 "300 Modbus ports under 'ulimit -n 64'"
expect_err "modbus: 300 listening ports \('layout: per-device'\) and their masters' connections need [0-9]+ file descriptors in all, but the limit is 64" "the need and the limit are named"
expect_err "'layout: gateway'" "the way out: a gateway port"
scenario "$T/mbgw.yaml" 300 water-level ", transport: modbus" "${mb/per-device/gateway}"
(ulimit -n 64; exec $FB run "$T/mbgw.yaml" --duration 1s) > "$T/out" 2> "$T/err"; rc=$?
check_code 0 "the same fleet with 'layout: gateway' under 'ulimit -n 64'"

scenario "$T/mbrange.yaml" 300 water-level ", transport: modbus" "${mb/127.0.0.1:0/127.0.0.1:65400}"
$FB run "$T/mbrange.yaml" > "$T/out" 2> "$T/err"; rc=$?
check_code 2 "300 per-device ports from 65400"
expect_err "300 devices need 300 ports from 65400: beyond 65535 \(start lower with 'listen: HOST:PORT'" "the port range and the way out"

# A port another process holds (a node server on a kernel-chosen port, ready once it prints it).
node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>console.log(s.address().port))" > "$T/holder" &
pids+=($!)
poll 10 test -s "$T/holder"
held=$(cat "$T/holder")
scenario "$T/mbinuse.yaml" 2 water-level ", transport: modbus" "${mb/127.0.0.1:0/127.0.0.1:$held}"
$FB run "$T/mbinuse.yaml" > "$T/out" 2> "$T/err"; rc=$?
check_code 1 "a Modbus port in use"
expect_err "cannot listen on '127.0.0.1:$held': Address already in use \(another process holds the port" "the port and the way out"

# ---- file descriptors: LoRaWAN, one UDP socket per gateway -----------------------------------
lw="transports:
  lorawan: {server: \"udp://127.0.0.1:$(free_port)\", gateways: {per_site: 64, height: 25m}}"
scenario "$T/lw.yaml" 50 waste ", transport: lorawan, codec: binary" "$lw"
(ulimit -n 64; exec $FB run "$T/lw.yaml") > "$T/out" 2> "$T/err"; rc=$?
check_code 1 "64 gateways under 'ulimit -n 64'"
expect_err "lorawan: [0-9]+ gateway sockets need [0-9]+ file descriptors in all, but the limit is 64" "the need and the limit are named"
expect_err "--shard i/N" "the way out: shards"

# ---- memory at start-up ---------------------------------------------------------------------
# 500 M devices. Under ASan, whose shadow memory does not live with RLIMIT_AS, the allocator's
# own limit plays the part: any allocation above 256 MiB fails as it would without memory.
scenario "$T/big.yaml" 500000000 noise "" ""
if nm "$FB" 2>/dev/null | grep -q __asan_init; then
  (export ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=256; exec $FB run "$T/big.yaml") > "$T/out" 2> "$T/err"; rc=$?
else
  (ulimit -v 1000000; exec $FB run "$T/big.yaml") > "$T/out" 2> "$T/err"; rc=$?
fi
check_code 1 "500 M devices in 1 GB"
expect_err "out of memory .*500000000 devices.*--shard" "the size and the way out are named"

# The engine fits but the MQTT transport's tables do not: every allocation checked, no crash.
scenario "$T/mq200k.yaml" 200000 noise ", transport: mqtt, codec: json" "$mq"
if nm "$FB" 2>/dev/null | grep -q __asan_init; then
  (export ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=4; exec $FB run "$T/mq200k.yaml") > "$T/out" 2> "$T/err"; rc=$?
else
  (ulimit -v 110000; exec $FB run "$T/mq200k.yaml") > "$T/out" 2> "$T/err"; rc=$?
fi
if [ "$rc" = 1 ] || [ "$rc" = 2 ]; then ok "200 000 MQTT devices in 110 MB: exit $rc"; else fail "200 000 MQTT devices in 110 MB: exit $rc"; sed 's/^/    /' "$T/err"; fi
expect_err "out of memory .*200000 devices.*--shard" "the size and the way out are named"

finish
