/**
 * The Deno adapter's connection: a {@linkcode Transport} over a Deno
 * connection (`Deno.TcpConn`, `Deno.TlsConn` or `Deno.UnixConn`).
 *
 * Reads use `conn.read()` into a buffer that is reused whenever the core keeps
 * no view of it, sized to the traffic: 256 bytes while reads are small (an
 * idle connection costs little), growing to 256 KiB for bulk transfers. When
 * the core keeps views of a read (a handler owns its request), the next read
 * goes to fresh memory: up to 16 KiB, a region cut from a 64 KiB slab that
 * all connections share, so a read costs no allocation of its own. A BYOB
 * reader on `conn.readable` drains a bulk transfer faster (1.38x MB/s in
 * `deno run -A bench/deno_read_bench.ts`), but through the whole server and
 * client it was 7% slower on pipelined 16-byte requests and no faster on a
 * 32 MiB echo, so `conn.read()` stays. Writes use `conn.write()`; writes
 * queued while one is in progress are joined into the next, and partial writes
 * are continued.
 *
 * @module
 */
import { Gate } from "../_gate.ts";
import { unixAddr } from "../_transport_options.ts";
import type { NetAddr, Transport, TransportEvents } from "../transport.ts";

/** The part of a `Deno.Addr` this adapter reads. */
export interface DenoAddr {
  transport?: string;
  hostname?: string;
  port?: number;
  /** Unix sockets: the path, or null when unnamed. */
  path?: string | null;
}

/** The part of a `Deno.Conn` this adapter uses. */
export interface DenoConn {
  readonly localAddr: DenoAddr;
  readonly remoteAddr: DenoAddr;
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  /** Only TCP connections have it (not TLS or Unix ones). */
  setNoDelay?(noDelay?: boolean): void;
}

/**
 * Read buffer sizes. A connection starts small, since an idle connection's
 * pending read holds its buffer; a read that fills the buffer makes the next
 * one 4x larger, up to the maximum, and a run of reads that use under an
 * eighth of it shrinks it again.
 */
const MIN_READ_SIZE = 256;
const MAX_READ_SIZE = 256 * 1024;
const SHRINK_AFTER_SMALL_READS = 8;
/** Read buffers up to this size are cut from a shared slab. */
const MAX_REGION_SIZE = 16 * 1024;
const SLAB_SIZE = 64 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

/**
 * Fresh memory for a read of up to `size` bytes that nothing else uses: a
 * region of the shared slab (a new slab when it is used up), or a buffer of
 * its own when large. A slab is freed once no view of it is left.
 */
function freshReadBuffer(size: number): Uint8Array {
  if (size > MAX_REGION_SIZE) return new Uint8Array(size);
  if (slabUsed + size > slab.length) {
    slab = new Uint8Array(SLAB_SIZE);
    slabUsed = 0;
  }
  const region = slab.subarray(slabUsed, slabUsed + size);
  slabUsed += size;
  return region;
}

/** Whether `bytes` lies in the memory of `region`. */
function within(bytes: Uint8Array, region: Uint8Array): boolean {
  if (bytes.buffer !== region.buffer) return false;
  const start = region.byteOffset;
  return bytes.byteOffset >= start &&
    bytes.byteOffset < start + region.byteLength;
}

/** Queued writes totalling at most this many bytes are joined into one write. */
const JOIN_LIMIT = 256 * 1024;
/** The empty write queue idle connections share. */
const NO_WRITES: Uint8Array[] = [];

/**
 * A Deno address as a {@linkcode NetAddr}. The addresses of a connection made
 * by `Deno.startTls` have no `transport` (Deno 2.9.6): they are TCP.
 */
export function netAddr(addr: DenoAddr): NetAddr {
  if (addr.transport === "unix") return unixAddr(addr.path);
  return {
    transport: addr.transport ?? "tcp",
    hostname: addr.hostname ?? "",
    port: addr.port ?? 0,
  };
}

/** A Deno connection as a {@linkcode Transport}. */
export class DenoTransport implements Transport {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  bufferedAmount = 0;
  /** Views of a read buffer may be written: that buffer is set aside meanwhile. */
  readonly readViewsWritable = true;
  #conn: DenoConn;
  #events: TransportEvents | null = null;
  #paused: Gate | null = null;
  /** Writes waiting their turn; the shared empty list until the first one. */
  #queue: Uint8Array[] = NO_WRITES;
  #writing = false;
  #closeWriteRequested = false;
  #readEnded = false;
  #writeEnded = false;
  #closed = false;
  /** The current read buffer. */
  #reading: Uint8Array | null = null;
  /** Read buffers that queued or running writes still refer to. */
  #lent: Uint8Array[] | null = null;
  /** A lent read buffer whose writes are done, kept for the next switch. */
  #spare: Uint8Array | null = null;

