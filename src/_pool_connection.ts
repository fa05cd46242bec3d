// One connection of a Pool: a Client to one endpoint, redialed with
// exponential backoff whenever it is refused or lost (a server that drains
// closes its connections: the endpoint is skipped until it answers again).
import { Client } from "./client.ts";
import type { ClientOptions } from "./client_options.ts";
import { type Backoff, backoffDelay } from "./_client_settings.ts";
import type { Transport } from "./transport.ts";

/** Where a pool connection stands. */
export type PoolConnectionState = "connecting" | "up" | "backoff" | "closed";

/** What a {@linkcode PoolConnection} tells its pool. */
export interface PoolConnectionHost {
  /** The connection is up (again): requests can be handed to it. */
  up(): void;
}

/** One pooled connection to one endpoint, with its redial loop. */
export class PoolConnection {
  readonly endpoint: number;
  state: PoolConnectionState = "connecting";
  client: Client | null = null;
  readonly #dial: () => Promise<Transport>;
  readonly #options: ClientOptions;
  readonly #backoff: Backoff;
  readonly #host: PoolConnectionHost;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #dialing: Promise<void> | null = null;

  constructor(
    endpoint: number,
    dial: () => Promise<Transport>,
    options: ClientOptions,
    backoff: Backoff,
    host: PoolConnectionHost,
  ) {
    this.endpoint = endpoint;
    this.#dial = dial;
    this.#options = options;
    this.#backoff = backoff;
    this.#host = host;
  }

  /** Whether a request can be handed to it now. */
  get usable(): boolean {
    return this.state === "up" && this.client !== null &&
      this.client.connected && !this.client.closed;
  }

  /** Requests handed to its client and not settled. */
  get inFlight(): number {
    return this.client === null ? 0 : this.client.inFlight;
  }

  /** Dials now; resolves once this dial has settled. */
  dial(): Promise<void> {
    this.state = "connecting";
    this.#dialing = this.#connect().finally(() => {
      this.#dialing = null;
    });
    return this.#dialing;
  }

  async #connect(): Promise<void> {
    let client: Client | undefined;
    try {
      client = await Client.dial(this.#dial, {
        ...this.#options,
        reconnect: false,
        onDisconnect: () => this.#lost(client),
      });
    } catch {
      if (this.state !== "closed") this.#retry();
      return;
    }
    if (this.state === "closed") {
      await client.close({ force: true });
      return;
    }
    this.client = client;
    this.#attempt = 0;
    this.state = "up";
    this.#host.up();
  }

  /** The server closed the connection or it failed: redial after a pause. */
  #lost(client: Client | undefined): void {
    if (this.client !== client || this.state === "closed") return;
    this.client = null;
    this.#retry();
  }

  #retry(): void {
    this.state = "backoff";
    this.#attempt++;
    const delay = backoffDelay(this.#backoff, this.#attempt);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.dial();
    }, delay);
  }

  /** Stops redialing and closes the client: by force, or once it is idle. */
  async close(force: boolean): Promise<void> {
    this.state = "closed";
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#dialing;
    const client = this.client;
    if (client !== null) await client.close({ force });
  }
}
