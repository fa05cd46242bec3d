// A Client's reconnection: rounds of attempts that redial after a lost
// connection, each after its backoff delay.
import type { Transport } from "./transport.ts";
import { type Backoff, backoffDelay } from "./_client_settings.ts";

/** What a {@linkcode Redialer} reports. */
export interface RedialEvents {
  /** A redial succeeded on attempt `attempt` of the round. */
  connected(transport: Transport, attempt: number): void;
  /** Every attempt of the round failed; `lastError` is the last dial's error. */
  failed(attempts: number, lastError: unknown): void;
}

const NOOP_EVENTS = { data: () => true, end() {}, drain() {} };

/**
 * Runs rounds of redials: up to `maxAttempts` calls of `dial`, each after its
 * backoff delay, until one succeeds.
 */
export class Redialer {
  readonly #dial: () => Promise<Transport>;
  readonly #backoff: Backoff;
  readonly #events: RedialEvents;
  #active = false;
  #attempt = 0;
  #lastError: unknown = undefined;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #dialing: Promise<void> | null = null;
  /** Dials made, successful or not. */
  attempts = 0;

  constructor(
    dial: () => Promise<Transport>,
    backoff: Backoff,
    events: RedialEvents,
  ) {
    this.#dial = dial;
    this.#backoff = backoff;
    this.#events = events;
  }

  /** Starts a round unless one is running. */
  start(): void {
    if (this.#active) return;
    this.#active = true;
    this.#attempt = 0;
    this.#lastError = undefined;
    this.#schedule();
  }

  /** Ends the round; resolves once a dial under way has settled and its connection, if any, is closed. */
  async stop(): Promise<void> {
    this.#active = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#dialing;
  }

  #schedule(): void {
    if (this.#attempt >= this.#backoff.maxAttempts) {
      this.#active = false;
      this.#events.failed(this.#attempt, this.#lastError);
      return;
    }
    this.#attempt++;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#dialing = this.#redial().finally(() => {
        this.#dialing = null;
      });
    }, backoffDelay(this.#backoff, this.#attempt));
  }

  async #redial(): Promise<void> {
    this.attempts++;
    let transport: Transport;
    try {
      transport = await this.#dial();
    } catch (error) {
      if (!this.#active) return;
      this.#lastError = error;
      this.#schedule();
      return;
    }
    if (!this.#active) {
      // stop() came first: close the new connection.
      await new Promise<void>((resolve) => {
        transport.start({ ...NOOP_EVENTS, closed: () => resolve() });
        transport.close();
      });
      return;
    }
    this.#active = false;
    this.#events.connected(transport, this.#attempt);
  }
}
