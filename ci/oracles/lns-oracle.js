#!/usr/bin/env node
// A test LoRaWAN network server on a free loopback UDP port, speaking the Semtech UDP protocol,
// with every frame built and checked by the pinned npm `lora-packet` (an implementation
// independent of fleetbench's C code). It acks PUSH_DATA / PULL_DATA, answers join-requests with
// join-accepts built by lora-packet, verifies the MIC and decrypts every uplink, and prints what it
// saw as JSON lines on stdout ({"event": ...}). The first line is {"event":"listening","port":N}.
//
// Options:
//   --keys FILE         fleetbench keys CSV (device,dev_eui,join_eui,app_key,dev_addr,nwk_s_key,app_s_key)
//   --netid HEX         NetID for join-accepts (default 000013)
//   --rx2               send join-accepts and data downlinks in RX2 (+6 s / +2 s) instead of RX1
//   --adr-after K --adr-dr D   with the K-th uplink of each device, a LinkADRReq to DR D
//   --app-after K --app-port P --app-hex HEX   with the K-th uplink, an application downlink
//   --devstatus-after K  with the K-th uplink, a DevStatusReq
//   --powe DBM          txpk.powe of every downlink (default 14)
//   --bad-inputs        after the first PULL_DATA, send malformed PULL_RESPs (bad JSON, bad
//                       base64, missing fields, size mismatch, unknown device, past tmst, bad MIC)
// Stops on SIGTERM or when stdin closes.
"use strict";
const dgram = require("dgram");
const common = require("./lns-common");
const { lp, header } = common;

const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
}
const flag = (name) => args.includes(name);

const netId = Buffer.from(opt("--netid", "000013"), "hex");
const useRx2 = flag("--rx2");
const adrAfter = parseInt(opt("--adr-after", "0"), 10);
const adrDr = parseInt(opt("--adr-dr", "3"), 10);
const appAfter = parseInt(opt("--app-after", "0"), 10);
const appPort = parseInt(opt("--app-port", "10"), 10);
const appHex = opt("--app-hex", "");
const devStatusAfter = parseInt(opt("--devstatus-after", "0"), 10);
const badInputs = flag("--bad-inputs");
const powe = parseInt(opt("--powe", "14"), 10);

const keysFile = opt("--keys", null);
const { byEui, abp } = keysFile ? common.loadKeys(keysFile) : { byEui: new Map(), abp: new Map() };
const sessions = abp;        // dev_addr hex -> session (OTAA sessions are added at join)
const lastNonce = new Map(); // dev_eui -> last DevNonce (1.0.4: must increase)
let nextAddr = 0x26011000;
let joinNonce = 1;

function out(o) { process.stdout.write(JSON.stringify(o) + "\n"); }

const sock = dgram.createSocket("udp4");
const pullAddrs = new Map(); // gateway EUI -> where its PULL_RESPs go: its last PULL_DATA's source
let badSent = false;
let badMicSent = false;
let lastRx = null;

function pullResp(txpk, ver, gw) {
  const pullAddr = pullAddrs.get(gw);
  if (!pullAddr) { out({ event: "error", what: "no PULL_DATA yet", gw }); return; }
  const token = Math.floor(Math.random() * 65536);
  const msg = Buffer.concat([header(ver || 2, token, 3), Buffer.from(JSON.stringify({ txpk }))]);
  sock.send(msg, pullAddr.port, pullAddr.address);
  return token;
}

function rawPullResp(body, gw) {
  const pullAddr = pullAddrs.get(gw);
  const msg = Buffer.concat([header(2, 0x4242, 3), Buffer.from(body)]);
  sock.send(msg, pullAddr.port, pullAddr.address);
}

function txpkFor(rx, delayUs, phy) {
  return { imme: false, tmst: (rx.tmst + delayUs) >>> 0, freq: rx.freq, rfch: 0, powe,
           modu: "LORA", datr: rx.datr, codr: "4/5", ipol: true, size: phy.length,
           data: phy.toString("base64") };
}

