#!/usr/bin/env node
// Oracle: decodes Sparkplug B payloads with the pinned npm `sparkplug-payload` (Eclipse Tahu's
// JavaScript implementation, an independent reading of the .proto) and prints one JSON line per
// input: {"file": "<path>", "payload": <decoded>}. Inputs: files holding the payload as hex.
// 64-bit values (protobufjs Long) print as numbers when exact in a double, else as strings.
'use strict';
const fs = require('fs');
const path = require('path');
const sparkplug = require(path.join(__dirname, 'node_modules', 'sparkplug-payload')).get('spBv1.0');

function plain(x) {
	if (x === null || x === undefined) return x;
	if (typeof x === 'object' && typeof x.low === 'number' && typeof x.high === 'number' &&
	    typeof x.unsigned === 'boolean') {
		const s = x.toString();
		const n = Number(s);
		return Number.isSafeInteger(n) ? n : s;
	}
	if (Buffer.isBuffer(x) || x instanceof Uint8Array) return Buffer.from(x).toString('hex');
	if (Array.isArray(x)) return x.map(plain);
	if (typeof x === 'object') {
		const o = {};
		for (const k of Object.keys(x)) o[k] = plain(x[k]);
		return o;
	}
	return x;
}

const files = process.argv.slice(2);
if (files.length === 0) {
	process.stderr.write('usage: sparkplug-decode.js FILE.hex...\n');
	process.exit(2);
}
let status = 0;
for (const f of files) {
	try {
		const hex = fs.readFileSync(f, 'utf8').trim();
		if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error('not hex');
		const payload = sparkplug.decodePayload(Buffer.from(hex, 'hex'));
		process.stdout.write(JSON.stringify({file: f, payload: plain(payload)}) + '\n');
	} catch (e) {
		process.stdout.write(JSON.stringify({file: f, error: String(e && e.message || e)}) + '\n');
		status = 1;
	}
}
process.exit(status);
