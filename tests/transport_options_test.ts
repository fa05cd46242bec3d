// Listen and connect options: validation and defaults shared by every
// adapter, and how each adapter reports bad options.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  claimUnixPath,
  connectTarget,
  listenTarget,
  type UnixPathOps,
} from "../src/_transport_options.ts";
import { AddressInUseError } from "../src/errors.ts";
import { Server } from "../src/server.ts";
import { availableNetworks } from "./_runtime.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

test("listen options: TCP defaults, TLS and Unix targets", () => {
  assert.deepEqual(listenTarget({}), {
    kind: "tcp",
    hostname: "0.0.0.0",
    port: 1234,
    tls: null,
    reusePort: false,
  });
  assert.deepEqual(
    listenTarget({
      host: "::1",
      port: 0,
      tls: { cert: PEM, key: PEM },
      reusePort: true,
    }),
    {
      kind: "tcp",
      hostname: "::1",
      port: 0,
      tls: { cert: PEM, key: PEM },
      reusePort: true,
    },
  );
  assert.deepEqual(listenTarget({ path: "/tmp/x.sock" }), {
    kind: "unix",
    path: "/tmp/x.sock",
  });
});

test("listen options: malformed ones throw TypeError", () => {
  const bad: unknown[] = [
    { path: "" },
    { path: 5 },
    { path: "/tmp/x.sock", port: 0 },
    { path: "/tmp/x.sock", host: "127.0.0.1" },
    { path: "/tmp/x.sock", tls: { cert: PEM, key: PEM } },
    { tls: true },
    { tls: { cert: PEM } },
    { tls: { cert: "server.pem", key: PEM } },
    { reusePort: "yes" },
    { path: "/tmp/x.sock", reusePort: true },
  ];
  for (const options of bad) {
    assert.throws(
      () => listenTarget(options as never),
      (error: unknown) =>
        error instanceof TypeError && /^Cannot listen: /.test(error.message),
      JSON.stringify(options),
    );
  }
});

/** What every connect target carries when connectTimeout and signal are not set. */
const LIMITS = { connectTimeout: 10000, signal: null };

test("connect options: defaults, tls: true, CA lists and the server name", () => {
  assert.deepEqual(connectTarget({}), {
    kind: "tcp",
    hostname: "127.0.0.1",
    port: 1234,
    tls: null,
    ...LIMITS,
  });
  assert.deepEqual(connectTarget({ tls: false }).kind, "tcp");
  assert.deepEqual(connectTarget({ host: "localhost", tls: true }), {
    kind: "tcp",
    hostname: "localhost",
    port: 1234,
    tls: { ca: null, serverName: "localhost" },
    ...LIMITS,
  });
  assert.deepEqual(
    connectTarget({ port: 9, tls: { ca: PEM, serverName: "example.com" } }),
    {
      kind: "tcp",
      hostname: "127.0.0.1",
      port: 9,
      tls: { ca: [PEM], serverName: "example.com" },
      ...LIMITS,
    },
  );
  assert.deepEqual(connectTarget({ tls: { ca: [PEM, PEM] } }), {
    kind: "tcp",
    hostname: "127.0.0.1",
    port: 1234,
    tls: { ca: [PEM, PEM], serverName: "127.0.0.1" },
    ...LIMITS,
  });
  assert.deepEqual(connectTarget({ path: "/tmp/x.sock", tls: false }), {
    kind: "unix",
    path: "/tmp/x.sock",
    ...LIMITS,
  });
  const signal = new AbortController().signal;
  assert.deepEqual(
    connectTarget({ port: 65535, connectTimeout: 0, signal }),
    {
      kind: "tcp",
      hostname: "127.0.0.1",
      port: 65535,
      tls: null,
      connectTimeout: 0,
      signal,
    },
  );
});