  constructor(conn: DenoConn) {
    this.#conn = conn;
    this.localAddr = netAddr(conn.localAddr);
    this.remoteAddr = netAddr(conn.remoteAddr);
  }

  start(events: TransportEvents): void {
    this.#events = events;
    this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    const conn = this.#conn;
    const events = this.#events!;
    let buffer: Uint8Array = new Uint8Array(MIN_READ_SIZE);
    let smallReads = 0;
    try {
      while (true) {
        if (this.#paused !== null) await this.#paused.promise;
        if (this.#closed) return;
        this.#reading = buffer;
        const n = await conn.read(buffer);
        if (this.#closed) return;
        if (n === null) break;
        const reusable = events.data(buffer.subarray(0, n));
        this.#reading = null;
        let size = buffer.length;
        if (n === size && size < MAX_READ_SIZE) {
          size *= 4;
          smallReads = 0;
        } else if (n < size >>> 3 && size > MIN_READ_SIZE) {
          if (++smallReads === SHRINK_AFTER_SMALL_READS) {
            size >>>= 2;
            smallReads = 0;
          }
        } else {
          smallReads = 0;
        }
        const lent = this.#lent?.indexOf(buffer) ?? -1;
        if (!reusable) {
          // The core keeps views: never recycle this buffer.
          if (lent !== -1) this.#lent!.splice(lent, 1);
          buffer = freshReadBuffer(size);
        } else if (lent !== -1) {
          // Writes still read it: switch to the spare, or a new buffer.
          const spare = this.#spare;
          this.#spare = null;
          buffer = spare !== null && spare.length === size
            ? spare
            : new Uint8Array(size);
        } else if (size !== buffer.length) {
          buffer = new Uint8Array(size);
        }
      }
    } catch (error) {
      this.#finish(error);
      return;
    }
    this.#readEnded = true;
    events.end();
    this.#closeIfDone();
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || this.#closeWriteRequested || bytes.length === 0) return;
    if (this.#queue === NO_WRITES) this.#queue = [];
    this.#queue.push(bytes);
    this.bufferedAmount += bytes.length;
    const reading = this.#reading;
    if (
      reading !== null && within(bytes, reading) &&
      !this.#lent?.includes(reading)
    ) {
      (this.#lent ??= []).push(reading);
    }
    if (!this.#writing) this.#writeLoop();
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    const conn = this.#conn;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const bytes = this.#takeQueued();
        let offset = 0;
        while (offset < bytes.length) {
          offset += await conn.write(
            offset === 0 ? bytes : bytes.subarray(offset),
          );
          if (this.#closed) return;
        }
        this.bufferedAmount -= bytes.length;
        if (this.#lent !== null) this.#releaseLent();
      }
    } catch (error) {
      this.#finish(error);
      return;
    } finally {
      this.#writing = false;
    }
    if (this.#closed) return;
    if (this.#closeWriteRequested) this.#shutdownWrite();
    else this.#events!.drain();
  }

  /** The next bytes to write: the queue's head, or all of it joined when small. */
  #takeQueued(): Uint8Array {
    const queue = this.#queue;
    if (queue.length === 1 || this.bufferedAmount > JOIN_LIMIT) {
      return queue.shift()!;
    }
    const joined = new Uint8Array(this.bufferedAmount);
    let offset = 0;
    for (const bytes of queue) {
      joined.set(bytes, offset);
      offset += bytes.length;
    }
    queue.length = 0;
    if (this.#lent !== null) this.#releaseLent();
    return joined;
  }

  /** Makes lent read buffers that no queued write refers to any more spare. */
  #releaseLent(): void {
    const lent = this.#lent!;
    const queue = this.#queue;
    for (let i = lent.length - 1; i >= 0; i--) {
      const region = lent[i];
      if (queue.some((bytes) => within(bytes, region))) continue;
      lent.splice(i, 1);
      if (region !== this.#reading) this.#spare = region;
    }
    if (lent.length === 0) this.#lent = null;
  }

  pause(): void {
    this.#paused ??= new Gate();
  }

  resume(): void {
    const paused = this.#paused;
    this.#paused = null;
    paused?.open();
  }

  closeWrite(): void {
    if (this.#closed || this.#closeWriteRequested) return;
    this.#closeWriteRequested = true;
    if (!this.#writing) this.#shutdownWrite();
  }

  close(): void {
    this.#finish(undefined);
  }

  #shutdownWrite(): void {
    this.#conn.closeWrite().then(() => {
      this.#writeEnded = true;
      this.#closeIfDone();
    }, (error) => this.#finish(error));
  }

  #closeIfDone(): void {
    if (this.#readEnded && this.#writeEnded) this.#finish(undefined);
  }

  #finish(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.bufferedAmount = 0;
    this.resume();
    try {
      this.#conn.close();
    } catch {
      // already closed by the runtime
    }
    this.#events?.closed(error);
  }
}