function sendBadInputs(rx) {
  badSent = true;
  rawPullResp("{\"txpk\":{", rx.gw);                                             // bad JSON
  rawPullResp(JSON.stringify({ txpk: { tmst: rx.tmst + 1e6, freq: 868.1, datr: "SF7BW125", data: "%%%=" } }), rx.gw);
  rawPullResp(JSON.stringify({ txpk: { freq: 868.1, datr: "SF7BW125", data: "QA==" } }), rx.gw);  // no tmst
  rawPullResp(JSON.stringify({ txpk: { tmst: rx.tmst + 1e6, freq: 868.1, datr: "SF7BW125", size: 9, data: "QA==" } }), rx.gw);
  // a well-formed frame for a device nobody knows, in the future
  const stranger = lp.fromFields({ MType: "Unconfirmed Data Down", DevAddr: Buffer.from("deadbeef", "hex"),
    FCtrl: { ACK: true }, FCnt: 1, FPort: 1, payload: Buffer.from("00", "hex") },
    Buffer.alloc(16, 1), Buffer.alloc(16, 2)).getPHYPayload();
  pullResp(txpkFor(rx, 1e6, stranger), 2, rx.gw);
  // a txpk in the past
  pullResp(txpkFor(rx, -2e6, stranger), 2, rx.gw);
  out({ event: "bad_inputs_sent", count: 6 });
}

function handleJoin(p, rx) {
  const devEui = p.DevEUI.toString("hex");
  const dev = byEui.get(devEui);
  const devNonce = p.DevNonce.readUInt16BE(0);
  if (!dev) { out({ event: "join_unknown", dev_eui: devEui }); return; }
  const micOk = lp.verifyMIC(p, undefined, dev.appKey);
  const prev = lastNonce.get(devEui);
  const reused = prev !== undefined && devNonce <= prev;
  out({ event: "join", dev_eui: devEui, dev_nonce: devNonce, mic_ok: micOk, nonce_reused: reused,
        gw: rx.gw, tmst: rx.tmst, datr: rx.datr });
  if (!micOk || reused) return;
  lastNonce.set(devEui, devNonce);
  const devAddr = Buffer.alloc(4);
  devAddr.writeUInt32BE(nextAddr++);
  const appNonce = Buffer.alloc(3);
  appNonce.writeUIntBE(joinNonce++, 0, 3);
  // CFList: 867.1 .. 867.9 MHz, 3 bytes LE in units of 100 Hz, then CFListType 0
  const cf = Buffer.alloc(16);
  [8671000, 8673000, 8675000, 8677000, 8679000].forEach((f, i) => cf.writeUIntLE(f, 3 * i, 3));
  const ja = lp.fromFields({ MType: "Join Accept", AppNonce: appNonce, NetID: netId, DevAddr: devAddr,
    DLSettings: 0, RxDelay: 1, CFList: cf }, undefined, undefined, dev.appKey);
  const keys = lp.generateSessionKeys(dev.appKey, netId, appNonce, p.DevNonce);
  sessions.set(devAddr.toString("hex"), common.newSession(devEui, devAddr, keys.NwkSKey, keys.AppSKey));
  const token = pullResp(txpkFor(rx, useRx2 ? 6e6 : 5e6, ja.getPHYPayload()), 2, rx.gw);
  out({ event: "join_accept", dev_eui: devEui, dev_addr: devAddr.toString("hex"), token });
}