test("port and host: TypeError for another type, RangeError out of range, before any socket", () => {
  assert.equal(listenTarget({ port: 0 }).kind, "tcp");
  assert.equal(listenTarget({ port: 65535, host: "::" }).kind, "tcp");
  const cases: Array<[unknown, typeof TypeError, string]> = [
    [
      { port: null },
      TypeError,
      "port must be an integer from 0 to 65535, got null",
    ],
    [
      { port: "80" },
      TypeError,
      'port must be an integer from 0 to 65535, got "80"',
    ],
    [
      { port: 65536 },
      RangeError,
      "port must be an integer from 0 to 65535, got 65536",
    ],
    [
      { port: -1 },
      RangeError,
      "port must be an integer from 0 to 65535, got -1",
    ],
    [
      { port: 80.5 },
      RangeError,
      "port must be an integer from 0 to 65535, got 80.5",
    ],
    [
      { port: NaN },
      RangeError,
      "port must be an integer from 0 to 65535, got NaN",
    ],
    [{ host: "" }, TypeError, 'host must be a non-empty string, got ""'],
    [{ host: null }, TypeError, "host must be a non-empty string, got null"],
  ];
  for (const [options, kind, detail] of cases) {
    assert.throws(
      () => listenTarget(options as never),
      new kind(`Cannot listen: ${detail}`),
    );
    const connectDetail = detail.replace("from 0 to", "from 1 to");
    assert.throws(
      () => connectTarget(options as never),
      new kind(`Cannot connect: ${connectDetail}`),
    );
  }
  assert.throws(
    () => connectTarget({ port: 0 }),
    new RangeError(
      "Cannot connect: port must be an integer from 1 to 65535, got 0",
    ),
  );
  assert.throws(
    () => listenTarget({ path: `/tmp/${"x".repeat(103)}` }),
    new RangeError(
      "Cannot listen: path must be at most 107 bytes (the Unix socket limit), got 108",
    ),
  );
  assert.equal(connectTarget({ path: `/tmp/${"x".repeat(102)}` }).kind, "unix");
  assert.throws(() => connectTarget({ connectTimeout: 2 ** 31 }), RangeError);
  assert.throws(() => connectTarget({ connectTimeout: 0.5 }), TypeError);
});

test("connect options: malformed ones throw TypeError", () => {
  const bad: unknown[] = [
    { path: "" },
    { path: "/tmp/x.sock", port: 1 },
    { path: "/tmp/x.sock", tls: true },
    { tls: "yes" },
    { tls: null },
    { tls: { ca: [] } },
    { tls: { ca: "ca.pem" } },
    { tls: { ca: [PEM, 7] } },
    { tls: { serverName: "" } },
  ];
  for (const options of bad) {
    assert.throws(
      () => connectTarget(options as never),
      (error: unknown) =>
        error instanceof TypeError && /^Cannot connect: /.test(error.message),
      JSON.stringify(options),
    );
  }
});

/** UnixPathOps over a pretend file system, recording removals. */
function fakeOps(
  kind: "socket" | "other" | null,
  probe: () => Promise<boolean>,
): UnixPathOps & { removed: string[] } {
  const removed: string[] = [];
  return {
    removed,
    kind: () => (removed.length > 0 ? null : kind),
    probe,
    remove: (path) => void removed.push(path),
  };
}

test("claimUnixPath: free, stale, answering, not a socket, probe failure", async () => {
  const free = fakeOps(null, () => Promise.reject(new Error("not called")));
  await claimUnixPath("/s", free);
  assert.deepEqual(free.removed, []);

  const stale = fakeOps("socket", () => Promise.resolve(false));
  await claimUnixPath("/s", stale);
  assert.deepEqual(stale.removed, ["/s"]);

  const answering = fakeOps("socket", () => Promise.resolve(true));
  await assert.rejects(claimUnixPath("/s", answering), (error: unknown) => {
    assert.ok(error instanceof AddressInUseError);
    assert.equal(error.name, "AddressInUseError");
    assert.equal(error.code, "EADDRINUSE");
    assert.equal(
      error.message,
      "Cannot listen on /s: a server is answering there (EADDRINUSE)",
    );
    return true;
  });
  assert.deepEqual(answering.removed, []);

  const file = fakeOps("other", () => Promise.resolve(false));
  await assert.rejects(
    claimUnixPath("/s", file),
    /^AddressInUseError: Cannot listen on \/s: the path exists and is not a socket \(EADDRINUSE\)$/,
  );
  assert.deepEqual(file.removed, []);

  const cause = new Error("EACCES");
  const unknown = fakeOps("socket", () => Promise.reject(cause));
  await assert.rejects(claimUnixPath("/s", unknown), (error: unknown) => {
    assert.ok(error instanceof AddressInUseError);
    assert.equal(error.cause, cause);
    return true;
  });
  assert.deepEqual(unknown.removed, [], "a socket it cannot probe is kept");
});

for (const [name, network] of availableNetworks()) {
  test(`${name}: bad transport options reject before any socket is opened`, async () => {
    await assert.rejects(
      network.connect({ path: "/tmp/x.sock", port: 1 }),
      TypeError,
    );
    await assert.rejects(
      network.connect({ host: "127.0.0.1", port: 1, tls: { ca: "nope" } }),
      TypeError,
    );
    const server = new Server();
    await assert.rejects(
      server.listen(network, { host: "127.0.0.1", port: 0, tls: {} as never }),
      TypeError,
    );
    assert.equal(server.addr, null);
    await server.close();
  });
}
