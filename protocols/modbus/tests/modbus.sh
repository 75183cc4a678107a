#!/usr/bin/env bash
# End to end: `fleetbench run` serving Modbus fleets, polled by mbpoll (Debian). Gateway layout
# with 500 devices over 3 ports, values equal to the trace's, a write that dims a street light
# (seen in the next read and the next trace sample), RTU on the run's pty with several unit ids,
# and the per-device layout. Ports are chosen by the kernel (listen :0) and read from the log.
set -u
cd "$(dirname "$0")/../../.."
. ci/testlib.sh

# mbpoll one shot; prints the value at reference REF.
poll_value() {  # port unit ref type extra...
  local port=$1 unit=$2 ref=$3 type=$4; shift 4
  mbpoll -m tcp -p "$port" -a "$unit" -t "$type" -0 -r "$ref" -c 1 -1 "$@" 127.0.0.1 |
    sed -n "s/^\[$ref\]: *//p" | tr -d '\t '
}

cat > "$T/gw.yaml" <<'EOF'
name: modbus-gateway
seed: 7
start: 2026-06-01T22:00:00+02:00
duration: 3h
sites:
  - {id: s1, name: "Site 1", lat: 43.2951, lon: 5.3744, radius: 400m}
transports:
  modbus:
    listen: 127.0.0.1:0
    layout: gateway
    rtu: {pty: true}
fleets:
  - {type: streetlight, count: 300, site: s1, interval: 1m, transport: modbus,
     params: {modbus: {word_order: CDAB}}}
  - {type: noise, count: 200, site: s1, interval: 1m, transport: modbus}
EOF
$FB run "$T/gw.yaml" --speed x60 --out "$T/trace.jsonl" > "$T/gw.out" 2> "$T/gw.err" &
pids+=($!)
gw=$!
modbus_ports "$T/gw.err" 3
wait_lines "$T/gw.err" 'modbus: RTU on pseudo-terminal' 1
pty=$(sed -n 's/.*RTU on pseudo-terminal \([^ ,]*\).*/\1/p' "$T/gw.err")
[ "${#ports[@]}" -eq 3 ] || fail "500 devices should take 3 ports, got ${ports[*]}"
grep -q 'units from 1: streetlight-000000 .. streetlight-000246' "$T/gw.err" || fail "port 1 range"
grep -q 'units from 1: noise-000494 .. noise-000499' "$T/gw.err" || fail "port 3 range"
wait_lines "$T/trace.jsonl" '"device":"noise-000499"' 1

# Device index (input/holding 3016, uint32): streetlights in CDAB (mbpoll's default), noise ABCD.
[ "$(poll_value "${ports[0]}" 247 3016 4:int)" = 246 ] || fail "port 1 unit 247 is not device 246"
[ "$(poll_value "${ports[1]}" 247 3016 4:int -B)" = 493 ] || fail "port 2 unit 247 is not device 493"
[ "$(poll_value "${ports[2]}" 6 3016 3:int -B)" = 499 ] || fail "port 3 unit 6 is not device 499"
out=$(mbpoll -m tcp -p "${ports[2]}" -a 7 -t 4 -0 -r 0 -c 1 -1 127.0.0.1 2>&1) &&
  fail "absent unit 7 on port 3 answered: $out"
grep -q 'Target device failed to respond' <<<"$out" || fail "absent unit: $out"

# A read equals one of the device's trace samples: activeEnergy (field 3) as scaled uint32
# at 1006, resolution 0.001 Wh.
raw=$(poll_value "${ports[0]}" 11 1006 4:int)
[ -n "$raw" ] || fail "no value read for streetlight-000010"
want=$(awk -v r="$raw" 'BEGIN { printf "%.3f", r / 1000 }')
wait_lines "$T/trace.jsonl" "\"device\":\"streetlight-000010\".*\"activeEnergy\":$want[,}]" 1

# RTU on the pty: units 1 and 2 are devices 0 and 1 (CDAB); 1-based reference 3017 = PDU 3016.
for unit in 1 2; do
  v=$(mbpoll -m rtu -b 19200 -P none -a "$unit" -t 4:int -r 3017 -c 1 -1 "$pty" |
      sed -n 's/^\[3017\]: *//p' | tr -d '\t ')
  [ "$v" = $((unit - 1)) ] || fail "rtu unit $unit read '$v'"
