// The transport a PROXY protocol connection is handed on as: the header's
// addresses, every call forwarded to the raw transport, and the events that
// came before start() replayed after it.
import type { ProxiedTransport, ProxyHeader } from "./proxy_header.ts";
import type { NetAddr, Transport, TransportEvents } from "./transport.ts";

/** An event from the raw transport that waits for `start()`. */
export type Pending = Uint8Array | typeof END | { error: unknown };
export const END = 0;

/** The transport handed on: proxied addresses, forwarding to the raw one. */
export class Proxied implements ProxiedTransport {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  readonly peerAddr: NetAddr;
  readonly proxyHeader: ProxyHeader;
  #raw: Transport;
  #events: TransportEvents | null = null;
  /** Events that arrived before `start()` or wait to be replayed after it. */
  #pending: Pending[] | null = null;
  #userPaused = false;

  constructor(raw: Transport, header: ProxyHeader) {
    this.#raw = raw;
    this.proxyHeader = header;
    this.peerAddr = raw.remoteAddr;
    const relayed = header.command === "PROXY" && header.source !== null;
    this.remoteAddr = relayed ? header.source! : raw.remoteAddr;
    this.localAddr = relayed ? header.destination! : raw.localAddr;
  }

  get bufferedAmount(): number {
    return this.#raw.bufferedAmount;
  }

  get readViewsWritable(): boolean | undefined {
    return this.#raw.readViewsWritable;
  }

  /**
   * Called once `accept` has returned, with the bytes that followed the
   * header in its read. Returns the raw `data()` answer.
   */
  handOver(rest: Uint8Array): boolean {
    if (this.#events !== null && this.#pending === null) {
      return rest.length === 0 ? true : this.#events.data(rest);
    }
    // Not started yet: keep the rest and hold reading until started.
    this.#pending ??= [];
    if (rest.length > 0) this.#pending.unshift(rest.slice());
    this.#raw.pause();
    return true;
  }

  /** An event from the raw transport. */
  receive(event: Pending): boolean {
    if (this.#pending !== null || this.#events === null) {
      (this.#pending ??= []).push(
        event instanceof Uint8Array ? event.slice() : event,
      );
      return true;
    }
    return deliver(this.#events, event);
  }

  drained(): void {
    if (this.#pending === null) this.#events?.drain();
  }

  start(events: TransportEvents): void {
    this.#events = events;
    if (this.#pending === null) return; // started within accept: handOver delivers
    queueMicrotask(() => {
      const pending = this.#pending!;
      // Events that arrive while replaying join the end of the list.
      for (let i = 0; i < pending.length; i++) deliver(events, pending[i]);
      this.#pending = null;
      if (!this.#userPaused) this.#raw.resume();
    });
  }

  write(bytes: Uint8Array): void {
    this.#raw.write(bytes);
  }

  pause(): void {
    this.#userPaused = true;
    this.#raw.pause();
  }

  resume(): void {
    this.#userPaused = false;
    if (this.#pending === null) this.#raw.resume();
  }

  closeWrite(): void {
    this.#raw.closeWrite();
  }

  close(): void {
    this.#raw.close();
  }
}

function deliver(events: TransportEvents, event: Pending): boolean {
  if (event instanceof Uint8Array) return events.data(event);
  if (event === END) events.end();
  else events.closed(event.error);
  return true;
}
