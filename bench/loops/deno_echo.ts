// A minimal hand-written echo server of the framewire protocol on Deno: the
// per-runtime ceiling the benchmarks compare framewire with. It writes back
// the bytes of every complete frame as they are (an echo's response is its
// request) and keeps an incomplete frame's bytes for the next read.
//
//   deno run -A bench/loops/deno_echo.ts [PORT]
const port = Number(Deno.args[0] ?? 1234);
const MAX = 32 * 1024 * 1024;
const listener = Deno.listen({ hostname: "0.0.0.0", port });
console.log(`Server listening on 0.0.0.0:${port}`);

async function serve(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  let buffer = new Uint8Array(64 * 1024);
  let filled = 0;
  try {
    while (true) {
      if (filled === buffer.length) {
        const bigger = new Uint8Array(buffer.length * 2);
        bigger.set(buffer);
        buffer = bigger;
      }
      const n = await conn.read(buffer.subarray(filled));
      if (n === null) break;
      filled += n;
      let end = 0;
      while (filled - end >= 4) {
        const length = (buffer[end] | (buffer[end + 1] << 8) |
          (buffer[end + 2] << 16) | (buffer[end + 3] << 24)) >>> 0;
        if (length > MAX) throw new Error("frame too large");
        if (filled - end - 4 < length) {
          if (buffer.length < length + 4) {
            const bigger = new Uint8Array(length + 4);
            bigger.set(buffer.subarray(0, filled));
            buffer = bigger;
          }
          break;
        }
        end += 4 + length;
      }
      if (end > 0) {
        for (let o = 0; o < end;) {
          o += await conn.write(buffer.subarray(o, end));
        }
        buffer.copyWithin(0, end, filled);
        filled -= end;
      }
    }
  } catch {
    // peer gone or bad frame: drop the connection
  }
  try {
    conn.close();
  } catch {
    // already closed
  }
}

for await (const conn of listener) serve(conn);
