// MQTT.js load generator, the peer the mqtt bench compares against:
//   node mqtt-load.js URL CONNECTIONS QOS SECONDS PREFIX
// Opens CONNECTIONS clients, then each publishes 100-byte messages to PREFIX/<i % 64> as fast as
// MQTT.js lets it (QoS 0: while the socket takes more; QoS 1: up to 20 unacknowledged per client)
// for SECONDS after all are connected. Prints "connected N" once connected, "sent N" at the end.
const mqtt = require('mqtt');
const [url, nArg, qArg, sArg, prefix] = process.argv.slice(2);
const n = Number(nArg), qos = Number(qArg), seconds = Number(sArg);
const payload = Buffer.alloc(100, 'x');
let connected = 0, sent = 0, stop = false;
const clients = [];
for (let i = 0; i < n; i++) {
  const c = mqtt.connect(url, { clientId: `mqttjs-${n}-${qos}-${i}`, reconnectPeriod: 0, protocolVersion: 4 });
  c.on('connect', () => { if (++connected === n) start(); });
  c.on('error', () => {});
  clients.push(c);
}
function pump(c, i) {
  if (stop) return;
  const topic = `${prefix || 'bench'}/${i % 64}`;
  if (qos === 0) {
    let ok = true;
    for (let k = 0; k < 100 && ok; k++) {
      c.publish(topic, payload, { qos: 0 });
      sent++;
      ok = c.stream && c.stream.writableLength < 65536;
    }
    setImmediate(() => pump(c, i));
  } else {
    c.publish(topic, payload, { qos }, () => { sent++; pump(c, i); });
  }
}
function start() {
  console.log(`connected ${connected}`);
  clients.forEach((c, i) => {
    if (qos === 0) pump(c, i);
    else for (let k = 0; k < 20; k++) pump(c, i);
  });
  setTimeout(() => {
    stop = true;
    console.log(`sent ${sent}`);
    clients.forEach((c) => c.end(true));
    process.exit(0);
  }, seconds * 1000);
}
