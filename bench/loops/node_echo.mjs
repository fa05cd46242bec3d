// A minimal hand-written echo server of the framewire protocol on Node: the
// per-runtime ceiling the benchmarks compare framewire with. It writes back
// the bytes of every complete frame and keeps an incomplete frame's bytes for
// the next read.
//
//   node bench/loops/node_echo.mjs [PORT]
import * as net from "node:net";

const port = Number(process.argv[2] ?? 1234);
const MAX = 32 * 1024 * 1024;

const server = net.createServer({ noDelay: true }, (socket) => {
  let pending = null;
  socket.on("data", (chunk) => {
    const bytes = pending === null ? chunk : Buffer.concat([pending, chunk]);
    let end = 0;
    while (bytes.length - end >= 4) {
      const length = bytes.readUInt32LE(end);
      if (length > MAX) return socket.destroy();
      if (bytes.length - end - 4 < length) break;
      end += 4 + length;
    }
    if (end > 0) socket.write(bytes.subarray(0, end));
    pending = end < bytes.length ? bytes.subarray(end) : null;
  });
  socket.on("error", () => {});
});
server.listen({ host: "0.0.0.0", port, backlog: 65535 }, () => {
  console.log(`Server listening on 0.0.0.0:${port}`);
});
