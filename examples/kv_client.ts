/**
 * A client of the key-value store of `kv.ts`: it pipelines SETs, then GETs
 * of the same keys, on one connection and checks every value; then asks
 * COUNT, and shows that a malformed request gets an ERROR response on a
 * connection that keeps working.
 *
 *   deno run -A examples/kv_client.ts --port 4600 [--host H] [--count N]
 *
 * Its request encoders and `checkPipelined()` are also the test's helpers
 * (tests/cli_handler_test.ts).
 *
 * @module
 */
import process from "node:process";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
// In an application: import { type Client, connect } from "framewire";
import { type Client, connect } from "../mod.ts";
import { Op, Status } from "./kv.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function keyBytes(key: string | Uint8Array): Uint8Array {
  const bytes = typeof key === "string" ? encoder.encode(key) : key;
  if (bytes.length < 1 || bytes.length > 255) {
    throw new RangeError(
      `Cannot encode key: it must be 1 to 255 bytes, got ${bytes.length}`,
    );
  }
  return bytes;
}

/** A SET request: `S`, the key's length, the key, the value. */
export function setRequest(
  key: string | Uint8Array,
  value: Uint8Array,
): Uint8Array {
  const k = keyBytes(key);
  const request = new Uint8Array(2 + k.length + value.length);
  request[0] = Op.SET;
  request[1] = k.length;
  request.set(k, 2);
  request.set(value, 2 + k.length);
  return request;
}

/** A GET or DEL request: the operation, the key's length, the key. */
export function keyRequest(
  op: typeof Op.GET | typeof Op.DEL,
  key: string | Uint8Array,
): Uint8Array {
  const k = keyBytes(key);
  const request = new Uint8Array(2 + k.length);
  request[0] = op;
  request[1] = k.length;
  request.set(k, 2);
  return request;
}

/** The COUNT request. */
export const COUNT_REQUEST: Uint8Array = Uint8Array.of(Op.COUNT);

/** Reads a COUNT response: requests on the connection, and keys stored. */
export function readCount(
  response: Uint8Array,
): { requests: number; keys: number } {
  if (response.length !== 9 || response[0] !== Status.OK) {
    throw new Error(`Cannot read COUNT response: ${describe(response)}`);
  }
  const view = new DataView(
    response.buffer,
    response.byteOffset,
    response.byteLength,
  );
  return { requests: view.getUint32(1, true), keys: view.getUint32(5, true) };
}

/** A response, briefly: its status and what follows. */
export function describe(response: Uint8Array): string {
  const status = ["OK", "NOT_FOUND", "ERROR"][response[0]] ?? "?";
  if (response[0] === Status.ERROR) {
    return `ERROR ${JSON.stringify(decoder.decode(response.subarray(1)))}`;
  }
  return `${status}, ${response.length - 1} more bytes`;
}

/** The value stored under key `i`: 0 to 99 bytes that name `i`. */
export function valueOf(prefix: string, i: number): Uint8Array {
  return encoder.encode(`${prefix}${i};`.repeat(1 + (i % 7)).slice(0, i % 100));
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Sends `count` SETs (keys `${prefix}0`, `${prefix}1`, ...), all pipelined,
 * then `count` GETs of those keys, all pipelined, and checks every answer.
 *
 * @throws If any response is not the one expected, naming the first.
 */
export async function checkPipelined(
  client: Client,
  count: number,
  prefix = "key",
): Promise<void> {
  const keys = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  const set = await Promise.all(
    keys.map((key, i) => client.request(setRequest(key, valueOf(prefix, i)))),
  );
  set.forEach((response, i) => {
    if (response.length !== 1 || response[0] !== Status.OK) {
      throw new Error(`SET ${keys[i]} was answered ${describe(response)}`);
    }
  });
  const got = await Promise.all(
    keys.map((key) => client.request(keyRequest(Op.GET, key))),
  );
  got.forEach((response, i) => {
    const value = valueOf(prefix, i);
    if (response[0] !== Status.OK || !same(response.subarray(1), value)) {
      throw new Error(
        `GET ${keys[i]} was answered ${
          describe(response)
        }, not OK and ${value.length} bytes`,
      );
    }
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "4600" },
      count: { type: "string", default: "10000" },
    },
  });
  const count = Number(values.count);
  const client = await connect({
    host: values.host,
    port: Number(values.port),
    maxInFlight: count,
  });
  try {
    const started = performance.now();
    await checkPipelined(client, count);
    const ms = (performance.now() - started).toFixed(1);
    console.log(
      `${count} SETs, then ${count} GETs, pipelined: every value checked (${ms} ms)`,
    );
    const { requests, keys } = readCount(await client.request(COUNT_REQUEST));
    console.log(
      `COUNT: ${requests} requests on this connection, ${keys} keys stored`,
    );
    const bad = await client.request(Uint8Array.of(0x58, 1, 2));
    const after = await client.request(keyRequest(Op.GET, "key1"));
    console.log(
      `malformed request: ${describe(bad)}; then GET key1: ${describe(after)}`,
    );
  } finally {
    await client.close();
  }
}

const isMain = (import.meta as { main?: boolean }).main ??
  import.meta.url === pathToFileURL(process.argv[1] ?? "").href;
if (isMain) {
  main().catch((error) => {
    console.error(`error: ${error instanceof Error ? error.message : error}`);
    process.exitCode = 1;
  });
}
