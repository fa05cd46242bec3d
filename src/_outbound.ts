import {
  FRAME_HEADER_SIZE,
  type Framing,
  writeFrameHeader,
} from "./_frame_header.ts";

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

const NO_WHOLE: readonly number[] = [];

/**
 * Frames waiting to be written. Payloads are queued as they are produced and
 * flushed together: every run of small payloads becomes one buffer,
 * allocated once at its exact size, so a batch of responses is one write.
 * Payloads of {@linkcode COPY_LIMIT} bytes or more are passed on by reference
 * rather than copied.
 *
 * Requests answered with themselves (an echo) are queued as the request
 * frames, header included, where they lie in the read buffer: consecutive
 * ones make one run, copied as one piece at the flush.
 */
export class Outbound {
  // Both allocated on first use, so an idle connection holds no arrays.
  #payloads: Uint8Array[] | null = null;
  /** Indexes in #payloads of entries that are whole frames, header included. */
  #whole: number[] | null = null;
  /** The first entry, when it is whole frames that may be written by reference. */
  #single: Uint8Array | null = null;
  /** An echoed run may be written by reference (see Transport.readViewsWritable). */
  readonly #echoByReference: boolean;
  /** The format of a frame format other than the default, or null. */
  readonly #framing: Framing | null;
  /**
   * With a request id field: two numbers per entry of #payloads, the id's
   * low and high 32 bits to write into it (low -1: none, a whole echoed
   * frame already has its own).
   */
  #ids: number[] | null = null;
  /** The read echoed frames lie in. */
  #echoChunk: Uint8Array | null = null;
  /** The echoed run being extended: byte offsets in #echoChunk (end -1: none). */
  #echoStart = 0;
  #echoEnd = -1;

  /**
   * @param echoByReference Echoed frames that are all there is to send may
   * be written as views of the read buffer rather than copied.
   * @param framing The frame format, when not the default: payloads get its
   * headers, or are whole frames already.
   */
  constructor(echoByReference = false, framing: Framing | null = null) {
    this.#echoByReference = echoByReference;
    this.#framing = framing === null || framing.isDefault ? null : framing;
  }

  /** Queues a payload whose size has been checked. */
  add(payload: Uint8Array): void {
    if (this.#echoEnd >= 0) this.#endEcho();
    (this.#payloads ??= []).push(payload);
    if (this.#framing?.id != null) (this.#ids ??= []).push(-1, 0);
  }

  /**
   * Queues a payload whose size has been checked, with the request id to
   * write into its id field (an 8-byte id as its low and high 32 bits). The
   * payload's own bytes are not changed: the id goes into the copy written.
   */
  addWithId(payload: Uint8Array, low: number, high: number): void {
    if (this.#echoEnd >= 0) this.#endEcho();
    (this.#payloads ??= []).push(payload);
    (this.#ids ??= []).push(low, high);
  }

  /**
   * Names the read that {@linkcode echo} offsets count in, once per read. The
   * next flush forgets it, so an idle connection keeps no read buffer alive.
   */
  echoFrom(chunk: Uint8Array): void {
    if (this.#echoEnd >= 0) this.#endEcho();
    this.#echoChunk = chunk;
  }

  /**
   * Queues a request frame as its own response: a frame whole in the read
   * named by {@linkcode echoFrom}, from `frameStart` (its header) up to
   * `frameEnd` in it. The frame is copied at the flush; the read buffer must
   * stay unchanged until then.
   */
  echo(frameStart: number, frameEnd: number): void {
    if (frameStart !== this.#echoEnd) {
      if (this.#echoEnd >= 0) this.#endEcho();
      this.#echoStart = frameStart;
    }
    this.#echoEnd = frameEnd;
  }

  /**
   * Queues the echoed run as one entry of whole frames: the read itself when
   * the run is all of it, which costs no view (JavaScriptCore pays for each
   * view, and for the `buffer` of a view it made itself).
   */
  #endEcho(): void {
    const chunk = this.#echoChunk!;
    const frames = this.#echoStart === 0 && this.#echoEnd === chunk.length
      ? chunk
      : chunk.subarray(this.#echoStart, this.#echoEnd);
    this.#echoEnd = -1;
    const payloads = this.#payloads ??= [];
    if (this.#echoByReference && payloads.length === 0) this.#single = frames;
    (this.#whole ??= []).push(payloads.length);
    payloads.push(frames);
    if (this.#framing?.id != null) (this.#ids ??= []).push(-1, 0);
  }

  /** Hands every queued frame to `write` in as few buffers as it can, and empties the queue. */
  flush(write: (bytes: Uint8Array) => void): void {
    if (this.#echoEnd >= 0) this.#endEcho();
    this.#echoChunk = null;
    const payloads = this.#payloads;
    if (payloads === null) return;
    const count = payloads.length;
    const whole = this.#whole ?? NO_WHOLE;
    const single = this.#single;
    const ids = this.#ids;
    this.#payloads = null;
    this.#whole = null;
    this.#single = null;
    this.#ids = null;
    if (count === 1 && single !== null) {
      write(single);
      return;
    }
    if (this.#framing !== null) {
      flushFramed(this.#framing, payloads, whole, ids, write);
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

/**
 * `Outbound.flush()` for a frame format other than the default: runs of
 * entries copied into one buffer each, a large payload written by reference
 * after its header (or as it is, when it is a whole frame). Request ids
 * (`ids`, see `Outbound`) are written into the copies: a large payload's
 * bytes up to the end of its id are copied after its header, and only the
 * rest is written by reference.
 */
function flushFramed(
  framing: Framing,
  payloads: readonly Uint8Array[],
  whole: readonly number[],
  ids: readonly number[] | null,
  write: (bytes: Uint8Array) => void,
): void {
  const count = payloads.length;
  const headers = framing.encodes !== "whole";
  const id = ids === null ? null : framing.id;
  let w = 0;
  let from = 0;
  while (from < count) {
    let size = 0;
    let to = from;
    for (let v = w; to < count; to++) {
      const entry = payloads[to];
      if (v < whole.length && whole[v] === to) {
        size += entry.length;
        v++;
      } else if (entry.length < COPY_LIMIT) {
        size += framing.frameSize(entry);
      } else break;
    }
    const large = to < count ? payloads[to] : null;
    const header = large !== null && headers
      ? framing.headerSize(large.length)
      : 0;
    // The part of a large payload copied so that its id can be written.
    const idPart = large !== null && id !== null && ids![2 * to] >= 0
      ? id.end
      : 0;
    const out = new Uint8Array(size + header + idPart);
    let offset = 0;
    for (let i = from; i < to; i++) {
      const entry = payloads[i];
      if (w < whole.length && whole[w] === i) {
        out.set(entry, offset);
        offset += entry.length;
        w++;
      } else {
        const frameAt = headers
          ? offset + framing.headerSize(entry.length)
          : offset;
        offset = framing.writeFrame(out, offset, entry);
        if (id !== null && ids![2 * i] >= 0) {
          id.writeHalves(out, frameAt, ids![2 * i], ids![2 * i + 1]);
        }
      }
    }
    if (header > 0) offset = framing.writeHeader(out, offset, large!.length);
    if (idPart > 0) {
      out.set(large!.subarray(0, idPart), offset);
      id!.writeHalves(out, offset, ids![2 * to], ids![2 * to + 1]);
    }
    if (out.length > 0) write(out);
    if (large === null) return;
    write(idPart > 0 ? large.subarray(idPart) : large);
    from = to + 1;
  }
}
