#!/usr/bin/env node
// Checks that what the lora-packet oracle network server decrypted (lns-oracle.js JSON lines)
// decodes to the values fleetbench wrote in its trace (`fleetbench run ... --out trace.jsonl`).
//
//   node lorawan-trace-check.js --ns ns.jsonl --trace trace.jsonl --keys keys.csv [--decoders DIR]
//
// Every verified uplink with a payload is decoded the way a network server would:
//   FPort 1 (binary): with the type's generated decoder DIR/<type>.js (decodeUplink({bytes, fPort}),
//     run as an ES5 script in a fresh context, as TTS / ChirpStack run it);
//   FPort 2 (lpp): with a Cayenne LPP decoder written here from the LPP spec (the core IPSO types:
//     digital_in 0, analog_in 2, illuminance 101, temperature 103, humidity 104, barometer 115),
//     channel N being field N-1 of the type (protocols/codecs/lpp.h).
// The uplink belongs to the trace line of the same device (dev_eui -> keys row -> device index)
// with the latest `ts` not after the gateway's receive `time` (a sample is sent when it is taken,
// or later under the duty cycle, never earlier); each trace line may be sent at most once. Values
// must agree at the field's resolution (|decoded - trace| <= resolution / 2; LPP: the LPP type's
// resolution, saturated at its range); booleans and enums exactly.
// Prints one JSON summary line; exits 1 on any mismatch, unmatched uplink or duplicate match.
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const args = process.argv.slice(2);
function opt(name, def) { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; }
const nsFile = opt("--ns"), traceFile = opt("--trace"), keysFile = opt("--keys");
const decDir = opt("--decoders", path.join(__dirname, "..", "..", "protocols", "lorawan", "decoders"));
if (!nsFile || !traceFile || !keysFile) {
  console.error("usage: lorawan-trace-check.js --ns FILE --trace FILE --keys FILE [--decoders DIR]");
  process.exit(2);
}
const readLines = (f) => fs.readFileSync(f, "utf8").split(/\r?\n/).filter((l) => l);

const devOfEui = new Map();
for (const line of readLines(keysFile).slice(1)) {
  const [device, devEui] = line.split(",");
  devOfEui.set(devEui.toLowerCase(), +device);
}

const traceOf = new Map();   // device index -> [{t, seq, type, values}] in ts order
for (const line of readLines(traceFile)) {
  const r = JSON.parse(line);
  const m = /-(\d+)$/.exec(r.device);
  if (!m) throw new Error(`trace: device id without an index: ${r.device}`);
  const idx = +m[1];
  if (!traceOf.has(idx)) traceOf.set(idx, []);
  traceOf.get(idx).push({ t: Date.parse(r.ts), seq: r.seq, type: r.type, values: r.values, used: false });
}
for (const l of traceOf.values()) l.sort((a, b) => a.t - b.t || a.seq - b.seq);

const decoders = new Map();  // type -> {decodeUplink, FIELDS}
function decoder(type) {
  if (!decoders.has(type)) {
    const file = path.join(decDir, `${type}.js`);
    const ctx = {};
    vm.createContext(ctx);
    vm.runInContext(fs.readFileSync(file, "utf8"), ctx, { filename: file });
    decoders.set(type, ctx);
  }
  return decoders.get(type);
}

// Cayenne LPP core types: [size, signed, resolution, min, max]
const LPP = {
  0: [1, false, 1], 2: [2, true, 0.01], 101: [2, false, 1],
  103: [2, true, 0.1], 104: [1, false, 0.5], 115: [2, false, 0.1],
};
function lppDecode(buf) {
  const ch = new Map();
  for (let at = 0; at < buf.length;) {
    if (at + 2 > buf.length) throw new Error("lpp: truncated header");
    const c = buf[at], t = buf[at + 1], info = LPP[t];
    if (!info) throw new Error(`lpp: unknown type ${t}`);
    const [size, signed, res] = info;
    if (at + 2 + size > buf.length) throw new Error("lpp: truncated value");
    const raw = signed ? buf.readIntBE(at + 2, size) : buf.readUIntBE(at + 2, size);
    if (ch.has(c)) throw new Error(`lpp: channel ${c} twice`);
    ch.set(c, { type: t, raw, value: raw * res });
    at += 2 + size;
  }
  return ch;
}

