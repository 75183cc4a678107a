// Independent Modbus TCP client for fleetbench's tests (npm modbus-serial, pinned here).
// node modbus-read.js HOST PORT UNIT FC ADDRESS COUNT [ORDER]
//   FC 3 or 4: prints {"registers":[...]} and, with ORDER (ABCD, CDAB, BADC, DCBA),
//   "floats":[...] decoded from consecutive register pairs in that order; FC 1 or 2: {"bits":[...]}.
// On a Modbus exception prints {"error":"...","modbusCode":N} and exits 1.
"use strict";
const ModbusRTU = require("modbus-serial");

async function main() {
  const [host, port, unit, fc, address, count, order] = process.argv.slice(2);
  const client = new ModbusRTU();
  await client.connectTCP(host, { port: Number(port) });
  client.setID(Number(unit));
  client.setTimeout(3000);
  const a = Number(address), n = Number(count);
  const read = { 1: "readCoils", 2: "readDiscreteInputs", 3: "readHoldingRegisters",
                 4: "readInputRegisters" }[fc];
  if (!read) throw new Error("fc must be 1..4");
  const r = await client[read](a, n);
  const out = {};
  if (fc === "1" || fc === "2") {
    out.bits = r.data.slice(0, n).map((b) => (b ? 1 : 0));
  } else {
    out.registers = r.data;
    if (order) {
      // bytes on the wire are r.buffer; rearrange each 4-byte group into ABCD
      const idx = { ABCD: [0, 1, 2, 3], CDAB: [2, 3, 0, 1], BADC: [1, 0, 3, 2], DCBA: [3, 2, 1, 0] }[order];
      if (!idx) throw new Error("unknown order " + order);
      out.floats = [];
      for (let i = 0; i + 4 <= r.buffer.length; i += 4) {
        const b = Buffer.alloc(4);
        for (let k = 0; k < 4; k++) b[k] = r.buffer[i + idx[k]];
        out.floats.push(b.readFloatBE(0));
      }
    }
  }
  console.log(JSON.stringify(out));
  client.close(() => {});
}

main().catch((e) => {
  console.log(JSON.stringify({ error: e.message || String(e), modbusCode: e.modbusCode }));
  process.exit(1);
});
