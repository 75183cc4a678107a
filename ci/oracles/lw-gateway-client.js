#!/usr/bin/env node
// A Semtech UDP gateway whose frames are all built and checked by the pinned npm `lora-packet`,
// to cross-check fleetbench's LoRaWAN collector (harness/collect_lorawan.c) against an
// independent LoRaWAN implementation.
//
//   node lw-gateway-client.js SPEC_JSON
//   SPEC: {"port": P, "gw": "EUI hex", "abp": {"devAddr", "nwkSKey", "appSKey", "fcnt0"},
//          "otaa": {"devEui", "joinEui", "appKey", "devNonce"}, "payloads": ["hex", ...]}
//
// 1. PULL_DATA, waits for PULL_ACK (the downlink path).
// 2. ABP: one unconfirmed uplink per payload (FPort 1, FCnt fcnt0, fcnt0 + 1, ...), each in a
//    PUSH_DATA answered by PUSH_ACK with its token.
// 3. OTAA: a join-request; the PULL_RESP that comes back must carry a join-accept that
//    lora-packet decrypts and whose MIC it verifies with the AppKey, timed tmst + 5 s. Session keys
//    by lora-packet (generateSessionKeys); then a confirmed uplink (FCnt 0, the first payload)
//    with them, whose ACK downlink (tmst + 1 s) must verify with the NwkSKey and carry ACK.
// Prints one JSON line {"ok": bool, ...details}; exits 0 when every check held, else 1.
"use strict";
const dgram = require("dgram");
const path = require("path");
const lp = require(path.join(__dirname, "node_modules", "lora-packet"));

const spec = JSON.parse(process.argv[2]);
const gw = Buffer.from(spec.gw, "hex");
const sock = dgram.createSocket("udp4");
const result = { ok: false, abp_sent: 0, join_accept: null, ack: null, problems: [] };
let token = 1;
const waiters = [];

function finish(ok) {
  result.ok = ok && result.problems.length === 0;
  console.log(JSON.stringify(result));
  sock.close();
  process.exit(result.ok ? 0 : 1);
}
setTimeout(() => { result.problems.push("timed out"); finish(false); }, 8000).unref();

sock.on("message", (msg) => {
  for (let i = 0; i < waiters.length; i++) {
    if (waiters[i].match(msg)) {
      const w = waiters.splice(i, 1)[0];
      w.resolve(msg);
      return;
    }
  }
});

function expect(match) {
  return new Promise((resolve) => waiters.push({ match, resolve }));
}

function send(buf) {
  return new Promise((resolve, reject) =>
    sock.send(buf, spec.port, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
}

function header(type) {
  const t = token++ & 0xffff;
  return { t, buf: Buffer.from([2, t >> 8, t & 0xff, type]) };
}

let tmst = 1000000;
async function push(phy) {
  const h = header(0);
  tmst += 3000000;
  const rxpk = { tmst, time: new Date().toISOString(), chan: 0, rfch: 0, freq: 868.1, stat: 1,
                 modu: "LORA", datr: "SF7BW125", codr: "4/5", rssi: -70, lsnr: 8.5,
                 size: phy.length, data: phy.toString("base64") };
  const acked = expect((m) => m.length === 4 && m[3] === 1 && m[1] === h.buf[1] && m[2] === h.buf[2]);
  await send(Buffer.concat([h.buf, gw, Buffer.from(JSON.stringify({ rxpk: [rxpk] }))]));
  await acked;
  return tmst;
}

function pullResp() {
  return expect((m) => m.length > 4 && m[3] === 3).then((m) => {
    const txpk = JSON.parse(m.subarray(4).toString()).txpk;
    return { txpk, phy: Buffer.from(txpk.data, "base64") };
  });
}

async function main() {
  await new Promise((r) => sock.bind(0, "127.0.0.1", r));
  const h = header(2);
  const pulled = expect((m) => m.length === 4 && m[3] === 4);
  await send(Buffer.concat([h.buf, gw]));
  await pulled;

  if (spec.abp) {
    const devAddr = Buffer.from(spec.abp.devAddr, "hex");
    const nwk = Buffer.from(spec.abp.nwkSKey, "hex"), app = Buffer.from(spec.abp.appSKey, "hex");
    for (let i = 0; i < spec.payloads.length; i++) {
      const p = lp.fromFields({ MType: "Unconfirmed Data Up", DevAddr: devAddr, FCnt: spec.abp.fcnt0 + i,
                                FPort: 1, payload: Buffer.from(spec.payloads[i], "hex") }, app, nwk);
      await push(p.getPHYPayload());
      result.abp_sent++;
    }
  }

  if (spec.otaa) {
    const appKey = Buffer.from(spec.otaa.appKey, "hex");
    const nonce = Buffer.alloc(2);
    nonce.writeUInt16BE(spec.otaa.devNonce);   // lora-packet takes fields in display (big-endian) order
    const jr = lp.fromFields({ MType: "Join Request", AppEUI: Buffer.from(spec.otaa.joinEui, "hex"),
                               DevEUI: Buffer.from(spec.otaa.devEui, "hex"), DevNonce: nonce },
                             undefined, undefined, appKey);
    const answer = pullResp();
    const t0 = await push(jr.getPHYPayload());
    const { txpk, phy } = await answer;
    const wire = lp.fromWire(phy);
    const ja = lp.fromWire(lp.decryptJoinAccept(wire, appKey));
    const micOk = lp.verifyMIC(ja, undefined, appKey);
    result.join_accept = { mic_ok: micOk, mtype: ja.getMType(), tmst_delay: txpk.tmst - t0,
                           freq: txpk.freq, datr: txpk.datr, dev_addr: ja.DevAddr.toString("hex") };
    if (!micOk) result.problems.push("join-accept MIC does not verify with the AppKey");
    if (txpk.tmst - t0 !== 5000000) result.problems.push("join-accept not timed for RX1 (tmst + 5 s)");
    if (ja.getMType() !== "Join Accept") result.problems.push("not a join-accept");
    const keys = lp.generateSessionKeys(appKey, ja.NetID, ja.AppNonce, nonce);
    const up = lp.fromFields({ MType: "Confirmed Data Up", DevAddr: ja.DevAddr, FCnt: 0, FPort: 1,
                               payload: Buffer.from(spec.payloads[0], "hex") }, keys.AppSKey, keys.NwkSKey);
    const ackP = pullResp();
    const t1 = await push(up.getPHYPayload());
    const down = await ackP;
    const d = lp.fromWire(down.phy);
    const dmic = lp.verifyMIC(d, keys.NwkSKey);
    result.ack = { mic_ok: dmic, ack: !!d.getFCtrlACK(), tmst_delay: down.txpk.tmst - t1,
                   dev_addr: d.DevAddr.toString("hex") };
    if (!dmic) result.problems.push("ACK downlink MIC does not verify with the NwkSKey");
    if (!d.getFCtrlACK()) result.problems.push("downlink without ACK for a confirmed uplink");
    if (down.txpk.tmst - t1 !== 1000000) result.problems.push("ACK not timed for RX1 (tmst + 1 s)");
    if (!d.DevAddr.equals(ja.DevAddr)) result.problems.push("ACK for another DevAddr");
  }
  finish(true);
}

main().catch((e) => { result.problems.push(String(e && e.stack || e)); finish(false); });
