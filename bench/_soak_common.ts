/**
 * What the soak test's load (bench/_soak_load.ts) and faults
 * (bench/_soak_faults.ts) share: counters, seeded randomness, payloads and
 * their check.
 *
 * @module
 */
/** Largest frame the server takes by default (32 MiB). */
export const MAX_FRAME = 32 * 1024 * 1024;
/** One mebibyte. */
export const MIB = 1024 * 1024;

/** The kinds of fault, as counted in the summary (see bench/_soak_faults.ts). */
export const FAULT_KINDS = [
  "connect-close",
  "partial-close",
  "partial-fin",
  "reset-mid-response",
  "bad-header",
] as const;

/** One kind of fault. */
export type FaultKind = typeof FAULT_KINDS[number];

/** What the load did and saw. */
export interface LoadCounters {
  /** Requests sent by the verified clients. */
  requests: number;
  /** Of those, answered with exactly their own bytes, in order. */
  verified: number;
  /** Payload bytes of the requests sent. */
  bytes: number;
  /** Payload bytes answered and verified. */
  bytesVerified: number;
  /** Frames of 1-8 MiB and of 32 MiB sent by the large-frame client. */
  largeFrames: number;
  maxFrames: number;
  /** Connections opened by framewire clients (reconnects included). */
  clientConnections: number;
  /** Faults injected, by kind, each on its own raw connection. */
  faults: Record<FaultKind, number>;
  /** Answers to the whole frames sent before a fault, checked. */
  faultAnswersVerified: number;
  /** Whole frames written on raw connections (answered, checked or not). */
  rawFramesSent: number;
  /** Everything that went wrong, by kind; any is a failure. */
  errors: Record<string, number>;
  /** The first few errors, described. */
  errorSamples: string[];
}

/** A fresh set of counters. */
export function newCounters(): LoadCounters {
  return {
    requests: 0,
    verified: 0,
    bytes: 0,
    bytesVerified: 0,
    largeFrames: 0,
    maxFrames: 0,
    clientConnections: 0,
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<
      FaultKind,
      number
    >,
    faultAnswersVerified: 0,
    rawFramesSent: 0,
    errors: {},
    errorSamples: [],
  };
}

/** Counts an error of `kind`; keeps the first ones' details. */
export function recordError(
  counters: LoadCounters,
  kind: string,
  detail: string,
): void {
  counters.errors[kind] = (counters.errors[kind] ?? 0) + 1;
  if (counters.errorSamples.length < 20) {
    counters.errorSamples.push(`${kind}: ${detail}`);
  }
}

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

/** An integer in [min, max]. */
export function randomInt(rng: () => number, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

/** What every actor of one phase shares. */
export interface LoadContext {
  port: number;
  counters: LoadCounters;
  /** performance.now() after which actors start nothing new. */
  until: number;
  /** Random bytes that payloads are cut from. */
  pool: Uint8Array;
  seed: number;
  /** Set when the server died: actors stop at once. */
  aborted: () => boolean;
}

/** `pool` of random bytes for payloads: 4 MiB from `seed`. */
export function randomPool(seed: number): Uint8Array {
  const rng = seededRandom(seed);
  const words = new Uint32Array(MIB);
  for (let i = 0; i < words.length; i++) words[i] = rng() * 4294967296;
  return new Uint8Array(words.buffer);
}

/**
 * A payload of `size` random bytes cut from the pool (copied: stays intact),
 * starting with the sender's id and sequence number when it has room, so a
 * response answered out of order is told apart from a corrupt one.
 */
export function makePayload(
  context: LoadContext,
  rng: () => number,
  size: number,
  id: number,
  seq: number,
): Uint8Array {
  const pool = context.pool;
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size;) {
    const n = Math.min(size - at, 1 + Math.floor(rng() * MIB));
    const from = Math.floor(rng() * (pool.length - n));
    bytes.set(pool.subarray(from, from + n), at);
    at += n;
  }
  if (size >= 8) {
    const view = new DataView(bytes.buffer);
    view.setUint32(0, id);
    view.setUint32(4, seq);
  }
  return bytes;
}

/** Byte-for-byte equality, four bytes at a time where both are aligned. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if ((a.byteOffset & 3) !== 0) a = a.slice();
  if ((b.byteOffset & 3) !== 0) b = b.slice();
  const words = a.length >>> 2;
  const wa = new Uint32Array(a.buffer, a.byteOffset, words);
  const wb = new Uint32Array(b.buffer, b.byteOffset, words);
  for (let i = 0; i < words; i++) if (wa[i] !== wb[i]) return false;
  for (let i = words << 2; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
