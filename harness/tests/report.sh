#!/usr/bin/env bash
# Reports end to end through the binary: a run against its own local broker (--local) with an
# expect: block, the same run split into 3 shards and merged with `report merge` (totals, latency
# histogram, signals equal the single run's), JUnit checked by a real XML parser (xmllint), the
# HTML page rendered by headless Chromium and asserted on its DOM, failing expectations (exit 3),
# refused merges (exit 2).
set -u
cd "$(dirname "$0")/../.."
. ci/testlib.sh
keep_going
check() {        # check DESCRIPTION -- python3 code reading JSON files (sys.exit(1) or raise on failure)
  local what=$1; shift 2
  if python3 -c "$@" >"$T/py" 2>&1; then ok "$what"; else fail "$what"; cat "$T/py"; fi
}

scenario() {     # scenario FILE EXPECT-MQTT-BLOCK
  cat > "$1" <<EOF
name: merge-e2e
seed: 7
start: 2026-06-01T00:00:00Z
duration: 1d
timezone: Europe/Paris
sites:
  - {id: vieux-port, lat: 43.2951, lon: 5.3744, radius: 400m}
  - {id: huveaune, lat: 43.2927, lon: 5.5708, radius: 300m}
transports:
  mqtt: {url: "mqtt://127.0.0.1:1883"}
fleets:
  - {type: noise, count: 3, site: vieux-port, interval: 5m, transport: mqtt, codec: json}
  - {type: waste, count: 4, site: vieux-port, transport: mqtt, codec: json}
  - {type: water-level, count: 3, site: huveaune, interval: 15m, transport: mqtt, codec: json}
expect:
  loss_max: 0
  mqtt: $2
EOF
}
scenario "$T/s.yaml" "{latency_p99_max: 30s, errors_max: 0}"
scenario "$T/f.yaml" "{latency_p50_max: 1us, errors_max: 0}"

# --- one process, then three shards merged ----------------------------------------------------
expect_code 0 "single run with expectations met" -- \
  $FB run "$T/s.yaml" --local --quiet --report "$T/r0.json" --junit "$T/j0.xml" --html "$T/h0.html"
for i in 0 1 2; do
  expect_code 0 "shard $i/3" -- $FB run "$T/s.yaml" --local --quiet --shard $i/3 --report "$T/s$i.json"
done
expect_code 0 "report merge" -- \
  $FB report merge "$T/s0.json" "$T/s1.json" "$T/s2.json" --junit "$T/jm.xml" --html "$T/hm.html"
cp "$T/out" "$T/total.json"

check "merged totals equal the single run's" -- "
import json, sys
one = json.load(open('$T/r0.json')); tot = json.load(open('$T/total.json'))
a, b = one['bench'], tot['bench']
assert a['total']['expected'] > 1000, a['total']
for k in ('expected', 'received', 'lost', 'duplicated', 'out_of_order', 'wrong_values', 'undecodable', 'unexpected'):
    assert a['total'][k] == b['total'][k], (k, a['total'][k], b['total'][k])
for by in ('by_type', 'by_site'):
    for name, c in a['protocols']['mqtt'][by].items():
        assert c['expected'] == b['protocols']['mqtt'][by][name]['expected'], (by, name)
        assert c['received'] == b['protocols']['mqtt'][by][name]['received'], (by, name)
assert tot['samples'] == one['samples'] and tot['devices'] == one['devices'] == 10
assert tot['samples_by_type'] == one['samples_by_type']
assert tot['shard']['merged'] == [0, 1, 2] and tot['shard']['complete'] is True
assert [s['index'] for s in tot['shards']] == [0, 1, 2]
"
check "merged latency histogram is the sum of the shards', bucket for bucket" -- "
import json, collections
tot = json.load(open('$T/total.json'))
h = tot['bench']['total']['latency_us']
assert h['count'] == tot['bench']['total']['received']
want = collections.Counter()
for i in range(3):
    for ix, n in json.load(open('$T/s%d.json' % i))['bench']['total']['latency_us']['buckets']:
        want[ix] += n
