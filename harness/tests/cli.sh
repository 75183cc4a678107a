#!/usr/bin/env bash
# The command line as a user and a pipeline use it: help, exit codes, the trace's determinism
# and the shard-union property through the binary, the report, check and types.
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh
keep_going

expect_code 0 "--version" -- $FB --version
grep -q '^fleetbench [0-9]' "$T/out" && ok "version printed" || fail "version printed"
expect_code 0 "--help" -- $FB --help
grep -q 'run SCENARIO' "$T/out" && ok "help lists run" || fail "help lists run"
for c in run check types; do
  expect_code 0 "$c --help" -- $FB $c --help
  grep -q "usage: fleetbench $c" "$T/out" && ok "$c help text" || fail "$c help text"
done
expect_code 2 "no command" -- $FB
expect_code 2 "unknown command" -- $FB rnu
expect_err "unknown command 'rnu' \(did you mean 'run'\?\)" "command suggestion"
expect_code 2 "unknown option" -- $FB run scenarios/ci-smoke.yaml --sped max
expect_err "unknown option '--sped'" "unknown option named"
expect_err "try 'fleetbench run --help'" "hint to help"
expect_code 2 "bad speed" -- $FB run scenarios/ci-smoke.yaml --speed fast
expect_err "invalid --speed 'fast'" "bad speed named"
expect_code 2 "bad duration" -- $FB run scenarios/ci-smoke.yaml --duration 10
expect_err "invalid --duration '10'" "bad duration named"
expect_code 2 "bad shard" -- $FB run scenarios/ci-smoke.yaml --shard 3/3
expect_err "invalid --shard '3/3'" "bad shard named"
expect_code 2 "bad start" -- $FB run scenarios/ci-smoke.yaml --start tomorrow
expect_code 2 "bad seed" -- $FB run scenarios/ci-smoke.yaml --seed -4
expect_code 2 "missing scenario" -- $FB run
expect_code 2 "unreadable scenario" -- $FB run "$T/nope.yaml"
expect_err "nope.yaml" "unreadable file named"
printf 'name: x\nfleets:\n  - {type: noize, count: 2, site: s}\nsites:\n  - {id: s, lat: 43, lon: 5}\n' > "$T/bad.yaml"
expect_code 2 "scenario error" -- $FB check "$T/bad.yaml"
expect_err "bad.yaml:3:[0-9]+: error: unknown sensor type 'noize' \(did you mean 'noise'\?\)" "located scenario error"

printf 'name: x\nsites: [{id: s, lat: 43, lon: 5}]\ntransports:\n  mqqt: {url: "mqtt://127.0.0.1:1"}\nfleets: [{type: noise, site: s}]\n' > "$T/badtr.yaml"
expect_code 2 "unknown transport section" -- $FB check "$T/badtr.yaml"
expect_err "badtr.yaml:4:3: error: unknown key 'mqqt' in 'transports' \(did you mean 'mqtt'\?\)" "transport name located"

# Each transport's own keys are read at load (parse only), so check and run both refuse a typo
# before anything starts: located, with a suggestion, exit 2, no trace written.
tr_case() {  # tr_case NAME YAML-BODY PATTERN
  local f="$T/tr-$1.yaml"
  printf 'name: x\nsites: [{id: s, lat: 43, lon: 5}]\n%b' "$2" > "$f"
  expect_code 2 "check: bad key in the $1 block" -- $FB check "$f"
  expect_err "tr-$1.yaml:$3" "check: $1 key located and suggested"
  expect_code 2 "run: bad key in the $1 block" -- $FB run "$f" --out "$T/tr-$1.jsonl"
  expect_err "tr-$1.yaml:$3" "run: $1 key located and suggested"
  [ ! -e "$T/tr-$1.jsonl" ] && ok "run: $1 refused before writing a trace" || fail "run: $1 wrote a trace"
}
tr_case mqtt 'transports:\n  mqtt:\n    url: "mqtt://127.0.0.1:1"\n    qso: 1\nfleets: [{type: noise, site: s, transport: mqtt}]\n' \
  "6:5: error: unknown key 'qso' in 'transports.mqtt' \(did you mean 'qos'\?\)"