const problems = [];
let checked = 0, binary = 0, lpp = 0, fields = 0, saturated = 0;
function problem(o) { if (problems.length < 20) problems.push(o); }

function near(a, b, res) { return Math.abs(a - b) <= res / 2 + 1e-9 * Math.max(1, Math.abs(b)); }

for (const line of readLines(nsFile)) {
  const e = JSON.parse(line);
  if (e.event !== "uplink" || !e.mic_ok || e.fport === null || e.fport === 0) continue;
  const idx = devOfEui.get(e.dev_eui);
  const lines = traceOf.get(idx);
  if (idx === undefined || !lines) { problem({ what: "no trace for device", dev_eui: e.dev_eui }); continue; }
  const rxT = Date.parse(e.time);
  let tr = null;
  for (const l of lines) if (l.t <= rxT) tr = l;
  if (!tr) { problem({ what: "uplink before any sample", device: idx, fcnt: e.fcnt }); continue; }
  if (tr.used) { problem({ what: "two uplinks for one sample", device: idx, seq: tr.seq, fcnt: e.fcnt }); continue; }
  tr.used = true;
  checked++;
  const dec = decoder(tr.type);
  const bytes = Buffer.from(e.payload, "hex");
  const F = dec.FIELDS;               // [name, kind, width, signed, resolution, decimals, enum names]
  const names = Object.keys(tr.values);
  if (e.fport === 1) {
    binary++;
    const out = dec.decodeUplink({ bytes: Array.from(bytes), fPort: e.fport });
    if (!out || !out.data) { problem({ what: "decoder error", device: idx, seq: tr.seq, out }); continue; }
    if (JSON.stringify(Object.keys(out.data)) !== JSON.stringify(names)) {
      problem({ what: "field names differ", device: idx, seq: tr.seq, got: Object.keys(out.data), want: names });
      continue;
    }
    for (const f of F) {
      const got = out.data[f[0]], want = tr.values[f[0]];
      fields++;
      const ok = f[1] === "number" ? near(got, want, f[4]) : got === want;
      if (!ok) problem({ what: "value", fport: 1, device: idx, seq: tr.seq, field: f[0], got, want });
    }
  } else if (e.fport === 2) {
    lpp++;
    let ch;
    try { ch = lppDecode(bytes); } catch (err) { problem({ what: String(err), device: idx, seq: tr.seq }); continue; }
    if (ch.size !== F.length) problem({ what: "lpp channel count", device: idx, seq: tr.seq, got: ch.size, want: F.length });
    F.forEach((f, i) => {
      const c = ch.get(i + 1), want = tr.values[f[0]];
      fields++;
      if (!c) { problem({ what: "lpp channel missing", device: idx, seq: tr.seq, field: f[0] }); return; }
      let ok;
      if (f[1] === "bool") ok = c.type === 0 && c.raw === (want ? 1 : 0);
      else if (f[1] === "enum") ok = c.type === 0 && f[6][c.raw] === want;
      else {
        const [size, signed, res] = LPP[c.type];
        const lo = signed ? -Math.pow(2, 8 * size - 1) * res : 0;
        const hi = (signed ? Math.pow(2, 8 * size - 1) - 1 : Math.pow(2, 8 * size) - 1) * res;
        const clamped = Math.min(hi, Math.max(lo, want));
        if (clamped !== want) saturated++;
        ok = near(c.value, clamped, Math.max(res, f[4]));
      }
      if (!ok) problem({ what: "value", fport: 2, device: idx, seq: tr.seq, field: f[0], got: c.value, want });
    });
  } else {
    problem({ what: "unexpected fport", fport: e.fport, device: idx });
  }
}
console.log(JSON.stringify({ event: "trace_check", checked, binary, lpp, fields, saturated,
                             problems: problems.length, first: problems.slice(0, 5) }));
process.exit(problems.length || !checked ? 1 : 0);
