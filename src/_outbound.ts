import { FRAME_HEADER_SIZE, writeFrameHeader } from "./_frame_header.ts";

/**
 * Payloads at least this long are not copied into a batch: their header ends
 * the batch buffer and the payload itself is written next, by reference.
 */
export const COPY_LIMIT = 64 * 1024;

/**
 * Writes `payloads[from..to)` as frames into `out` at `offset`, which must
 * have room for them. Sizes must already be checked.
 *
 * @returns The offset after the last frame written.
 */
export function writeFrames(
  out: Uint8Array,
  offset: number,
  payloads: readonly Uint8Array[],
  from: number,
  to: number,
): number {
  for (let i = from; i < to; i++) {
    const payload = payloads[i];
    const length = payload.length;
    offset = writeFrameHeader(out, offset, length);
    if (length <= 32) {
      for (let j = 0; j < length; j++) out[offset + j] = payload[j];
    } else {
      out.set(payload, offset);
    }
    offset += length;
  }
  return offset;
}

/**
 * Frames waiting to be written. Payloads are queued as they are produced and
 * flushed together: every run of small payloads becomes one buffer,
 * allocated once at its exact size, so a batch of responses is one write.
 * Payloads of {@linkcode COPY_LIMIT} bytes or more are passed on by reference
 * rather than copied.
 */
const NO_WHOLE: readonly number[] = [];

export class Outbound {
  // Both allocated on first use, so an idle connection holds no arrays.
  #payloads: Uint8Array[] | null = null;
  /** Indexes in #payloads of entries that are whole frames, header included. */
  #whole: number[] | null = null;
  #bytes = 0;
  /** The first entry, when it is whole frames that may be written by reference. */
  #single: Uint8Array | null = null;

  /** Entries queued. */
  get count(): number {
    return this.#payloads?.length ?? 0;
  }

  /** Wire bytes queued, headers included. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Queues a payload whose size has been checked. */
  add(payload: Uint8Array): void {
    (this.#payloads ??= []).push(payload);
    this.#bytes += FRAME_HEADER_SIZE + payload.length;
  }

  /**
   * Queues bytes that already are whole frames, headers included (an echoed
   * run of requests as they arrived). They are copied at the flush, unless
   * `byReference` is set and they are all there is to send: then `frames`
   * itself is written.
   */
  addFrames(frames: Uint8Array, byReference = false): void {
    const payloads = this.#payloads ??= [];
    if (byReference && payloads.length === 0) this.#single = frames;
    (this.#whole ??= []).push(payloads.length);
    payloads.push(frames);
    this.#bytes += frames.length;
  }

  /** Hands every queued frame to `write` in as few buffers as it can, and empties the queue. */
  flush(write: (bytes: Uint8Array) => void): void {
    const payloads = this.#payloads;
    if (payloads === null) return;
    const count = payloads.length;
    const whole = this.#whole ?? NO_WHOLE;
    const single = this.#single;
    this.#payloads = null;
    this.#whole = null;
    this.#single = null;
    this.#bytes = 0;
    if (count === 1 && single !== null) {
      write(single);
      return;
    }
    let nextWhole = whole.length > 0 ? whole[0] : -1;
    let wholeAt = 0;
    let from = 0;
    while (from < count) {
      // Measure the run of entries copied into one buffer, up to a large payload.
      let size = 0;
      let to = from;
      let w = wholeAt;
      while (to < count) {
        if (to === (w < whole.length ? whole[w] : -1)) {
          size += payloads[to].length;
          w++;
        } else if (payloads[to].length < COPY_LIMIT) {
          size += FRAME_HEADER_SIZE + payloads[to].length;
        } else break;
        to++;
      }
      const large = to < count ? payloads[to] : null;
      if (large !== null) size += FRAME_HEADER_SIZE;
      const out = new Uint8Array(size);
      let offset = 0;
      for (let i = from; i < to; i++) {
        const entry = payloads[i];
        if (i === nextWhole) {
          out.set(entry, offset);
          offset += entry.length;
          wholeAt++;
          nextWhole = wholeAt < whole.length ? whole[wholeAt] : -1;
        } else {
          offset = writeFrames(out, offset, payloads, i, i + 1);
        }
      }
      if (large === null) {
        write(out);
        return;
      }
      writeFrameHeader(out, offset, large.length);
      write(out);
      write(large);
      from = to + 1;
    }
  }
}
