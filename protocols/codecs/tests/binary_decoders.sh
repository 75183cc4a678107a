#!/usr/bin/env bash
# The JavaScript payload decoders operators install in The Things Stack / ChirpStack, run in node
# the way a network server runs them (an ECMAScript 5.1 script in a fresh context, decodeUplink
# called with {bytes, fPort}): over frames our C encoder wrote for every built-in type (the
# committed protocols/lorawan/decoders/<type>.js) and for a test type, each decoded value must
# equal the value at the encoding's resolution; wrong sizes and versions give errors.
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=${B:-build}
bin="$B/protocols/codecs/tests/test_lpp_binary"
[ -x "$bin" ] || { echo "binary_decoders: missing '$bin'" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
FB_BINARY_ORACLE_DIR="$dir" "$bin" >"$dir/test.log" 2>&1 || { cat "$dir/test.log" >&2; exit 1; }

node - "$dir/cases.json" <<'JS'
'use strict';
const fs = require('fs');
const vm = require('vm');
const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let failed = 0, frames = 0;
function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }
for (const c of cases) {
	const ctx = {};
	vm.createContext(ctx);
	vm.runInContext(fs.readFileSync(c.decoder, 'utf8'), ctx, {filename: c.decoder});
	if (typeof ctx.decodeUplink !== 'function') { console.error(`${c.decoder}: no decodeUplink`); failed++; continue; }
	for (const f of c.frames) {
		const bytes = Array.from(Buffer.from(f.hex, 'hex'));
		const out = ctx.decodeUplink({bytes: bytes, fPort: 2});
		const got = out && out.data;
		// same keys, in the field table's order, and equal values
		if (!got || !same(Object.keys(got), Object.keys(f.data)) ||
		    Object.keys(f.data).some(k => got[k] !== f.data[k])) {
			console.error(`${c.type}: frame ${f.hex}\n  decoded:  ${JSON.stringify(out)}\n  expected: ${JSON.stringify(f.data)}`);
			failed++;
		}
		frames++;
	}
	const good = Array.from(Buffer.from(c.frames[0].hex, 'hex'));
	const short = ctx.decodeUplink({bytes: good.slice(0, -1), fPort: 2});
	const badver = ctx.decodeUplink({bytes: [9].concat(good.slice(1)), fPort: 2});
	if (!short.errors || short.data || !badver.errors || badver.data) {
		console.error(`${c.type}: a truncated frame or an unknown version must give errors`);
		failed++;
	}
	if (!same(ctx.Decode(2, good), ctx.decodeUplink({bytes: good, fPort: 2}).data)) {
		console.error(`${c.type}: ChirpStack v3 Decode() differs from decodeUplink()`);
		failed++;
	}
}
if (cases.length < 2) { console.error('no built-in types checked'); failed++; }
console.log(`binary decoders: ${cases.length} types, ${frames} frames, ${failed} failures`);
process.exit(failed ? 1 : 0);
JS
