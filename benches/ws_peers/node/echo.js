// A comparison peer for benches/ws_load.sh, not part of peregrine: a
// WebSocket echo server on the `ws` package (one Node.js event loop).
// Every message on any path is sent back as it came (text as text, binary
// as binary).
//
//   npm ci --prefix benches/ws_peers/node
//   node benches/ws_peers/node/echo.js --port 19005

"use strict";

const { WebSocketServer } = require("ws");

const argv = process.argv.slice(2);
let port = 19005;
if (argv.length === 2 && argv[0] === "--port") {
  port = Number(argv[1]);
} else if (argv.length !== 0) {
  console.error("usage: node echo.js [--port N]");
  process.exit(2);
}

const server = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false, maxPayload: 1 << 20 });
server.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on("error", () => {});
});
server.on("listening", () => console.log(`listening on ws://127.0.0.1:${port}/`));
