// A Transport for unit tests: records writes and lets the test deliver bytes.
import type { NetAddr, Transport, TransportEvents } from "../src/transport.ts";

const ADDR: NetAddr = { transport: "fake", hostname: "fake", port: 0 };

export class FakeTransport implements Transport {
  readonly localAddr = ADDR;
  readonly remoteAddr = ADDR;
  bufferedAmount = 0;
  readonly writes: Uint8Array[] = [];
  paused = false;
  writeClosed = false;
  closedByCore = false;
  events: TransportEvents | null = null;

  start(events: TransportEvents): void {
    this.events = events;
  }
  write(bytes: Uint8Array): void {
    this.writes.push(bytes.slice());
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  closeWrite(): void {
    this.writeClosed = true;
  }
  close(): void {
    this.closedByCore = true;
    this.events?.closed();
  }
  /** Delivers one read's worth of bytes; returns the core's "reusable" answer. */
  deliver(bytes: Uint8Array): boolean {
    return this.events!.data(bytes);
  }
}
