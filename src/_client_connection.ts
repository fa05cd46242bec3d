// One connection of a Client: writes batched requests, matches responses in
// order, and reports once when it can carry no more requests.
import { ConnectionClosedError, ProtocolError } from "./errors.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { Outbound } from "./_outbound.ts";
import { Gate } from "./_gate.ts";
import { Fifo } from "./_fifo.ts";
import type { NetAddr, Transport } from "./transport.ts";

/** A request made and not yet settled. */
export interface PendingRequest {
  payload: Uint8Array;
  /** When it times out (`performance.now()` time), or Infinity. */
  deadline: number;
  resolve(response: Uint8Array): void;
  reject(error: unknown): void;
}

/** What a connection reports to its client. */
export interface ClientConnectionEvents {
  /** A response settled a request, so a place is free. */
  answered(): void;
  /**
   * The connection carries no more requests: every request written on it has
   * been rejected with `error`; `unwritten` never left the process.
   */
  lost(error: ConnectionClosedError, unwritten: PendingRequest[]): void;
}

/** The requests, reader and writer of one transport of a client. */
export class ClientConnection {
  readonly #transport: Transport;
  readonly #events: ClientConnectionEvents;
  readonly #decoder: FrameDecoder;
  readonly #inFlight = new Fifo<PendingRequest>();
  readonly #closedGate = new Gate();
  #outbound = new Outbound();
  /** Requests at the end of #inFlight not yet handed to the transport. */
  #unflushed = 0;
  #flushScheduled = false;
  #alive = true;
  #chunkBuffer: ArrayBufferLike | null = null;
  #chunkRetained = false;

  constructor(
    transport: Transport,
    maxFrameSize: number,
    events: ClientConnectionEvents,
  ) {
    this.#transport = transport;
    this.#events = events;
    this.#decoder = new FrameDecoder((frame) => this.#onResponse(frame), {
      maxFrameSize,
    });
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
    return this.#inFlight.length;
  }

  /** The oldest unanswered request. */
  oldest(): PendingRequest | undefined {
    return this.#inFlight.peek();
  }

  /** Resolves once the transport has closed. */
  get whenClosed(): Promise<void> {
    return this.#closedGate.promise;
  }

  /** Queues a request for this tick's write. Only while alive. */
  send(pending: PendingRequest): void {
    this.#inFlight.push(pending);
    this.#outbound.add(pending.payload);
    this.#unflushed++;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /**
   * Rejects the oldest request with `error`, then closes the connection,
   * failing the others with a ConnectionClosedError caused by it.
   */
  timeOut(error: Error): void {
    if (this.#inFlight.length === this.#unflushed) this.#unflushed--;
    this.#inFlight.shift()?.reject(error);
    this.fail(
      new ConnectionClosedError(
        "Cannot complete request: connection closed after a request timed out",
        { cause: error },
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
    if (!this.#alive) return;
    this.#unflushed = 0;
    this.#outbound.flush((bytes) => this.#transport.write(bytes));
  }

  #data(chunk: Uint8Array): boolean {
    if (!this.#alive) return true;
    this.#chunkBuffer = chunk.buffer;
    this.#chunkRetained = false;
    try {
      this.#decoder.push(chunk);
    } catch (error) {
      this.fail(
        new ConnectionClosedError("Cannot read response: protocol error", {
          cause: error,
        }),
      );
    }
    this.#chunkBuffer = null;
    return !this.#chunkRetained;
  }

  #onResponse(frame: Uint8Array): void {
    if (this.#inFlight.length === this.#unflushed) {
      throw new ProtocolError(
        "Cannot match response: the server sent a frame no request is waiting for",
      );
    }
    const pending = this.#inFlight.shift()!;
    if (frame.buffer === this.#chunkBuffer) this.#chunkRetained = true;
    pending.resolve(frame);
    this.#events.answered();
  }

  #end(): void {
    const discarded = this.#decoder.end();
    const detail = discarded > 0
      ? `connection closed by peer mid-frame (${discarded} bytes discarded)`
      : "connection closed by peer";
    this.#lose(new ConnectionClosedError(`Cannot complete request: ${detail}`));
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

  #lose(error: ConnectionClosedError): void {
    if (!this.#alive) return;
    this.#alive = false;
    this.#outbound = new Outbound();
    const pending = this.#inFlight.drain();
    const written = pending.length - this.#unflushed;
    this.#unflushed = 0;
    for (let i = 0; i < written; i++) pending[i].reject(error);
    this.#events.lost(error, pending.slice(written));
  }
}
