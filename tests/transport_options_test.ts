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

test("connect options: defaults, tls: true, CA lists and the server name", () => {
  assert.deepEqual(connectTarget({}), {
    kind: "tcp",
    hostname: "127.0.0.1",
    port: 1234,
    tls: null,
  });
  assert.deepEqual(connectTarget({ tls: false }).kind, "tcp");
  assert.deepEqual(connectTarget({ host: "localhost", tls: true }), {
    kind: "tcp",
    hostname: "localhost",
    port: 1234,
    tls: { ca: null, serverName: "localhost" },
  });
  assert.deepEqual(
    connectTarget({ port: 9, tls: { ca: PEM, serverName: "example.com" } }),
    {
      kind: "tcp",
      hostname: "127.0.0.1",
      port: 9,
      tls: { ca: [PEM], serverName: "example.com" },
    },
  );
  assert.deepEqual(connectTarget({ tls: { ca: [PEM, PEM] } }), {
    kind: "tcp",
    hostname: "127.0.0.1",
    port: 1234,
    tls: { ca: [PEM, PEM], serverName: "127.0.0.1" },
  });
  assert.deepEqual(connectTarget({ path: "/tmp/x.sock", tls: false }), {
    kind: "unix",
    path: "/tmp/x.sock",
  });
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
    assert.equal(
      error.message,
      "Cannot listen on /s: a server is answering there",
    );
    return true;
  });
  assert.deepEqual(answering.removed, []);

  const file = fakeOps("other", () => Promise.resolve(false));
  await assert.rejects(
    claimUnixPath("/s", file),
    /^AddressInUseError: Cannot listen on \/s: the path exists and is not a socket$/,
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
