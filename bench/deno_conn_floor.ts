// The smallest Deno echo server that holds a connection with one pending
// read: a floor for what a connection costs on Deno, whatever the library.
// Compare `lpload -c 10000 --idle --server-pid PID` on it with framewire.
//
//   deno run -A bench/deno_conn_floor.ts PORT [READ_BUFFER_BYTES=64]
const port = Number(Deno.args[0] ?? 1234);
const size = Number(Deno.args[1] ?? 64);
const listener = Deno.listen({ hostname: "127.0.0.1", port });
console.log(`Server listening on 127.0.0.1:${port}`);

async function serve(conn: Deno.TcpConn): Promise<void> {
  const buffer = new Uint8Array(size);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      await conn.write(buffer.subarray(0, n));
    }
  } catch {
    // peer gone
  }
  try {
    conn.close();
  } catch {
    // already closed
  }
}

for await (const conn of listener) serve(conn);