tr_case lorawan 'transports:\n  lorawan:\n    server: "udp://127.0.0.1:1700"\n    duty_cylce: false\nfleets: [{type: noise, site: s, transport: lorawan}]\n' \
  "6:5: error: unknown key 'duty_cylce' in 'transports.lorawan' \(did you mean 'duty_cycle'\?\)"
tr_case modbus 'transports:\n  modbus:\n    listen: "127.0.0.1:5020"\n    rtu: {pty: true, lnik: /dev/null}\nfleets: [{type: noise, site: s, transport: modbus}]\n' \
  "6:22: error: unknown key 'lnik' in 'rtu' \(did you mean 'link'\?\)"
# values and fleet params too: a QoS out of range, a Modbus fleet's params, an apikey a codec
# needs, a LoRaWAN payload that is not one of its codecs, a LoRaWAN server that is no udp:// URL
tr_case mqtt-qos 'transports:\n  mqtt: {url: "mqtt://127.0.0.1:1", qos: 3}\nfleets: [{type: noise, site: s, transport: mqtt}]\n' \
  "4:42: error: 'qos' must be between 0 and 2, not 3"
tr_case modbus-params 'fleets:\n  - {type: noise, site: s, transport: modbus, params: {modbus: {word_ordr: CDAB}}}\n' \
  "4:65: error: unknown key 'word_ordr' in fleet 'modbus' params \(did you mean 'word_order'\?\)"
tr_case mqtt-apikey 'transports:\n  mqtt: {url: "mqtt://127.0.0.1:1"}\nfleets: [{type: noise, site: s, transport: mqtt, codec: ul}]\n' \
  "5:[0-9]+: error: codec 'ul' needs 'params: \{apikey: ...\}'"
tr_case lorawan-payload 'transports:\n  lorawan: {server: "udp://127.0.0.1:1700", payload: json}\nfleets: [{type: noise, site: s, transport: lorawan}]\n' \
  "4:54: error: unknown 'payload' 'json' \\(expected one of 'binary', 'lpp'\\)"
tr_case lorawan-server 'transports:\n  lorawan: {server: "udp//127.0.0.1:1700"}\nfleets: [{type: noise, site: s, transport: lorawan}]\n' \
  "4:21: error: bad 'server' 'udp//127.0.0.1:1700': expected udp://host:port"
# a good block of each passes check (a --local run may bring the url, so check does not demand it)
printf 'name: x\nsites: [{id: s, lat: 43, lon: 5}]\ntransports:\n  mqtt: {qos: 1, connection: per-site, topic: "t/{site}/{device}"}\n  lorawan: {server: "udp://127.0.0.1:1700", duty_cycle: false}\n  modbus: {listen: "127.0.0.1:0", layout: gateway}\nfleets:\n  - {type: noise, site: s, transport: mqtt}\n  - {type: noise, site: s, transport: lorawan}\n  - {type: noise, site: s, transport: modbus, params: {modbus: {word_order: CDAB}}}\n' > "$T/tr-good.yaml"
expect_code 0 "check: good blocks of every transport" -- $FB check "$T/tr-good.yaml"

# A run: the summary, the trace and the report.
expect_code 0 "run ci-smoke" -- $FB run scenarios/ci-smoke.yaml --out "$T/a.jsonl" --report "$T/r.json"
expect_err "samples" "summary on stderr"
lines=$(wc -l < "$T/a.jsonl")
[ "$lines" -gt 100 ] && ok "trace has $lines lines" || fail "trace too short ($lines)"
head -1 "$T/a.jsonl" | grep -qE '^\{"ts":"2026-06-01T16:00:[0-9]{2}\.[0-9]{3}Z","device":"[a-z-]+-[0-9]{6}","type":"[a-z-]+","site":"[a-z-]+","seq":0,"values":\{' \
  && ok "trace line shape" || { fail "trace line shape"; head -1 "$T/a.jsonl"; }
