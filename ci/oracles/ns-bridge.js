#!/usr/bin/env node
// A minimal LoRaWAN network server with an MQTT integration, for tests of
// `fleetbench run --collect-lorawan`: it speaks Semtech UDP to the simulated gateways on a free
// loopback port (PUSH_DATA -> PUSH_ACK, PULL_DATA -> PULL_ACK), verifies the MIC of every uplink
// and decrypts it with the pinned npm lora-packet (ci/oracles/lns-common.js, shared with
// lns-oracle.js) using the session keys of `fleetbench keys --format csv` (ABP rows), keeps one
// uplink per (DevAddr, FCnt) heard by several gateways (a window of --dedup-ms from the first
// copy; later copies are dropped), and publishes each one to an MQTT broker (QoS 1) as
// ChirpStack v4 or The Things Stack v3 would:
//   chirpstack: application/{app id}/device/{dev_eui}/event/up, an integration.UplinkEvent in
//               the protobuf JSON mapping (deviceInfo.devEui, fCnt, fPort, data, rxInfo[], ...)
//   tts:        v3/{app}@{tenant}/devices/{device id}/up, an ApplicationUp (end_device_ids,
//               uplink_message.f_cnt, f_port, frm_payload, rx_metadata[], ...)
// Fields with their type's zero value are left out, as both servers do (FCnt 0 has no fCnt).
// It prints JSON lines on stdout: {"event":"listening","port":N} once bound and connected to the
// broker, then "published" / "dropped" per uplink, "mic_failed", "unknown_device", "late_copy".
//
// Options:
//   --keys FILE          fleetbench keys CSV (ABP rows: dev_addr, nwk_s_key, app_s_key)
//   --format F           chirpstack (default) or tts
//   --mqtt-port P        the broker on 127.0.0.1
//   --drop-every N       do not publish the N-th, 2N-th, ... uplink (after dedup), to test loss
//   --status-events      chirpstack: also a "status" event after each device's first uplink
//   --dedup-ms MS        gateway dedup window (default 200)
// Stops on SIGTERM.
"use strict";
const dgram = require("dgram");
const path = require("path");
const crypto = require("crypto");
const common = require("./lns-common");
const mqtt = require(path.join(__dirname, "node_modules", "mqtt"));

const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
}
const format = opt("--format", "chirpstack");
if (format !== "chirpstack" && format !== "tts") { console.error("--format: chirpstack or tts"); process.exit(2); }
const mqttPort = parseInt(opt("--mqtt-port", "1883"), 10);
const dropEvery = parseInt(opt("--drop-every", "0"), 10);
const dedupMs = parseInt(opt("--dedup-ms", "200"), 10);
const statusEvents = args.includes("--status-events");
const { byEui, abp: sessions } = common.loadKeys(opt("--keys", null));
const deviceOf = new Map();   // dev_eui -> device index
for (const [eui, k] of byEui) deviceOf.set(eui, k.device);

const appId = "6b0c6f2e-7a52-4f3a-9e0c-0f1e2d3c4b5a";   // ChirpStack ids are UUIDs
const tenantId = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242";
const ttsApp = "fleetbench-app", ttsTenant = "ttn";

function out(o) { process.stdout.write(JSON.stringify(o) + "\n"); }

const pending = new Map();    // "devaddr:fcnt" -> uplink waiting for its dedup window
let uplinks = 0;
let published = 0, acked = 0;

function dataRate(datr) {
  const m = /^SF(\d+)BW(\d+)$/.exec(datr || "");
  return m ? { sf: +m[1], bw: +m[2] * 1000 } : { sf: 7, bw: 125000 };
}

// Zero values are omitted (proto3 JSON mapping; TTS: "if a certain field has a value of "", 0 or
// false it will not be present").
function put(o, k, v) { if (v !== 0 && v !== "" && v !== false && v !== undefined) o[k] = v; }

function chirpstackUp(u) {
  const dr = dataRate(u.rx[0].datr);
  const ev = {
    deduplicationId: crypto.randomUUID(), time: new Date().toISOString(),
    deviceInfo: { tenantId, tenantName: "fleetbench", applicationId: appId, applicationName: "fleetbench",
      deviceProfileId: "f0b3a1c2-0000-4000-8000-000000000001", deviceProfileName: "fleetbench-abp",
      deviceName: "device-" + u.device, devEui: u.devEui, tags: {} },
    devAddr: u.devAddr,
  };
  put(ev, "adr", u.adr);
  put(ev, "dr", 12 - dr.sf);
  put(ev, "fCnt", u.fcnt);
  put(ev, "fPort", u.fport);
  put(ev, "confirmed", u.confirmed);
  put(ev, "data", u.plain.toString("base64"));
  ev.object = { note: "the device profile's codec output: the collector must not use it" };
  ev.rxInfo = u.rx.map((r, i) => ({ gatewayId: r.gw, uplinkId: (u.fcnt * 16 + i) >>> 0,
    time: r.time, rssi: r.rssi, snr: r.lsnr, channel: r.chan, location: {},
    context: Buffer.from([r.tmst >>> 24, r.tmst >>> 16 & 255, r.tmst >>> 8 & 255, r.tmst & 255]).toString("base64"),
    metadata: { region_config_id: "eu868", region_common_name: "EU868" }, crcStatus: "CRC_OK" }));
  ev.txInfo = { frequency: Math.round(u.rx[0].freq * 1e6),
    modulation: { lora: { bandwidth: dr.bw, spreadingFactor: dr.sf, codeRate: "CR_4_5" } } };
  return { topic: `application/${appId}/device/${u.devEui}/event/up`, body: ev };
}

