// Sparkplug B oracle for the mqtt transport's tests, on the npm sparkplug-payload package.
//   node mqtt-sparkplug.js decode  < lines "topic hexpayload"  -> one JSON line per message:
//        {"topic":..., "seq":n|null, "metrics":[{"name":..., "alias":..., "value":...}]}
//   node mqtt-sparkplug.js rebirth -> the hex of an NCMD payload with Node Control/Rebirth = true
//   node mqtt-sparkplug.js dcmd NAME NUMBER -> the hex of a DCMD payload writing NAME (Double)
const sp = require('sparkplug-payload').get('spBv1.0');
const mode = process.argv[2];
const num = (v) => (v && typeof v === 'object' && typeof v.toNumber === 'function') ? v.toNumber() : v;
if (mode === 'decode') {
  const lines = require('fs').readFileSync(0, 'utf8').split('\n');
  for (const line of lines) {
    const sp_ = line.indexOf(' ');
    if (sp_ < 0) continue;
    const topic = line.slice(0, sp_), hex = line.slice(sp_ + 1).trim();
    let p;
    try {
      p = sp.decodePayload(Buffer.from(hex, 'hex'));
    } catch (e) {
      console.log(JSON.stringify({ topic, error: String(e) }));
      continue;
    }
    const metrics = (p.metrics || []).map((m) => ({
      name: m.name === undefined ? null : m.name, alias: m.alias === undefined ? null : num(m.alias),
      value: num(m.value) }));
    console.log(JSON.stringify({ topic, seq: p.seq === undefined || p.seq === null ? null : num(p.seq),
      timestamp: num(p.timestamp), metrics }));
  }
} else if (mode === 'rebirth') {
  const b = sp.encodePayload({ timestamp: Date.now(),
    metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] });
  console.log(Buffer.from(b).toString('hex'));
} else if (mode === 'dcmd') {
  const b = sp.encodePayload({ timestamp: Date.now(),
    metrics: [{ name: process.argv[3], type: 'Double', value: Number(process.argv[4]) }] });
  console.log(Buffer.from(b).toString('hex'));
} else {
  console.error('usage: node mqtt-sparkplug.js decode|rebirth|dcmd NAME VALUE');
  process.exit(2);
}