node -e '
  const fs=require("fs"); const r=JSON.parse(fs.readFileSync(process.argv[1]));
  const lines=fs.readFileSync(process.argv[2],"utf8").trim().split("\n").map(JSON.parse);
  if (r.samples!==lines.length) throw "report samples "+r.samples+" != trace "+lines.length;
  const byType={}; for (const l of lines) byType[l.type]=(byType[l.type]||0)+1;
  for (const t in byType) if (r.samples_by_type[t]!==byType[t]) throw "by type "+t;
  let prev=null; for (const l of lines) { const k=[l.ts,Number(l.device.slice(-6))];
    if (prev && (k[0]<prev[0] || (k[0]===prev[0] && k[1]<=prev[1]))) throw "order at "+JSON.stringify(l); prev=k; }
  const seq={}; for (const l of lines) { if ((seq[l.device]||0)!==l.seq) throw "seq gap "+l.device; seq[l.device]=l.seq+1; }
' "$T/r.json" "$T/a.jsonl" && ok "report counts match the trace; order and seq hold" || fail "report/trace consistency"

# Determinism: same scenario and seed, byte-identical trace, also at another speed mode.
$FB run scenarios/ci-smoke.yaml --quiet --out "$T/b.jsonl" 
cmp -s "$T/a.jsonl" "$T/b.jsonl" && ok "two runs byte-identical" || fail "two runs differ"
$FB run scenarios/ci-smoke.yaml --quiet --duration 30m --speed x3600 --out "$T/p.jsonl"
$FB run scenarios/ci-smoke.yaml --quiet --duration 30m --out "$T/m.jsonl"
cmp -s "$T/p.jsonl" "$T/m.jsonl" && ok "paced x3600 trace equals max-speed trace" || fail "paced trace differs"
$FB run scenarios/ci-smoke.yaml --quiet --seed 2 --out "$T/c.jsonl"
cmp -s "$T/a.jsonl" "$T/c.jsonl" && fail "another seed gives the same trace" || ok "another seed, another trace"

# Shards: the union of the shards' traces, sorted, is the single run's trace, sorted.
sort "$T/a.jsonl" > "$T/a.sorted"
for n in 1 2 3 7; do
  : > "$T/u.jsonl"
  for i in $(seq 0 $((n-1))); do
    $FB run scenarios/ci-smoke.yaml --quiet --shard "$i/$n" --out "$T/s.jsonl" || fail "shard $i/$n"
    cat "$T/s.jsonl" >> "$T/u.jsonl"
  done
  sort "$T/u.jsonl" | cmp -s - "$T/a.sorted" && ok "shard union N=$n" || fail "shard union N=$n"
done

# Paced mode keeps to the wall clock; --max-lag turns lag into exit 1.
start=$(date +%s%N)
expect_code 0 "realtime x600 run" -- $FB run scenarios/ci-smoke.yaml --duration 10m --speed x600 --quiet
el=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$el" -ge 900 ] && [ "$el" -lt 5000 ] && ok "x600 over 10 min took ${el} ms (about 1 s)" || fail "x600 took ${el} ms"
expect_code 1 "max-lag exceeded" -- $FB run ci/bench/million.yaml --duration 10m --speed x100000 --max-lag 1ms --quiet
expect_err "exceeds --max-lag" "lag failure named"

# A trace that cannot be written is a runtime failure.
expect_code 1 "unwritable trace" -- $FB run scenarios/ci-smoke.yaml --out /nonexistent/dir/t.jsonl --quiet
expect_code 1 "full disk" -- $FB run scenarios/ci-smoke.yaml --out /dev/full --quiet
expect_err "cannot write the trace" "write error named"

# check prints the plan; types lists every type.
expect_code 0 "check" -- $FB check scenarios/ci-smoke.yaml --shard 1/3
grep -q "shard 1/3 (by device): devices \[" "$T/out" && ok "check shows the shard segment" || fail "check segment"
grep -q "samples per simulated hour" "$T/out" && ok "check shows samples per hour" || fail "check rate"
expect_code 0 "types" -- $FB types
for t in noise waste water-level water-quality bike-counter pedestrian-counter streetlight; do
  grep -q "^$t " "$T/out" && ok "types lists $t" || fail "types lists $t"
