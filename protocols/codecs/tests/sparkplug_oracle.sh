#!/usr/bin/env bash
# Sparkplug B wire format against an independent implementation: test_sparkplug writes payloads
# (births, data with and without aliases, deaths, signed and 64-bit values) and what each must
# decode to; the npm sparkplug-payload oracle decodes them; every metric's name, alias, datatype,
# value and timestamp, and the payload's seq and timestamp, must match exactly.
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=${B:-build}
bin="$B/protocols/codecs/tests/test_sparkplug"
[ -x "$bin" ] || { echo "sparkplug_oracle: missing '$bin' (make $bin)" >&2; exit 1; }
[ -d ci/oracles/node_modules/sparkplug-payload ] || { echo "sparkplug_oracle: missing ci/oracles node_modules (make deps)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

FB_SPB_ORACLE_DIR="$dir" "$bin" >"$dir/test.log" 2>&1 || { cat "$dir/test.log" >&2; exit 1; }
ls "$dir"/*.hex >/dev/null
node ci/oracles/sparkplug-decode.js "$dir"/*.hex >"$dir/decoded.jsonl"

node - "$dir" <<'JS'
'use strict';
const fs = require('fs');
const dir = process.argv[2];
const lines = fs.readFileSync(dir + '/decoded.jsonl', 'utf8').trim().split('\n');
let failed = 0, cases = 0, metrics = 0;
function canon(x) {   // key order does not matter; everything else must be equal
	if (Array.isArray(x)) return x.map(canon);
	if (x && typeof x === 'object') {
		const o = {};
		for (const k of Object.keys(x).sort()) o[k] = canon(x[k]);
		return o;
	}
	return x;
}
for (const line of lines) {
	const r = JSON.parse(line);
	const name = r.file.replace(/^.*\//, '').replace(/\.hex$/, '');
	if (r.error) { console.error(`${name}: oracle cannot decode: ${r.error}`); failed++; continue; }
	const want = JSON.parse(fs.readFileSync(`${dir}/${name}.expect.json`, 'utf8'));
	const got = r.payload;
	if (!got.metrics) got.metrics = [];
	const a = JSON.stringify(canon(got)), b = JSON.stringify(canon(want));
	if (a !== b) {
		console.error(`${name}: mismatch\n  oracle:   ${a}\n  expected: ${b}`);
		failed++;
	}
	cases++;
	metrics += want.metrics.length;
}
if (cases < 7) { console.error(`only ${cases} payloads decoded`); failed++; }
console.log(`sparkplug oracle: ${cases} payloads, ${metrics} metrics, ${failed} mismatches`);
process.exit(failed ? 1 : 0);
JS