assert dict(want) == {ix: n for ix, n in h['buckets']}, 'buckets differ'
assert h['min'] == min(json.load(open('$T/s%d.json' % i))['bench']['total']['latency_us']['min'] for i in range(3))
assert h['max'] == max(json.load(open('$T/s%d.json' % i))['bench']['total']['latency_us']['max'] for i in range(3))
"
check "merged signals: every recorded device's points equal the single run's" -- "
import json
one = json.load(open('$T/r0.json'))['signals']; tot = json.load(open('$T/total.json'))['signals']
assert set(one) == set(tot) == {'noise', 'waste', 'water-level'}, set(tot)
assert tot['noise']['devices'] == ['noise-000000', 'noise-000001', 'noise-000002'], tot['noise']['devices']
assert tot['noise']['field'] == 'LAeq' and tot['noise']['unit'] == 'dB(A)'
for t in one:
    for d, pts in zip(one[t]['devices'], one[t]['points']):
        j = tot[t]['devices'].index(d)
        assert tot[t]['points'][j] == pts, (t, d)
assert len(tot['noise']['points'][0]) == 288            # a day every 5 minutes
"
check "merged expectations re-evaluated, all met" -- "
import json
tot = json.load(open('$T/total.json'))
ex = tot['expectations']
assert [e['name'] for e in ex] == ['loss_max', 'mqtt.latency_p99_max', 'mqtt.errors_max'], ex
assert all(e['ok'] for e in ex) and tot['exit_code'] == 0
assert tot['expect'] == json.load(open('$T/r0.json'))['expect']
"
expect_code 0 "report merge -o FILE" -- $FB report merge -o "$T/total-o.json" "$T/s0.json" "$T/s1.json" "$T/s2.json"
cmp -s "$T/total-o.json" "$T/total.json" && ok "-o writes what stdout carries" || fail "-o output differs from stdout"
expect_code 0 "report html" -- $FB report html "$T/total.json"
cmp -s "$T/out" "$T/hm.html" && ok "report html equals merge --html" || fail "report html differs from merge --html"

# --- JUnit through a real XML parser ----------------------------------------------------------
for j in j0 jm; do
  if xmllint --noout "$T/$j.xml" 2>"$T/err"; then ok "$j.xml is well-formed XML"; else fail "$j.xml: $(cat "$T/err")"; fi
done
[ "$(xmllint --xpath 'count(//testsuite[@name="merge-e2e"]/testcase)' "$T/jm.xml")" = 3 ] \
  && ok "one testcase per expectation, in a suite named after the scenario" || fail "testcases in jm.xml"
[ "$(xmllint --xpath 'count(//failure)' "$T/jm.xml")" = 0 ] && ok "no failure when all met" || fail "failures in jm.xml"

# --- an expectation not met --------------------------------------------------------------------
expect_code 3 "run with an unmet expectation" -- \
  $FB run "$T/f.yaml" --local --quiet --report "$T/f.json" --junit "$T/jf.xml" --html "$T/hf.html"
expect_err "expectation 'mqtt.latency_p50_max' not met: mqtt p50 [0-9.]+m?s > 1us" "unmet expectation listed on stderr"
xmllint --noout "$T/jf.xml" 2>/dev/null && ok "jf.xml is well-formed XML" || fail "jf.xml is not XML"
[ "$(xmllint --xpath 'string(//testsuite/@failures)' "$T/jf.xml")" = 1 ] && ok "junit counts one failure" || fail "junit failures attribute"
[ "$(xmllint --xpath 'string(//testcase[failure]/@name)' "$T/jf.xml")" = mqtt.latency_p50_max ] \
  && ok "the failing testcase is the p50 expectation" || fail "failing testcase name"
xmllint --xpath 'string(//failure)' "$T/jf.xml" | grep -q '^limit: 1 us' && ok "failure names limit and actual" || fail "failure text"
grep -q 'id="verdict" class="verdict fail">FAIL' "$T/hf.html" && ok "html verdict FAIL" || fail "html verdict FAIL"
for i in 0 1; do $FB run "$T/f.yaml" --local --quiet --shard $i/2 --report "$T/f$i.json" 2>/dev/null; done
expect_code 3 "merge of shards with an unmet expectation" -- $FB report merge "$T/f0.json" "$T/f1.json"
expect_err "expectation 'mqtt.latency_p50_max' not met" "merge lists the unmet expectation"

