/**
 * The soak test's faults (bench/soak.ts), each on its own raw connection
 * (`Deno.connect`): disconnects at awkward moments and frames over the
 * server's limit. Where the protocol promises answers (to the whole frames
 * sent before a half frame and a FIN, or before a bad header), they are
 * checked byte for byte, and so is the server's close that follows.
 *
 * @module
 */
import {
  FAULT_KINDS,
  type FaultKind,
  type LoadContext,
  makePayload,
  MAX_FRAME,
  randomInt,
  recordError,
  sameBytes,
} from "./_soak_common.ts";

/** How often each kind is picked, in the order of FAULT_KINDS. */
const WEIGHTS = [0.2, 0.2, 0.2, 0.1, 0.3];
/** No wait on a raw connection lasts longer than this. */
const READ_TIMEOUT_MS = 15_000;
/**
 * Once its answers are in, the server must close its side within this: well
 * before its closeTimeout (10 s) would force the close, so a graceful close
 * that only the timer completes is caught.
 */
const CLOSE_TIMEOUT_MS = 5_000;
/** Raw connections get ids from here, so their payload stamps stand apart. */
const FAULT_ID_BASE = 1_000_000;

/** What a raw read ended with. */
type ReadEnd = "frames" | "eof" | "timeout" | "reset";

/** A raw TCP connection that writes bytes and reads frames by hand. */
class RawPeer {
  readonly frames: Uint8Array[] = [];
  #conn: Deno.TcpConn;
  #buffered = new Uint8Array(0);
  #readBuffer = new Uint8Array(64 * 1024);
  #closed = false;

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async open(port: number): Promise<RawPeer> {
    return new RawPeer(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Writes all of `bytes`. */
  async send(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) {
      at += await this.#conn.write(bytes.subarray(at));
    }
  }

  async closeWrite(): Promise<void> {
    await this.#conn.closeWrite();
  }

  /** Closes at once; with unread bytes received, the kernel sends a reset. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /** One read: bytes, null at end of stream, "timeout" or "reset". */
  async #readOnce(
    deadline: number,
  ): Promise<Uint8Array | null | "timeout" | "reset"> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(
        () => resolve("timeout"),
        Math.max(0, deadline - performance.now()),
      );
    });
    try {
      const n = await Promise.race([
        this.#conn.read(this.#readBuffer),
        timeout,
      ]);
      if (n === "timeout" || n === null) return n;
      return this.#readBuffer.slice(0, n);
    } catch {
      return "reset";
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads until `count` whole frames have arrived, the stream ends, or time runs out. */
  async readFrames(
    count: number,
    timeoutMs = READ_TIMEOUT_MS,
  ): Promise<ReadEnd> {
    const deadline = performance.now() + timeoutMs;
    while (this.frames.length < count) {
      const chunk = await this.#readOnce(deadline);
      if (chunk === null) return "eof";
      if (typeof chunk === "string") return chunk;
      this.#take(chunk);
    }
    return "frames";
  }

  /** Reads some response bytes: resolves with how many, 0 at end of stream or on timeout. */
  async readSome(timeoutMs = READ_TIMEOUT_MS): Promise<number> {
    const chunk = await this.#readOnce(performance.now() + timeoutMs);
    return chunk instanceof Uint8Array ? chunk.length : 0;
  }

  /** Waits for the end of stream; bytes after the expected frames are "extra". */
  async readEnd(timeoutMs = READ_TIMEOUT_MS): Promise<ReadEnd | "extra"> {
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const chunk = await this.#readOnce(deadline);
      if (chunk === null) return this.#buffered.length > 0 ? "extra" : "eof";
      if (typeof chunk === "string") return chunk;
      const frames = this.frames.length;
      this.#take(chunk);
      if (this.frames.length > frames) return "extra";
    }
  }

  #take(chunk: Uint8Array): void {
    let bytes = chunk;
    if (this.#buffered.length > 0) {
      bytes = new Uint8Array(this.#buffered.length + chunk.length);
      bytes.set(this.#buffered);
      bytes.set(chunk, this.#buffered.length);
    }
    let at = 0;
    while (bytes.length - at >= 4) {
      const length = new DataView(bytes.buffer, bytes.byteOffset + at, 4)
        .getUint32(0, true);
      if (bytes.length - at - 4 < length) break;
      this.frames.push(bytes.slice(at + 4, at + 4 + length));
      at += 4 + length;
    }
    this.#buffered = bytes.slice(at);
  }
}

/** Frames with their 4-byte little-endian headers, joined. */
function encode(
  payloads: Uint8Array[],
  extra: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const size = payloads.reduce((n, p) => n + 4 + p.length, 0) + extra.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const payload of payloads) {
    view.setUint32(at, payload.length, true);
    out.set(payload, at + 4);
    at += 4 + payload.length;
  }
  out.set(extra, at);
  return out;
}

function header(length: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, length, true);
  return bytes;
}

function pickKind(rng: () => number): FaultKind {
  let r = rng();
  for (let i = 0; i < FAULT_KINDS.length; i++) {
    if ((r -= WEIGHTS[i]) < 0) return FAULT_KINDS[i];
  }
  return FAULT_KINDS[FAULT_KINDS.length - 1];
}

let nextFaultId = FAULT_ID_BASE;

/** Small whole frames (0-4 KiB each) sent ahead of a fault. */
function goodFrames(
  context: LoadContext,
  rng: () => number,
  min: number,
  max: number,
): Uint8Array[] {
  const id = nextFaultId++;
  const count = randomInt(rng, min, max);
  return Array.from(
    { length: count },
    (_, seq) => makePayload(context, rng, randomInt(rng, 0, 4096), id, seq),
  );
}