done

# Dim streetlight-000010 (unit 11) to 30 % through its scaled register 1002 (dimmingLevel).
mbpoll -m tcp -p "${ports[0]}" -a 11 -0 -r 1002 127.0.0.1 30 > "$T/w.out" 2>&1 ||
  fail "write refused: $(cat "$T/w.out")"
[ "$(poll_value "${ports[0]}" 11 1002 4)" = 30 ] || fail "the next read does not show the write"
# a read-only register refuses it as a device would
mbpoll -m tcp -p "${ports[0]}" -a 11 -0 -r 1004 127.0.0.1 5 > "$T/w.out" 2>&1 &&
  fail "write to a read-only register accepted"
grep -q 'Illegal data address' "$T/w.out" || fail "read-only write: $(cat "$T/w.out")"
n_before=$(grep -c '"device":"streetlight-000010"' "$T/trace.jsonl")
wait_lines "$T/trace.jsonl" '"device":"streetlight-000010"' $((n_before + 2))
grep '"device":"streetlight-000010"' "$T/trace.jsonl" | tail -n 1 | grep -q '"dimmingLevel":30[,}]' ||
  fail "the next trace sample does not show dimmingLevel 30"

kill -INT "$gw"
wait "$gw"
grep -q 'modbus: requests' "$T/gw.err" "$T/gw.out" || fail "no modbus counters in the summary"

# Per-device layout: one port per device, unit 1.
cat > "$T/pd.yaml" <<'EOF'
name: modbus-per-device
seed: 1
start: 2026-06-01T12:00:00+02:00
duration: 1h
sites:
  - {id: s1, name: "Site 1", lat: 43.2951, lon: 5.3744, radius: 400m}
transports:
  modbus: {listen: "127.0.0.1:0", layout: per-device}
fleets:
  - {type: noise, count: 3, site: s1, interval: 1m, transport: modbus}
EOF
$FB run "$T/pd.yaml" --speed realtime > "$T/pd.out" 2> "$T/pd.err" &
pids+=($!)
pd=$!
modbus_ports "$T/pd.err" 3
for i in 0 1 2; do
  [ "$(poll_value "${ports[$i]}" 1 3016 4:int -B)" = "$i" ] || fail "per-device port $i"
done
kill -INT "$pd"
wait "$pd"
# A fleet mimicking a real product through a map file (fixtures/modbus/vegapuls-like.yaml, a
# radar level sensor: the level as float32 CDAB at 106, ABCD at 2002, DCBA at 2102, unit code 45
# at 104, serial number string at 2308), found relative to the scenario file.
mkdir -p "$T/maps"
cp fixtures/modbus/vegapuls-like.yaml "$T/maps/"
cat > "$T/map.yaml" <<'EOF'
name: modbus-map
seed: 3
start: 2026-06-01T12:00:00+02:00
duration: 1h
sites:
  - {id: s1, name: "Site 1", lat: 43.2951, lon: 5.3744, radius: 400m}
transports:
  modbus: {listen: "127.0.0.1:0", layout: gateway}
fleets:
  - {type: water-level, count: 2, site: s1, interval: 1s, transport: modbus,
     params: {modbus: {map: maps/vegapuls-like.yaml}}}
EOF
$FB run "$T/map.yaml" --speed realtime --out "$T/map.jsonl" > "$T/map.out" 2> "$T/map.err" &
pids+=($!)
mp=$!
modbus_ports "$T/map.err" 1
regs() {  # unit ref count: the holding registers as hex words, space separated
  mbpoll -m tcp -p "$port" -a "$1" -t 4:hex -0 -r "$2" -c "$3" -1 127.0.0.1 |
    sed -n 's/^\[[0-9]*\]:[[:space:]]*0x//p' | tr -d '\t' | paste -sd' '
}
ok=
for try in $(seq 100); do  # a sample has come (not NaN), and the three reads fell between two samples
  cdab=$(regs 2 106 2); abcd=$(regs 2 2002 2); dcba=$(regs 2 2102 2)
  read -r a b <<<"$abcd"; read -r c d <<<"$cdab"; read -r e f <<<"$dcba"
  [ -n "$a" ] && (( (0x$a & 0x7F80) != 0x7F80 )) && [ "$c $d" = "$b $a" ] &&
    [ "$e $f" = "${b:2:2}${b:0:2} ${a:2:2}${a:0:2}" ] && { ok=1; break; }
