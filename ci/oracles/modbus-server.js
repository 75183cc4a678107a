// npm modbus-serial's ServerTCP as a reference point for protocols/modbus/bench.sh.
// node modbus-server.js   -> prints "listening on PORT" once ready; answers every unit id
// (unitID 255) with holding/input register i = i.
"use strict";
const net = require("net");
const { ServerTCP } = require("modbus-serial");

// ServerTCP treats port 0 as 502: take a free port from the kernel first.
const probe = net.createServer();
probe.listen({ port: 0, host: "127.0.0.1" }, () => {
  const port = probe.address().port;
  probe.close(() => {
    const vector = {
      getHoldingRegister: (addr) => addr & 0xffff,
      getInputRegister: (addr) => addr & 0xffff,
    };
    const srv = new ServerTCP(vector, { host: "127.0.0.1", port, unitID: 255 });
    srv.on("initialized", () => console.log(`listening on ${port}`));
    srv.on("serverError", (e) => { console.error(String(e)); process.exit(1); });
  });
});
