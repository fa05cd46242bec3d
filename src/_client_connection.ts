// One connection of a Client: writes batched requests, matches responses in
// order (or by request id, with a format that has one), and reports once
// when it can carry no more requests.
import type { Framing } from "./_frame_header.ts";
import type { FrameFormatOption } from "./frame_format.ts";
import {
  ConnectionClosedError,
  DrainNoticeError,
  ProtocolError,
} from "./errors.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { Outbound } from "./_outbound.ts";
import { Gate } from "./_gate.ts";
import { Fifo } from "./_fifo.ts";
import { type PendingRequest, RequestState } from "./_pending_request.ts";
import type { NetAddr, Transport } from "./transport.ts";
import { idHigh, idLow, type RequestId } from "./_request_id.ts";

/** What a connection reports to its client. */
export interface ClientConnectionEvents {
  /** A response settled a request, so a place is free. */
  answered(): void;
  /**
   * The connection carries no more requests: every request written on it has
   * been rejected with `error`, but for those in `unwritten`, which never
   * left the process or (after a drain notice) were not processed.
   */
  lost(error: ConnectionClosedError, unwritten: PendingRequest[]): void;
  /** A response came for a request that had timed out or was aborted, and was dropped. */
  late(): void;
}

/** The requests, reader and writer of one transport of a client. */
export class ClientConnection {
  readonly #transport: Transport;
  readonly #events: ClientConnectionEvents;
  readonly #decoder: FrameDecoder;
  readonly #zeroCopy: boolean;
  /** Requests written and not yet answered, oldest first (not with ids). */
  readonly #inFlight = new Fifo<PendingRequest>();
  /** The request id field, or null: responses are matched in order. */
  readonly #idField: RequestId | null;
  /**
   * With ids: the requests written, by id, and those timed out or aborted
   * whose late response is still to come (their ids are not reused). A
   * Map iterates in insertion order: oldest first.
   */
  readonly #byId: Map<number, PendingRequest> | null;
  /** The next id to try. */
  #nextId = 0;
  /** Requests in #byId timed out or aborted: their responses are late. */
  #abandoned = 0;
  /** At most this many may be abandoned before the connection is given up. */
  readonly #maxAbandoned: number;
  readonly #closedGate = new Gate();
  readonly #outbound: Outbound;
  readonly #write = (bytes: Uint8Array) => this.#transport.write(bytes);
  readonly #flushTask = () => this.#flush();
  /** Requests of this tick, written by the next flush unless dropped. */
  #batch: PendingRequest[] = [];
  /** Requests in #batch not dropped. */
  #batchLive = 0;
  #flushScheduled = false;
  #alive = true;
  /** The chunk being decoded, and whether a response kept a view of it. */
  #chunk: Uint8Array | null = null;
  #chunkRetained = false;