done
[ -n "$ok" ] || fail "map file: CDAB '$cdab', ABCD '$abcd', DCBA '$dcba' are not the same float"
level=$(poll_value "$port" 2 2002 4:float -B)
[ -n "$level" ] || fail "map file: no level read"
[ "$(poll_value "$port" 1 104 3)" = 45 ] || fail "map file: unit code at input 104"
[ "$(regs 2 2308 6)" = "7761 7465 722D 6C65 7665 6C2D" ] ||
  fail "map file: serial number '$(regs 2 2308 6)'"
out=$(mbpoll -m tcp -p "$port" -a 1 -t 4 -0 -r 0 -c 1 -1 127.0.0.1 2>&1) &&
  fail "map file: the default map's register 0 is still served: $out"
grep -q 'Illegal data address' <<<"$out" || fail "map file, register 0: $out"
kill -INT "$mp"
wait "$mp"
want=$(awk -v v="$level" 'BEGIN { printf "%.3f", v }' | sed 's/0*$//; s/\.$//')
grep -q "\"device\":\"water-level-000001\".*\"height\":$want[,}]" "$T/map.jsonl" ||
  fail "map file: level $level read is none of the trace's"

# Bad map files: the run refuses them, located at the map file's line and column.
bad_map() {  # map-text line:col message-part
  printf '%b' "$1" > "$T/maps/bad.yaml"
  sed 's|maps/vegapuls-like.yaml|maps/bad.yaml|' "$T/map.yaml" > "$T/bad.yaml"
  $FB run "$T/bad.yaml" --speed realtime > "$T/bad.out" 2>&1 && fail "bad map accepted: $3"
  grep -qF "$T/maps/bad.yaml:$2: error: $3" "$T/bad.out" ||
    fail "bad map, want '$2: $3': $(cat "$T/bad.out")"
}
bad_map 'registers:\n  - {table: holding, address: 0, field: heigth, type: float32}\n' \
  2:41 "type 'water-level' has no field 'heigth' (did you mean 'height'?)"
bad_map 'registers:\n  - {table: holding, address: 0, field: height,\n     type: float64}\n' \
  3:12 "unknown 'type' 'float64' (did you mean 'float32'?)"
bad_map 'registers:\n  - {table: coil, address: 70000, field: height}\n' \
  2:28 "'address' must be between 0 and 65535, not 70000"
bad_map 'name: x\nregisters:\n  - {table: input, address: 5, type: uint16}\n' \
  3:5 "register entry needs 'field', 'const' or 'source'"
# --speed max with a Modbus fleet runs paced at realtime (a poll needs a now): an hour of 1 s
# samples is not over at once, and a poll finds the values of the first seconds.
cat > "$T/max.yaml" <<'EOF'
name: modbus-max
seed: 1
start: 2026-06-01T12:00:00+02:00
duration: 1h
sites:
  - {id: s1, name: "Site 1", lat: 43.2951, lon: 5.3744, radius: 400m}
transports:
  modbus: {listen: "127.0.0.1:0", layout: gateway}
fleets:
  - {type: noise, count: 10, site: s1, interval: 1s, transport: modbus}
EOF
$FB run "$T/max.yaml" --speed max > "$T/max.out" 2> "$T/max.err" &
pids+=($!)
mx=$!
modbus_ports "$T/max.err" 1
for try in $(seq 100); do   # until a first sample is in (the LAeq float no longer NaN)
  kill -0 "$mx" 2>/dev/null || break
  v=$(poll_value "$port" 10 0 4:float -B)
  [ -n "$v" ] && [ "$v" != nan ] && break
done
kill -0 "$mx" 2>/dev/null || fail "--speed max: the run did not wait for the wall clock"
kill -INT "$mx"
wait "$mx"
n=$(sed -n 's/^ *samples *\([0-9]*\).*/\1/p' "$T/max.err" "$T/max.out" | head -n 1)
[ -n "$n" ] && [ "$n" -lt 300 ] || fail "--speed max: '$n' samples, not paced: $(cat "$T/max.err")"
echo "modbus end-to-end: ok"