# --- refused merges and usage ------------------------------------------------------------------
$FB run "$T/s.yaml" --local --quiet --shard 1/3 --seed 8 --report "$T/seed8.json" 2>/dev/null
expect_code 2 "merge of different seeds" -- $FB report merge "$T/s0.json" "$T/seed8.json"
expect_err "ran with seed '8' but '.*s0.json' with seed '7'" "seed mismatch named"
expect_code 2 "merge of one shard twice" -- $FB report merge "$T/s0.json" "$T/s0.json"
expect_err "shard 0/3 is given twice" "duplicate shard named"
printf '{"scenario": \n' > "$T/broken.json"
expect_code 2 "merge of a broken file" -- $FB report merge "$T/s0.json" "$T/broken.json"
expect_err "broken.json:2(:[0-9]+)?: error: " "broken file located"
expect_code 2 "report without subcommand" -- $FB report
expect_code 2 "report subcommand typo" -- $FB report mrege "$T/s0.json"
expect_err "unknown report subcommand 'mrege' \(did you mean 'merge'\?\)" "subcommand suggestion"
expect_code 0 "report --help" -- $FB report --help
grep -q "usage: fleetbench report merge" "$T/out" && ok "report help text" || fail "report help text"

# --- the page in a real browser, offline --------------------------------------------------------
if grep -qiE '<script|<link|<img|<iframe|src=|href=|url\(|@import' "$T/hm.html"; then
  fail "the page references external resources"
else
  ok "the page is self-contained (no script, link, image, url())"
fi
# A proxy on a closed port: any network fetch would fail; the page must not need one.
timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/chromium" \
  --proxy-server=http://127.0.0.1:9 --dump-dom "file://$T/hm.html" >"$T/dom.html" 2>"$T/chromium.log"
[ -s "$T/dom.html" ] && ok "chromium rendered the page" || { fail "chromium rendered nothing"; tail -5 "$T/chromium.log"; }
check "the rendered DOM: title, verdict, charts with data, numbers, expectations" -- "
import json, re
dom = open('$T/dom.html').read(); tot = json.load(open('$T/total.json'))
assert '<title>fleetbench: merge-e2e</title>' in dom
assert re.search(r'id=\"verdict\" class=\"verdict pass\">PASS<', dom)
def svg(id):
    m = re.search(r'<svg id=\"%s\"[^>]*>(.*?)</svg>' % id, dom, re.S)
    assert m, 'no svg ' + id
    return m.group(1)
def points(body):
    return [len(p.split()) for p in re.findall(r'<polyline[^>]* points=\"([^\"]*)\"', body)]
thr = svg('chart-throughput')
assert len(points(thr)) >= 2 and min(points(thr)) >= 1, points(thr)
lat = svg('chart-latency')
for q in ('p50', 'p90', 'p99', 'p999'):
    assert 'data-q=\"%s\"' % q in lat, q
p99 = tot['bench']['protocols']['mqtt']['latency_us']['p99']
assert 'data-q=\"p99\" data-us=\"%d\"' % p99 in lat
noise = svg('signal-noise')
assert points(noise) == [288, 288, 288], points(noise)
assert len(points(svg('signal-waste'))) == 3 and len(points(svg('signal-water-level'))) == 3
assert 'noise: LAeq (dB(A))' in dom
received = '{:,}'.format(tot['bench']['total']['received'])
assert '<td>%s</td>' % received in dom, received
for t in ('noise', 'waste', 'water-level'):
    assert re.search(r'<table id=\"loss-by-type\">.*<td>%s</td>' % t, dom, re.S), t
assert re.search(r'<table id=\"loss-by-site\">.*<td>huveaune</td>', dom, re.S)
assert dom.count('<td class=\"ok\">pass</td>') == 3
assert 'mqtt.latency_p99_max' in dom
"

finish
