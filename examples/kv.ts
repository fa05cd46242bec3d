/**
 * A key-value store served by framewire's command line:
 *
 *   deno run -A mod.ts serve --handler examples/kv.ts --port 4600
 *
 * Its protocol, inside framewire's frames (one request frame, one response
 * frame; integers little-endian):
 *
 * | Request               | Bytes                                      |
 * | --------------------- | ------------------------------------------ |
 * | SET key value         | `S`, key length (1 byte), key, value       |
 * | GET key               | `G`, key length (1 byte), key              |
 * | DEL key               | `D`, key length (1 byte), key              |
 * | COUNT                 | `C`                                        |
 *
 * Keys are 1 to 255 bytes, compared byte for byte; a value is every byte
 * after the key (empty included). Each response starts with a status byte:
 *
 * | Status         | Then                                                      |
 * | -------------- | --------------------------------------------------------- |
 * | 0 OK           | GET: the value. COUNT: requests on this connection so far  |
 * |                | (this one included) and keys stored, two u32. Else nothing |
 * | 1 NOT_FOUND    | nothing (GET or DEL of a key not stored)                  |
 * | 2 ERROR        | a UTF-8 message: the request was malformed                |
 *
 * A malformed request gets an ERROR response and the connection stays open:
 * the handler throws a `MalformedRequest`, and `onHandlerError` answers it.
 *
 * Values are kept without a copy: the stored value is a `subarray` view of
 * the SET request. framewire gives a handler its request (unless the
 * application sets `zeroCopy: true`), so nothing it does later changes those
 * bytes. A view keeps its whole buffer alive, though: small pipelined
 * requests share the read they arrived in, and a store keeping one small
 * value of each large read would hold more memory than it stores (there,
 * `slice()` the value instead).
 *
 * Each process has its own store: with `serve --workers N`, each worker
 * serves its own connections from its own map.
 *
 * Only types are imported from framewire (`import type` is erased), so the
 * module runs as it is on Deno and Bun, and on Node once compiled to
 * JavaScript. It is also a library module: `serve({ ...kv, port: 4600 })`.
 *
 * @module
 */
import type { Application, RequestContext } from "framewire";

/** What the store keeps about each connection, in `context.state`. */
export interface Session {
  /** Requests received on the connection, the current one included. */
  requests: number;
}

/** The first byte of each request. */
export const Op = {
  SET: 0x53, // "S"
  GET: 0x47, // "G"
  DEL: 0x44, // "D"
  COUNT: 0x43, // "C"
} as const;

/** The first byte of each response. */
export const Status = {
  OK: 0,
  NOT_FOUND: 1,
  ERROR: 2,
} as const;

/** A request that breaks the protocol: answered with an ERROR response. */
export class MalformedRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedRequest";
  }
}

const OK = Uint8Array.of(Status.OK);
const NOT_FOUND = Uint8Array.of(Status.NOT_FOUND);
const encoder = new TextEncoder();

/** The store: key (one character per byte) to a view of a SET request. */
const store = new Map<string, Uint8Array>();

/**
 * The key of a SET, GET or DEL request, as a string of one character per
 * byte (so distinct byte strings stay distinct), and where it ends.
 */
function keyOf(request: Uint8Array): { key: string; end: number } {
  if (request.length < 2) throw new MalformedRequest("no key length");
  const length = request[1];
  const end = 2 + length;
  if (length === 0) throw new MalformedRequest("empty key");
  if (request.length < end) {
    throw new MalformedRequest(
      `key of ${length} bytes, but ${request.length - 2} follow`,
    );
  }
  return {
    key: String.fromCharCode(...request.subarray(2, end)),
    end,
  };
}

function handler(
  request: Uint8Array,
  context: RequestContext<Session>,
): Uint8Array {
  context.state.requests++;
  const op = request[0];
  if (op === Op.SET) {
    const { key, end } = keyOf(request);
    store.set(key, request.subarray(end)); // kept without a copy
    return OK;
  }
  if (op === Op.GET) {
    const { key, end } = keyOf(request);
    if (end !== request.length) {
      throw new MalformedRequest("GET takes only a key");
    }
    const value = store.get(key);
    if (value === undefined) return NOT_FOUND;
    const response = new Uint8Array(1 + value.length);
    response[0] = Status.OK;
    response.set(value, 1);
    return response;
  }
  if (op === Op.DEL) {
    const { key, end } = keyOf(request);
    if (end !== request.length) {
      throw new MalformedRequest("DEL takes only a key");
    }
    return store.delete(key) ? OK : NOT_FOUND;
  }
  if (op === Op.COUNT && request.length === 1) {
    const response = new Uint8Array(9);
    const view = new DataView(response.buffer);
    view.setUint32(1, context.state.requests, true);
    view.setUint32(5, store.size, true);
    return response;
  }
  throw new MalformedRequest(
    request.length === 0
      ? "empty request"
      : op === Op.COUNT
      ? "COUNT takes no operand"
      : `unknown operation 0x${op.toString(16).padStart(2, "0")}`,
  );
}

/** The key-value application: `serve --handler` serves its default export. */
const kv: Application<Session> = {
  handler,
  onConnection(context) {
    context.state.requests = 0;
  },
  onHandlerError(error) {
    // A bug is not the client's fault: no response, the connection closes
    // and the server logs the error.
    if (!(error instanceof MalformedRequest)) return undefined;
    const message = encoder.encode(error.message);
    const response = new Uint8Array(1 + message.length);
    response[0] = Status.ERROR;
    response.set(message, 1);
    return response;
  },
};

export default kv;