function ttsUp(u) {
  const dr = dataRate(u.rx[0].datr);
  const now = new Date().toISOString();
  const up = { session_key_id: crypto.randomBytes(16).toString("base64") };
  put(up, "f_port", u.fport);
  put(up, "f_cnt", u.fcnt);
  put(up, "frm_payload", u.plain.toString("base64"));
  up.decoded_payload = { note: "the payload formatter's output: the collector must not use it" };
  up.rx_metadata = u.rx.map((r) => ({ gateway_ids: { gateway_id: "eui-" + r.gw, eui: r.gw.toUpperCase() },
    time: r.time, timestamp: r.tmst, rssi: r.rssi, channel_rssi: r.rssi, snr: r.lsnr,
    uplink_token: crypto.randomBytes(12).toString("base64") }));
  up.settings = { data_rate: { lora: { bandwidth: dr.bw, spreading_factor: dr.sf, coding_rate: "4/5" } },
    frequency: String(Math.round(u.rx[0].freq * 1e6)), timestamp: u.rx[0].tmst };
  up.received_at = now;
  up.consumed_airtime = "0.061696s";
  up.network_ids = { net_id: "000013", tenant_id: ttsTenant, cluster_id: "eu1" };
  const deviceId = "device-" + u.device;
  const body = {
    end_device_ids: { device_id: deviceId, application_ids: { application_id: ttsApp },
      dev_eui: u.devEui.toUpperCase(), dev_addr: u.devAddr.toUpperCase() },
    correlation_ids: ["as:up:" + crypto.randomBytes(13).toString("hex").toUpperCase()],
    received_at: now, uplink_message: up,
  };
  return { topic: `v3/${ttsApp}@${ttsTenant}/devices/${deviceId}/up`, body };
}

function publish(topic, body) {
  published++;
  client.publish(topic, JSON.stringify(body), { qos: 1 }, (err) => {
    if (err) out({ event: "publish_error", error: String(err) });
    else acked++;
  });
}

function flush(key) {
  const u = pending.get(key);
  pending.delete(key);
  u.done = true;
  uplinks++;
  if (dropEvery && uplinks % dropEvery === 0) {
    out({ event: "dropped", dev_eui: u.devEui, fcnt: u.fcnt });
    return;
  }
  const m = format === "tts" ? ttsUp(u) : chirpstackUp(u);
  publish(m.topic, m.body);
  out({ event: "published", dev_eui: u.devEui, fcnt: u.fcnt, gateways: u.rx.length });
  if (statusEvents && format === "chirpstack" && !u.session.statusSent) {
    u.session.statusSent = true;
    publish(`application/${appId}/device/${u.devEui}/event/status`, {
      deduplicationId: crypto.randomUUID(), time: new Date().toISOString(),
      deviceInfo: chirpstackUp(u).body.deviceInfo, margin: 7, batteryLevel: 92.5 });
  }
}

function handleData(p, rx) {
  const addr = p.DevAddr.toString("hex");
  const s = sessions.get(addr);
  if (!s) { out({ event: "unknown_device", dev_addr: addr }); return; }
  const r = common.openUplink(s, p);
  if (r.repeat) {
    const u = pending.get(addr + ":" + r.fcnt);
    if (u) u.rx.push(rx);                      // another gateway's copy, inside the window
    else out({ event: "late_copy", dev_addr: addr, fcnt: r.fcnt, gw: rx.gw });
    return;
  }
  if (!r.micOk) { out({ event: "mic_failed", dev_addr: addr, fcnt: r.fcnt }); return; }
  common.accept(s, r.fcnt);
  const devEui = s.devEui.toLowerCase();
  const key = addr + ":" + r.fcnt;
  pending.set(key, { session: s, devEui, devAddr: addr, device: deviceOf.get(devEui), fcnt: r.fcnt,
    fport: p.getFPort() || 0, plain: r.plain, adr: !!p.getFCtrlADR(),
    confirmed: p.getMType() === "Confirmed Data Up", rx: [rx] });
  setTimeout(() => flush(key), dedupMs);
}

const sock = dgram.createSocket("udp4");
sock.on("message", (msg, rinfo) => {
  if (msg.length < 4) return;
  const ver = msg[0], token = (msg[1] << 8) | msg[2], type = msg[3];
  if (type === 2) { sock.send(common.header(ver, token, 4), rinfo.port, rinfo.address); return; }   // PULL_ACK
  if (type !== 0 || msg.length < 12) return;
  sock.send(common.header(ver, token, 1), rinfo.port, rinfo.address);                           // PUSH_ACK
  const gw = msg.slice(4, 12).toString("hex");
  let body;
  try { body = JSON.parse(msg.slice(12).toString()); } catch (e) { out({ event: "bad_json", gw }); return; }
  for (const rx of body.rxpk || []) {
    rx.gw = gw;
    const parsed = common.parseRxpk(rx);
    if (parsed.error) { out({ event: parsed.error, gw }); continue; }
    const mtype = parsed.packet.getMType();
    if (mtype === "Unconfirmed Data Up" || mtype === "Confirmed Data Up") handleData(parsed.packet, rx);
    else out({ event: "ignored", mtype });
  }
});

const client = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: "ns-bridge-" + process.pid,
  protocolVersion: 5, reconnectPeriod: 200 });
let bound = false, connected = false;
function ready() { if (bound && connected) out({ event: "listening", port: sock.address().port }); }
client.once("connect", () => { connected = true; ready(); });
sock.bind(0, "127.0.0.1", () => { bound = true; ready(); });

process.on("SIGTERM", () => {
  out({ event: "stopped", uplinks, published, acked });
  sock.close();
  client.end(false, () => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
