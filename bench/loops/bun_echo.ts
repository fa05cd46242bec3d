// A minimal hand-written echo server of the framewire protocol on Bun: the
// per-runtime ceiling the benchmarks compare framewire with. It writes back
// the bytes of every complete frame, queues what the socket does not take,
// and keeps an incomplete frame's bytes for the next read.
//
//   bun run bench/loops/bun_echo.ts [PORT]
// Bun's API, described locally so `deno check` covers this file too.
interface BunSocket {
  data: State;
  write(bytes: Uint8Array): number;
  end(): void;
  setNoDelay(noDelay: boolean): void;
}
const Bun = (globalThis as unknown as {
  Bun: {
    argv: string[];
    listen(options: {
      hostname: string;
      port: number;
      socket: {
        open(socket: BunSocket): void;
        data(socket: BunSocket, chunk: Uint8Array): void;
        drain(socket: BunSocket): void;
      };
    }): unknown;
  };
}).Bun;

const port = Number(Bun.argv[2] ?? 1234);
const MAX = 32 * 1024 * 1024;

interface State {
  pending: Uint8Array | null;
  queued: Uint8Array | null;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function send(
  socket: { write(b: Uint8Array): number; data: State },
  bytes: Uint8Array,
): void {
  const state = socket.data;
  if (state.queued !== null) {
    state.queued = concat(state.queued, bytes);
    return;
  }
  const n = socket.write(bytes);
  if (n >= 0 && n < bytes.length) state.queued = bytes.slice(n);
}

Bun.listen({
  hostname: "0.0.0.0",
  port,
  socket: {
    open(socket) {
      socket.setNoDelay(true);
      socket.data = { pending: null, queued: null };
    },
    data(socket, chunk) {
      const state = socket.data;
      const bytes = state.pending === null
        ? chunk
        : concat(state.pending, chunk);
      let end = 0;
      while (bytes.length - end >= 4) {
        const length =
          (bytes[end] | (bytes[end + 1] << 8) | (bytes[end + 2] << 16) |
            (bytes[end + 3] << 24)) >>> 0;
        if (length > MAX) return socket.end();
        if (bytes.length - end - 4 < length) break;
        end += 4 + length;
      }
      if (end > 0) send(socket, bytes.subarray(0, end));
      state.pending = end < bytes.length ? bytes.slice(end) : null;
    },
    drain(socket) {
      const queued = socket.data.queued;
      if (queued === null) return;
      socket.data.queued = null;
      send(socket, queued);
    },
  },
});
console.log(`Server listening on 0.0.0.0:${port}`);
