// Shared test helpers: seeded randomness, byte utilities, an in-memory duplex
// pair and a raw connection that reads and writes frames by hand.
import { FrameDecoder } from "../src/frame_decoder.ts";
import { DrainNoticeError } from "../src/errors.ts";
import type { StreamDuplex } from "../src/stream_transport.ts";
import type { Network, Transport } from "../src/transport.ts";

/** A deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes 0..length-1 of a pattern that depends on `seed`. */
export function patternBytes(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    bytes[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  }
  return bytes;
}

/** Joins byte arrays. */
/**
 * Splits `bytes` into chunks of `sizes`, cycling through them; copies, so no
 * chunk shares memory. A size of 0 pushes an empty chunk.
 */
export function splitBySizes(
  bytes: Uint8Array,
  sizes: readonly number[],
): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (let i = 0; offset < bytes.length; i++) {
    const size = sizes[i % sizes.length];
    // Sizes that are all 0 would never end: take one byte every full cycle.
    const take = size === 0 && i % sizes.length === sizes.length - 1 ? 1 : size;
    chunks.push(bytes.slice(offset, offset + take));
    offset += take;
  }
  return chunks;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Byte-wise equality without the cost of deepEqual on megabytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Resolves after `ms` milliseconds. */
export const delay = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 5 ms until it holds, failing after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await delay(5);
  }
}

/** Two connected in-memory duplexes: what one writes, the other reads. */
export function duplexPair(): [StreamDuplex, StreamDuplex] {
  const aToB = new TransformStream<Uint8Array, Uint8Array>();
  const bToA = new TransformStream<Uint8Array, Uint8Array>();
  return [
    { readable: bToA.readable, writable: aToB.writable },
    { readable: aToB.readable, writable: bToA.writable },
  ];
}

/**
 * A connection driven by hand: records every frame and byte received, the
 * end of stream and the close, and can pause reading.
 */
export class RawConnection {
  readonly frames: Uint8Array[] = [];
  bytesReceived = 0;
  ended = false;
  closed = false;
  closeError: unknown = undefined;
  /** A drain notice came (with `noticeAware`). */
  notice = false;
  readonly transport: Transport;
  #decoder: FrameDecoder;

  /**
   * @param transport The connection.
   * @param slowReadMs When set, reading pauses for this long after every chunk.
   * @param noticeAware Decode with the default maxFrameSize, so that a drain
   * notice is told from a frame (and recorded in `notice`).
   */
  constructor(transport: Transport, slowReadMs?: number, noticeAware = false) {
    this.transport = transport;
    this.#decoder = new FrameDecoder(
      (frame) => this.frames.push(frame.slice()),
      noticeAware ? {} : { maxFrameSize: 0xffff_ffff },
    );
    transport.start({
      data: (chunk) => {
        this.bytesReceived += chunk.length;
        try {
          this.#decoder.push(chunk);
        } catch (error) {
          if (!(error instanceof DrainNoticeError)) throw error;
          this.notice = true;
        }
        if (slowReadMs !== undefined && !this.closed) {
          transport.pause();
          setTimeout(() => transport.resume(), slowReadMs);
        }
        return true;
      },
      end: () => {
        this.ended = true;
        this.transport.closeWrite();
      },
      drain: () => {},
      closed: (error) => {
        this.closed = true;
        this.closeError = error;
      },
    });
  }

  static async open(
    network: Network,
    port: number,
    slowReadMs?: number,
    noticeAware = false,
  ): Promise<RawConnection> {
    const transport = await network.connect({ host: "127.0.0.1", port });
    return new RawConnection(transport, slowReadMs, noticeAware);
  }

  write(bytes: Uint8Array): void {
    this.transport.write(bytes);
  }

  waitClosed(timeoutMs = 10_000): Promise<void> {
    return waitFor(() => this.closed, "the connection to close", timeoutMs);
  }
}
