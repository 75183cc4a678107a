#!/usr/bin/env bash
# `fleetbench validate` on the command line: help, usage errors (exit 2, named, with the hint),
# --print-profile, and an observation ended by SIGTERM that still writes its report (exit 3: no
# device spoke). The checks themselves are tested in test_validate (synthetic streams) and
# test_validate_e2e (real peers).
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh
keep_going

expect_code 0 "validate --help" -- $FB validate --help
grep -q "usage: fleetbench validate --type TYPE SOURCE" "$T/out" && ok "help text" || fail "help text"
$FB --help | grep -q "^  validate " && ok "listed in fleetbench --help" || fail "listed in fleetbench --help"

expect_code 2 "no type" -- $FB validate --mqtt mqtt://127.0.0.1:1883
expect_err "missing --type" "missing type named"
expect_err "try 'fleetbench validate --help'" "hint to help"
expect_code 2 "unknown type" -- $FB validate --type nosie --mqtt mqtt://127.0.0.1:1883
expect_err "unknown type 'nosie' \(did you mean 'noise'\?" "type suggestion"
expect_code 2 "no source" -- $FB validate --type noise
expect_err "missing a source" "missing source named"
expect_code 2 "two sources" -- $FB validate --type noise --mqtt mqtt://127.0.0.1:1883 --modbus 127.0.0.1:502
expect_err "only one source" "two sources refused"
expect_code 2 "bad url" -- $FB validate --type noise --mqtt http://127.0.0.1:1883
expect_err "invalid --mqtt 'http://127.0.0.1:1883'" "bad url named"
expect_code 2 "codec of another transport" -- $FB validate --type noise --mqtt mqtt://127.0.0.1:1883 --codec lpp
expect_err "codec 'lpp' is not carried over mqtt" "codec refused"
expect_code 2 "codec misspelt" -- $FB validate --type noise --mqtt mqtt://127.0.0.1:1883 --codec senlm
expect_err "did you mean 'senml'" "codec suggestion"
expect_code 2 "lorawan without keys" -- $FB validate --type noise --lorawan-listen 127.0.0.1:0
expect_err "--lorawan-listen needs --keys FILE" "keys required"
expect_code 2 "stray option" -- $FB validate --type noise --modbus 127.0.0.1:502 --topic x
expect_err "--topic, --ca, --cert, --key and --username go with --mqtt" "stray option named"
expect_code 2 "bad unit" -- $FB validate --type noise --modbus 127.0.0.1:502 --unit 300
expect_err "invalid --unit '300'" "bad unit named"
expect_code 2 "bad duration" -- $FB validate --type noise --mqtt mqtt://127.0.0.1:1883 --duration soon
expect_err "invalid --duration 'soon'" "bad duration named"
expect_code 2 "bad tolerance" -- $FB validate --type noise --mqtt mqtt://127.0.0.1:1883 --tolerance 0
expect_err "invalid --tolerance '0'" "bad tolerance named"
expect_code 2 "bad format" -- $FB validate --type noise --mqtt mqtt://127.0.0.1:1883 --format xml
expect_err "invalid --format 'xml'" "bad format named"
expect_code 2 "bad counter" -- $FB validate --type streetlight --mqtt mqtt://127.0.0.1:1883 --counter activePowr
expect_err "unknown field 'activePowr' in --counter for type 'streetlight' \(did you mean 'activePower'\?\)" "counter field suggestion"
expect_code 2 "unknown time zone" -- $FB validate --type noise --mqtt mqtt://127.0.0.1:1883 --timezone Mars/Base
expect_err "unknown time zone 'Mars/Base'" "time zone named"
expect_code 2 "unknown word order" -- $FB validate --type noise --modbus 127.0.0.1:502 --order ABDC
expect_err "invalid --order 'ABDC': expected ABCD, CDAB, BADC or DCBA" "word orders named"
for order in ABCD CDAB BADC dcba; do
  expect_code 0 "word order $order accepted" -- $FB validate --type noise --modbus 127.0.0.1:502 --order $order --print-profile
done
expect_code 2 "--order without --modbus" -- $FB validate --type noise --mqtt mqtt://127.0.0.1:1883 --order CDAB
expect_err "--map and --order go with --modbus" "--order's source named"
expect_code 2 "unknown option" -- $FB validate --type noise --mqtt mqtt://127.0.0.1:1883 --topik x
expect_err "unknown option '--topik'" "unknown option named"

# The profile a device is held to: the model's fields, the counters, the options' overrides.
expect_code 0 "print profile" -- $FB validate --type bike-counter --print-profile --interval 30s --tolerance 10
grep -q "a report every 30s (± 10 %)" "$T/out" && ok "profile interval and tolerance" || { fail "profile interval"; cat "$T/out"; }
grep -qE "^  dailyTotal .*counter \(resets at local midnight\)" "$T/out" && ok "daily counter in profile" || { fail "daily counter"; cat "$T/out"; }
grep -qE "^  yearTotal .*counter \(resets at local new year\)" "$T/out" && ok "yearly counter in profile" || fail "yearly counter"
grep -qE "^  intensity .*counter" "$T/out" && fail "per-report count shown as a counter" || ok "intensity is no counter"
expect_code 0 "print profile with --counter" -- $FB validate --type streetlight --print-profile --counter activePower:daily
grep -qE "^  activePower .*counter \(resets at local midnight\)" "$T/out" && ok "--counter applied" || { fail "--counter applied"; cat "$T/out"; }

# A user-defined type from a scenario's types:
expect_code 0 "user-defined type" -- $FB validate --scenario scenarios/lab-prototype.yaml --type air-quality --print-profile
grep -q "profile 'air-quality': a report every 10m" "$T/out" && grep -qE "^  pm25 +ug/m3 +0..500 step 0.1" "$T/out" \
  && ok "user type's profile" || { fail "user type's profile"; cat "$T/out"; }
expect_code 2 "user type without its scenario" -- $FB validate --type air-quality --print-profile
expect_err "unknown type 'air-quality'.*--scenario FILE" "hint to --scenario"

# SIGTERM ends the observation early with a report; no device spoke, so traffic fails (exit 3).
printf 'name: k\nseed: 1\nsites: [{id: s, lat: 43.3, lon: 5.37}]\ntransports: {lorawan: {server: "udp://127.0.0.1:9"}}\nfleets: [{type: noise, site: s, transport: lorawan}]\n' > "$T/k.yaml"
$FB keys "$T/k.yaml" > "$T/keys.csv" || fail "keys for the LoRaWAN endpoint"
$FB validate --type noise --lorawan-listen 127.0.0.1:0 --keys "$T/keys.csv" --duration 1h \
  --format junit --out "$T/v.xml" 2>"$T/verr" & pid=$!
pids+=($pid)
poll 10 grep -qs "validate: listening for 1h" "$T/verr" && ok "listening" || { fail "never listening"; cat "$T/verr"; }
kill -TERM "$pid"; wait "$pid"; rc=$?
[ "$rc" = 3 ] && ok "SIGTERM: report and exit 3" || { fail "SIGTERM: exit $rc, wanted 3"; cat "$T/verr"; }
grep -q "interrupted, reporting what was observed" "$T/verr" && ok "interruption said" || fail "interruption said"
grep -q '<testcase classname="validate.noise" name="traffic">' "$T/v.xml" && grep -q '<failure message="0 reports' "$T/v.xml" \
  && ok "junit report written, traffic failed" || { fail "junit report"; cat "$T/v.xml"; }
grep -q '<skipped message="no report received"/>' "$T/v.xml" && ok "value checks skipped, not failed" || fail "value checks skipped"

finish