function handleData(p, rx) {
  const addr = p.DevAddr.toString("hex");
  const s = sessions.get(addr);
  if (!s) { out({ event: "uplink_unknown", dev_addr: addr }); return; }
  const { fcnt, repeat, micOk, plain } = common.openUplink(s, p);
  if (repeat) { out({ event: "duplicate", dev_addr: addr, fcnt, gw: rx.gw }); return; }
  if (!micOk) { out({ event: "uplink", dev_addr: addr, fcnt, mic_ok: false }); return; }
  common.accept(s, fcnt);
  const confirmed = p.getMType() === "Confirmed Data Up";
  out({ event: "uplink", dev_eui: s.devEui, dev_addr: addr, fcnt, fport: p.getFPort(), mic_ok: true,
        confirmed, adr: !!p.getFCtrlADR(), ack: !!p.getFCtrlACK(), fopts: p.FOpts.toString("hex"),
        payload: plain.toString("hex"), datr: rx.datr, freq: rx.freq, rssi: rx.rssi, lsnr: rx.lsnr,
        gw: rx.gw, port: rx.port, tmst: rx.tmst, time: rx.time, size: rx.size, chan: rx.chan });
  // what goes down with this uplink
  const fopts = [];
  if (adrAfter && s.uplinks === adrAfter)   // LinkADRReq: DR, TXPower 1, ChMask ch0..7, NbTrans 1
    fopts.push(0x03, (adrDr << 4) | 1, 0xff, 0x00, 0x01);
  if (devStatusAfter && s.uplinks === devStatusAfter) fopts.push(0x06);
  const app = appAfter && s.uplinks === appAfter && appHex ? Buffer.from(appHex, "hex") : null;
  if (!confirmed && !fopts.length && !app) return;
  const fields = { MType: "Unconfirmed Data Down", DevAddr: s.devAddr, FCtrl: { ACK: confirmed, ADR: true },
                   FCnt: s.fcntDown++, FOpts: Buffer.from(fopts) };
  // lora-packet cannot build a frame without FPort: an ACK / MAC-only downlink carries FPort 1
  // with an empty FRMPayload (valid LoRaWAN)
  fields.FPort = app ? appPort : 1;
  fields.payload = app || Buffer.alloc(0);
  const down = lp.fromFields(fields, s.appSKey, s.nwkSKey).getPHYPayload();
  let phy = down;
  if (badInputs && badSent && !badMicSent && s.uplinks === 2) {   // once: a wrong MIC, in the window
    badMicSent = true;
    phy = Buffer.from(down);
    phy[phy.length - 1] ^= 0xff;
  }
  const token = pullResp(txpkFor(rx, useRx2 ? 2e6 : 1e6, phy), 2, rx.gw);
  out({ event: "downlink", dev_addr: addr, ack: confirmed, fopts: Buffer.from(fopts).toString("hex"),
        app: app ? app.toString("hex") : null, bad_mic: phy !== down, token });
}

sock.on("message", (msg, rinfo) => {
  if (msg.length < 4) { out({ event: "short" }); return; }
  const ver = msg[0], token = (msg[1] << 8) | msg[2], type = msg[3];
  const gw = msg.length >= 12 ? msg.slice(4, 12).toString("hex") : null;
  if (type === 2) {                       // PULL_DATA -> PULL_ACK (4 bytes)
    pullAddrs.set(gw, { address: rinfo.address, port: rinfo.port });
    sock.send(header(ver, token, 4), rinfo.port, rinfo.address);
    out({ event: "pull_data", gw, port: rinfo.port, ver, len: msg.length });
    return;
  }
  if (type === 5) {                       // TX_ACK
    let err = null;
    if (msg.length > 12) { try { err = JSON.parse(msg.slice(12).toString()).txpk_ack.error; } catch (e) { err = "unparsable"; } }
    out({ event: "tx_ack", gw, token, error: err });
    return;
  }
  if (type !== 0) { out({ event: "unexpected_type", type }); return; }
  sock.send(header(ver, token, 1), rinfo.port, rinfo.address);     // PUSH_ACK
  let body;
  try { body = JSON.parse(msg.slice(12).toString()); } catch (e) { out({ event: "bad_json", gw }); return; }
  if (body.stat) out({ event: "stat", gw, stat: body.stat, port: rinfo.port });
  for (const rx of body.rxpk || []) {
    rx.gw = gw;
    rx.port = rinfo.port;
    const parsed = common.parseRxpk(rx);
    if (parsed.error === "bad_rxpk") { out({ event: "bad_rxpk", gw }); continue; }
    if (parsed.error) { out({ event: "unparsable", gw, error: parsed.why }); continue; }
    const p = parsed.packet;
    lastRx = rx;
    const mtype = p.getMType();
    if (mtype === "Join Request") handleJoin(p, rx);
    else if (mtype === "Unconfirmed Data Up" || mtype === "Confirmed Data Up") handleData(p, rx);
    else out({ event: "unexpected_mtype", mtype });
    if (badInputs && !badSent && pullAddrs.has(gw) && mtype !== "Join Request" && lastRx) sendBadInputs(lastRx);
  }
});

sock.bind(0, "127.0.0.1", () => out({ event: "listening", port: sock.address().port }));
process.on("SIGTERM", () => { sock.close(); process.exit(0); });
process.stdin.on("end", () => { sock.close(); process.exit(0); });
process.stdin.resume();
