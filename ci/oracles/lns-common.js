// What the test network servers in this folder share (lns-oracle.js, ns-bridge.js): the
// fleetbench keys CSV, the Semtech UDP header, an rxpk's frame checked and parsed with the pinned
// npm lora-packet, and an ABP/OTAA session's uplink verified (MIC with the 32-bit FCnt) and
// decrypted with lora-packet. No state of its own.
"use strict";
const fs = require("fs");
const path = require("path");
const lp = require(path.join(__dirname, "node_modules", "lora-packet"));

// `fleetbench keys --format csv`: device,dev_eui,join_eui,app_key,dev_addr,nwk_s_key,app_s_key.
// byEui: dev_eui hex -> {device, appKey}; abp: dev_addr hex -> a new session (ABP rows only).
function loadKeys(file) {
  const byEui = new Map();
  const abp = new Map();
  const lines = fs.readFileSync(file, "utf8").split(/\r?\n/);
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const [device, devEui, , appKey, devAddr, nwk, app] = line.split(",");
    byEui.set(devEui.toLowerCase(), { device: +device, appKey: Buffer.from(appKey, "hex") });
    if (devAddr) abp.set(devAddr.toLowerCase(), newSession(devEui, Buffer.from(devAddr, "hex"),
      Buffer.from(nwk, "hex"), Buffer.from(app, "hex")));
  }
  return { byEui, abp };
}

function newSession(devEui, devAddr, nwkSKey, appSKey) {
  return { devEui, devAddr, nwkSKey, appSKey, fcntUp: -1, fcntDown: 0, uplinks: 0 };
}

// ver | token (2 bytes) | type
function header(ver, token, type) { return Buffer.from([ver, token >> 8, token & 255, type]); }

// An rxpk's PHYPayload parsed by lora-packet: {phy, packet} or {error: "bad_rxpk" | "unparsable"}.
function parseRxpk(rx) {
  const phy = Buffer.from(rx.data, "base64");
  if (phy.length !== rx.size || rx.data !== phy.toString("base64")) return { error: "bad_rxpk" };
  try { return { phy, packet: lp.fromWire(phy) }; } catch (e) { return { error: "unparsable", why: String(e) }; }
}

// The 32-bit FCnt of session s's uplink p (the 16 wire bits above the last one, LoRaWAN 1.0.4
// §4.3.1.5), whether it repeats the last one, and when it verifies, the decrypted FRMPayload:
// {fcnt, repeat, micOk, plain}. Does not advance the session (see accept()).
function openUplink(s, p) {
  const fc16 = p.getFCnt();
  let fcnt = s.fcntUp < 0 ? fc16 : ((s.fcntUp & 0xffff0000) | fc16) >>> 0;
  if (s.fcntUp >= 0 && fcnt < s.fcntUp) fcnt += 0x10000;
  if (fcnt === s.fcntUp) return { fcnt, repeat: true };
  const msb = Buffer.alloc(2);
  msb.writeUInt16LE(fcnt >>> 16);
  const micOk = lp.verifyMIC(p, s.nwkSKey, undefined, msb);
  if (!micOk) return { fcnt, repeat: false, micOk };
  const plain = p.getFPort() === null ? Buffer.alloc(0) : lp.decrypt(p, s.appSKey, s.nwkSKey, msb);
  return { fcnt, repeat: false, micOk, plain };
}

function accept(s, fcnt) {
  s.fcntUp = fcnt;
  s.uplinks++;
}

module.exports = { lp, loadKeys, newSession, header, parseRxpk, openUplink, accept };
