// The same uplinks as lw_bench built by the npm lora-packet (pinned in ci/oracles): ABP data
// frames of 10 bytes for 10 000 devices, encrypted and MIC'd, base64 and an rxpk JSON object each,
// PUSH_DATA batches of 8 serialised. No UDP (the C figure includes sending). Prints one
// `name value unit` line. Usage: node lora_packet_bench.js [frames]
"use strict";
const path = require("path");
const lp = require(path.join(__dirname, "..", "..", "..", "ci", "oracles", "node_modules", "lora-packet"));
const frames = parseInt(process.argv[2] || "100000", 10);
const NDEV = 10000;
const devs = [];
for (let i = 0; i < NDEV; i++) {
  const addr = Buffer.alloc(4);
  addr.writeUInt32BE(i);
  devs.push({ addr, nwk: Buffer.alloc(16, i & 255), app: Buffer.alloc(16, (i >> 8) & 255), fcnt: 0 });
}
const payload = Buffer.alloc(10);
let batch = [], bytes = 0;
const t0 = process.hrtime.bigint();
for (let n = 0; n < frames; n++) {
  const d = devs[n % NDEV];
  payload.writeUInt32LE(n, 0);
  const phy = lp.fromFields({ MType: "Unconfirmed Data Up", DevAddr: d.addr, FCtrl: { ADR: false },
    FCnt: d.fcnt++, FPort: 1, payload }, d.app, d.nwk).getPHYPayload();
  batch.push({ tmst: n >>> 0, time: "2026-06-01T00:00:00.000000Z", chan: 0, rfch: 0, freq: 868.1, stat: 1,
    modu: "LORA", datr: "SF7BW125", codr: "4/5", rssi: -60, lsnr: 7.5, size: phy.length,
    data: phy.toString("base64") });
  if (batch.length === 8) { bytes += JSON.stringify({ rxpk: batch }).length; batch = []; }
}
const s = Number(process.hrtime.bigint() - t0) / 1e9;
if (bytes === 0) process.exit(1);
console.log(`lora_packet_frames_per_s ${Math.round(frames / s)} frames/s`);