/**
 * Checks that `peer` received exactly the answers to `sent`, then (with
 * `thenEnd`) that the server closed its side with nothing more.
 */
async function expectAnswers(
  context: LoadContext,
  peer: RawPeer,
  sent: Uint8Array[],
  kind: FaultKind,
  thenEnd: boolean,
): Promise<void> {
  const counters = context.counters;
  const got = await peer.readFrames(sent.length);
  if (got !== "frames") {
    recordError(
      counters,
      `${kind}: answers missing`,
      `${peer.frames.length} of ${sent.length} answers, then ${got}`,
    );
    return;
  }
  for (let i = 0; i < sent.length; i++) {
    if (!sameBytes(peer.frames[i], sent[i])) {
      recordError(
        counters,
        `${kind}: wrong answer`,
        `answer ${i + 1} of ${sent.length}: ${peer.frames[i].length} B for ${
          sent[i].length
        } B`,
      );
      return;
    }
    counters.faultAnswersVerified++;
  }
  if (!thenEnd) return;
  const end = await peer.readEnd(CLOSE_TIMEOUT_MS);
  if (end !== "eof") {
    recordError(
      counters,
      `${kind}: not closed cleanly`,
      `after ${sent.length} answers the server's side ended with ${end}, not end of stream`,
    );
  }
}

/** A half frame: half a header, or a header and part of its payload. */
function halfFrame(context: LoadContext, rng: () => number): Uint8Array {
  if (rng() < 0.2) return header(randomInt(rng, 1, 65536)).subarray(0, 2);
  const length = randomInt(rng, 2, 65536);
  const part = makePayload(context, rng, randomInt(rng, 1, length - 1), 0, 0);
  return encode([], new Uint8Array([...header(length), ...part]));
}

async function runFault(
  context: LoadContext,
  rng: () => number,
  kind: FaultKind,
  peer: RawPeer,
): Promise<void> {
  switch (kind) {
    case "connect-close":
      // Close at once, or half-close at once and expect the server to follow.
      if (rng() < 0.5) return;
      await peer.closeWrite();
      return expectAnswers(context, peer, [], kind, true);
    case "partial-close": {
      // Whole frames, half a frame, then close (having read the answers, or not).
      const sent = goodFrames(context, rng, 1, 5);
      await peer.send(encode(sent, halfFrame(context, rng)));
      context.counters.rawFramesSent += sent.length;
      if (rng() < 0.5) await expectAnswers(context, peer, sent, kind, false);
      return;
    }
    case "partial-fin": {
      // Whole frames, half a frame, FIN: the whole ones are answered, then the server closes.
      const sent = goodFrames(context, rng, 1, 5);
      await peer.send(encode(sent, halfFrame(context, rng)));
      context.counters.rawFramesSent += sent.length;
      await peer.closeWrite();
      return expectAnswers(context, peer, sent, kind, true);
    }
    case "reset-mid-response": {
      // A 1-16 MiB request, then a close with its answer unread (a reset).
      const size = randomInt(rng, 1 << 20, 16 << 20);
      const request = makePayload(context, rng, size, nextFaultId++, 0);
      await peer.send(encode([request]));
      context.counters.rawFramesSent++;
      if (rng() < 0.5) {
        await new Promise((resolve) =>
          setTimeout(resolve, randomInt(rng, 0, 5))
        );
        return;
      }
      if (await peer.readSome() === 0) {
        recordError(
          context.counters,
          `${kind}: no answer`,
          `no response bytes to a ${size} B request`,
        );
      }
      return;
    }
    case "bad-header": {
      // Whole frames, then a header over maxFrameSize (and maybe more bytes):
      // the whole frames are answered, then the server closes.
      const sent = goodFrames(context, rng, 0, 5);
      const length = rng() < 0.5
        ? 0xffff_ffff
        : randomInt(rng, MAX_FRAME + 1, 0xffff_ffff);
      const junk = makePayload(context, rng, randomInt(rng, 0, 64), 0, 0);
      const bad = new Uint8Array([...header(length), ...junk]);
      if (rng() < 0.5) {
        await peer.send(encode(sent, bad));
        context.counters.rawFramesSent += sent.length;
      } else {
        await peer.send(encode(sent));
        context.counters.rawFramesSent += sent.length;
        await new Promise((resolve) =>
          setTimeout(resolve, randomInt(rng, 0, 5))
        );
        await peer.send(bad);
      }
      return expectAnswers(context, peer, sent, kind, true);
    }
  }
}

/**
 * Opens a raw connection, injects one fault of a random kind, and closes it.
 * Errors the fault itself provokes (a write after the server closed) are
 * expected; missing or wrong answers and unclean closes are recorded.
 */
export async function injectFault(
  context: LoadContext,
  rng: () => number,
): Promise<void> {
  const kind = pickKind(rng);
  let peer: RawPeer;
  try {
    peer = await RawPeer.open(context.port);
  } catch (error) {
    recordError(context.counters, "connect", `raw connection: ${error}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    return;
  }
  context.counters.faults[kind]++;
  try {
    await runFault(context, rng, kind, peer);
  } catch (error) {
    // Only a fault that checks answers may not fail on the way.
    if (kind === "partial-fin" || kind === "bad-header") {
      recordError(context.counters, `${kind}: failed`, `${error}`);
    }
  } finally {
    peer.close();
  }
}