  /**
   * @param zeroCopy Resolve responses with views of the chunks read rather
   * than copies of them.
   */
  /**
   * @param maxInFlight The client's: with ids, more requests abandoned
   * (timed out, aborted) than this with their responses not come close the
   * connection.
   */
  constructor(
    transport: Transport,
    framing: Framing,
    zeroCopy: boolean,
    events: ClientConnectionEvents,
    maxInFlight = Infinity,
  ) {
    this.#transport = transport;
    this.#idField = framing.id;
    this.#byId = framing.id === null ? null : new Map();
    this.#maxAbandoned = maxInFlight;
    this.#outbound = new Outbound(false, framing);
    this.#events = events;
    this.#zeroCopy = zeroCopy;
    this.#decoder = new FrameDecoder(
      (frame, headerAt) => this.#onResponse(frame, headerAt),
      // Already resolved, with its maxFrameSize.
      { format: framing as unknown as FrameFormatOption },
    );
    transport.start({
      data: (chunk) => this.#data(chunk),
      end: () => this.#end(),
      drain: () => {},
      closed: (error) => this.#closed(error),
    });
  }

  /** Whether requests can still be sent. */
  get alive(): boolean {
    return this.#alive;
  }

  get remoteAddr(): NetAddr {
    return this.#transport.remoteAddr;
  }

  /** Requests sent (or about to be) and not yet answered. */
  get inFlight(): number {
    const byId = this.#byId;
    return (byId === null
      ? this.#inFlight.length
      : byId.size - this.#abandoned) + this.#batchLive;
  }

  /**
   * The oldest unanswered request. With ids, the first in #byId not
   * abandoned: there are at most maxInFlight abandoned ones to pass.
   */
  oldest(): PendingRequest | undefined {
    let written = this.#inFlight.peek();
    if (this.#byId !== null) {
      written = undefined;
      for (const pending of this.#byId.values()) {
        if (pending.state === RequestState.sent) {
          written = pending;
          break;
        }
      }
    }
    if (written !== undefined || this.#batchLive === 0) return written;
    return this.#batch.find((p) => p.state !== RequestState.dropped);
  }

  /** Resolves once the transport has closed. */
  get whenClosed(): Promise<void> {
    return this.#closedGate.promise;
  }

  /** Queues a request for this tick's write. Only while alive. */
  send(pending: PendingRequest): void {
    pending.state = RequestState.queued;
    this.#batch.push(pending);
    this.#batchLive++;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /**
   * Takes a request out before its response; the caller settles it. One not
   * written yet never will be. Without request ids, one written leaves the
   * connection unusable (a late response would be matched to the next
   * request): it returns true, and the caller must close the connection
   * with {@linkcode failAfter}. With ids, its id stays taken until its late
   * response comes, which is dropped; true only once more than maxInFlight
   * requests wait so.
   */
  drop(pending: PendingRequest): boolean {
    const state = pending.state;
    if (state === RequestState.queued) this.#batchLive--;
    if (state === RequestState.answered || state === RequestState.dropped) {
      return false;
    }
    pending.state = RequestState.dropped;
    if (state !== RequestState.sent) return false;
    if (this.#byId === null) return true;
    return ++this.#abandoned > this.#maxAbandoned;
  }

  /**
   * Closes at once after `why` ("a request timed out"): rejects what is in
   * flight with a ConnectionClosedError caused by `cause`.
   */
  failAfter(why: string, cause: unknown): void {
    this.fail(
      new ConnectionClosedError(
        `Cannot complete request: connection closed after ${why}`,
        { cause },
      ),
    );
  }

  /** Closes at once, rejecting what is in flight with `error`. */
  fail(error: ConnectionClosedError): void {
    this.#lose(error);
    this.#transport.close();
  }

  /** Sends what is queued, then half-closes; `whenClosed` follows. */
  closeWrite(): void {
    this.#flush();
    this.#transport.closeWrite();
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#batch;
    if (!this.#alive || batch.length === 0) return;
    const inFlight = this.#inFlight;
    const outbound = this.#outbound;
    const byId = this.#byId;
    for (let i = 0; i < batch.length; i++) {
      const pending = batch[i];
      if (pending.state === RequestState.dropped) continue;
      pending.state = RequestState.sent;
      if (byId === null) {
        inFlight.push(pending);
        outbound.add(pending.payload);
        continue;
      }
      const id = this.#takeId(byId);
      pending.id = id;
      byId.set(id, pending);
      outbound.addWithId(pending.payload, idLow(id), idHigh(id));
    }
    batch.length = 0;
    this.#batchLive = 0;
    outbound.flush(this.#write);
  }

  /**
   * An id no request in `byId` holds: the next one, wrapping around, past
   * those still taken. The client keeps fewer requests than half the id
   * space in flight or abandoned, so one is always free.
   */
  #takeId(byId: Map<number, PendingRequest>): number {
    const space = this.#idField!.space;
    let id = this.#nextId;
    while (byId.has(id)) id = id + 1 === space ? 0 : id + 1;
    this.#nextId = id + 1 === space ? 0 : id + 1;
    return id;
  }

  #data(chunk: Uint8Array): boolean {
    if (!this.#alive) return true;
    this.#chunk = chunk;
    this.#chunkRetained = false;
    try {
      this.#decoder.push(chunk);
    } catch (error) {
      if (error instanceof DrainNoticeError) this.#drained(error);
      else {
        this.fail(
          new ConnectionClosedError("Cannot read response: protocol error", {
            cause: error,
          }),
        );
      }
    }
    this.#chunk = null;
    return !this.#chunkRetained;
  }

  /**
   * Settles the oldest written request. A frame the decoder assembled across
   * chunks has an exact buffer of its own; one that lies in the chunk (its
   * header there too, `headerAt >= 0`, or not) is copied out of it, or with
   * zeroCopy passed on as it is while the transport is told to keep the
   * chunk's memory. The buffer (a call into C++ on V8) is only looked up when
   * the header was not in the chunk. `new Uint8Array(frame)` copies faster
   * than `frame.slice()` on V8 and JSC, and copies a Node `Buffer` view too,
   * whose `slice()` would not.
   */
  #onResponse(frame: Uint8Array, headerAt: number): void {
    const pending = this.#byId === null
      ? this.#inFlight.shift()
      : this.#matchById(frame);
    if (pending === undefined) {
      if (this.#byId !== null) return; // a late response, dropped
      throw new ProtocolError(
        "Cannot match response: the server sent a frame no request is waiting for",
      );
    }
    if (headerAt >= 0 || frame.buffer === this.#chunk!.buffer) {
      if (this.#zeroCopy) this.#chunkRetained = true;
      else frame = new Uint8Array(frame);
    }
    pending.resolve(frame);
    this.#events.answered();
  }

  /**
   * The request a response answers, by its id; undefined for the late
   * response of one that timed out or was aborted (dropped and counted).
   *
   * @throws {ProtocolError} No request has its id, or it has none.
   */
  #matchById(frame: Uint8Array): PendingRequest | undefined {
    const idField = this.#idField!;
    if (frame.length < idField.end) {
      throw idField.tooShort("match response", frame.length);
    }
    const id = idField.read(frame, 0);
    const byId = this.#byId!;
    const pending = byId.get(id);
    if (pending === undefined) {
      throw new ProtocolError(
        `Cannot match response: the server sent id ${id}, which no request is waiting for`,
      );
    }
    byId.delete(id);
    if (pending.state === RequestState.dropped) {
      this.#abandoned--;
      this.#events.late();
      return undefined;
    }
    pending.state = RequestState.answered;
    return pending;
  }

  #end(): void {
    const discarded = this.#decoder.end();
    const detail = discarded > 0
      ? `connection closed by peer mid-frame (${discarded} bytes discarded)`
      : "connection closed by peer";
    this.#lose(new ConnectionClosedError(`Cannot complete request: ${detail}`));
    this.#transport.closeWrite();
  }

  /**
   * The server's drain notice: it answered every request it processed, so
   * those still unanswered go back to the client, to be sent again, and
   * this end half-closes so the server can close at once.
   */
  #drained(notice: DrainNoticeError): void {
    this.#lose(
      new ConnectionClosedError(
        "Cannot complete request: the server is draining (drain notice)",
        { cause: notice, sent: false },
      ),
      true,
    );
    this.#transport.closeWrite();
  }

  #closed(error?: unknown): void {
    this.#lose(
      new ConnectionClosedError(
        "Cannot complete request: connection closed",
        error === undefined ? undefined : { cause: error },
      ),
    );
    this.#closedGate.open();
  }

  /**
   * Rejects the requests written on the connection with `error` (or, when
   * the server said it did not process them, hands them back with those
   * never written), once.
   */
  #lose(error: ConnectionClosedError, unprocessed = false): void {
    if (!this.#alive) return;
    this.#alive = false;
    const byId = this.#byId;
    let written = this.#inFlight.drain();
    if (byId !== null) {
      written = [...byId.values()];
      byId.clear();
      this.#abandoned = 0;
    }
    const batch = this.#batchLive === 0
      ? []
      : this.#batch.filter((p) => p.state !== RequestState.dropped);
    this.#batch = [];
    this.#batchLive = 0;
    let unwritten = batch;
    if (unprocessed) {
      unwritten = written.filter((p) => p.state === RequestState.sent);
      for (const pending of batch) unwritten.push(pending);
    } else {
      for (const pending of written) {
        if (pending.state === RequestState.sent) pending.reject(error);
      }
    }
    this.#events.lost(error, unwritten);
  }
}