done
expect_code 2 "types unknown" -- $FB types streetlite
expect_err "did you mean 'streetlight'" "types suggestion"

# Provisioning helpers: register maps, payload decoders, LoRaWAN keys.
expect_code 0 "regmap csv" -- $FB regmap streetlight --format csv --order CDAB
grep -q "dimmingLevel" "$T/out" && grep -q "CDAB" "$T/out" && ok "regmap lists the writable dimming register in CDAB" || fail "regmap content"
expect_code 2 "regmap unknown type" -- $FB regmap noize
expect_err "did you mean 'noise'" "regmap suggestion"
expect_code 2 "regmap bad order" -- $FB regmap noise --order XYZW
for t in noise waste streetlight; do
  $FB decoder $t | cmp -s - protocols/lorawan/decoders/$t.js && ok "decoder $t equals the shipped decoder" || fail "decoder $t drifted"
done
cat > "$T/lw.yaml" <<'YAML'
name: keys-test
seed: 5
sites: [{id: s, lat: 43.3, lon: 5.4, radius: 100m}]
transports: {lorawan: {server: "udp://127.0.0.1:1700"}}
fleets: [{type: streetlight, count: 3, site: s, transport: lorawan}]
YAML
expect_code 0 "keys csv" -- $FB keys "$T/lw.yaml"
[ "$(sed -n 1p "$T/out")" = "device,dev_eui,join_eui,app_key,dev_addr,nwk_s_key,app_s_key" ] && [ "$(wc -l < "$T/out")" = 4 ] \
  && ok "keys: header and one row per device" || { fail "keys csv"; cat "$T/out"; }
cp "$T/out" "$T/keys1"; $FB keys "$T/lw.yaml" | cmp -s - "$T/keys1" && ok "keys are deterministic" || fail "keys differ between calls"
$FB keys "$T/lw.yaml" --seed 6 | cmp -s - "$T/keys1" && fail "another seed gives the same keys" || ok "keys follow the seed"
expect_code 2 "keys bad format" -- $FB keys "$T/lw.yaml" --format ttn

# SIGINT: stop generating, write the report, exit 130.
$FB run scenarios/ci-smoke.yaml --speed realtime --quiet --report "$T/int.json" & pid=$!
# wait until it sleeps in its event loop (state S), then interrupt it
for _ in $(seq 1 500); do
  st=$(awk '{print $3}' /proc/$pid/stat 2>/dev/null); [ "$st" = S ] && break
  read -t 0.01 < /dev/zero 2>/dev/null || true
done
kill -INT $pid; wait $pid; code=$?
[ "${code:-0}" = 130 ] && ok "SIGINT exits 130" || fail "SIGINT exit ${code:-none}"
[ -s "$T/int.json" ] && ok "report written on SIGINT" || fail "no report on SIGINT"

# --metrics-port: Prometheus text exposition while a paced run goes on; bad ports refused.
expect_code 2 "--metrics-port out of range" -- $FB run scenarios/ci-smoke.yaml --metrics-port 70000
mport=$(free_port)
$FB run scenarios/ci-smoke.yaml --speed x600 --quiet --metrics-port "$mport" & pid=$!
got=0
for _ in $(seq 1 200); do
  if curl -sf "http://127.0.0.1:$mport/metrics" > "$T/metrics" 2>/dev/null &&
     awk '$1 == "fleetbench_samples_total" && $2 > 0 {f=1} END {exit !f}' "$T/metrics"; then got=1; break; fi
  read -t 0.05 < /dev/zero 2>/dev/null || true
done
kill -INT $pid 2>/dev/null; wait $pid
[ $got = 1 ] && ok "metrics endpoint counts samples during the run" || fail "metrics endpoint: $(head -5 "$T/metrics" 2>/dev/null)"
grep -q '^# TYPE fleetbench_samples_total counter' "$T/metrics" && ok "metrics carry TYPE lines" || fail "metrics TYPE lines"

finish
