// The library's entry points: mod.ts exports the library and nothing of the
// program or the adapters; each adapter comes from its own subpath
// (framewire/node, framewire/bun, framewire/deno), the program's API from
// framewire/cli; serve() and connect() load the runtime's adapter themselves.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as framewire from "../mod.ts";
import { nodeNetwork } from "../src/adapters/node.ts";
import { runtime } from "./_runtime.ts";
import type { Transport } from "../src/transport.ts";

test("entry points: mod.ts exports the library, not the adapters or the command line", () => {
  for (
    const name of [
      "denoNetwork",
      "bunNetwork",
      "nodeNetwork",
      "runCli",
      "denoCliHost",
      "nodeCliHost",
      "EventLog",
      "runLoadTest",
    ]
  ) {
    assert.equal(name in framewire, false, `mod.ts exports ${name}`);
  }
  for (
    const name of [
      "serve",
      "connect",
      "defaultNetwork",
      "Server",
      "Client",
      "FrameDecoder",
      "encodeFrame",
      "parseProxyHeader",
      "formatMetrics",
      "LatencyHistogram",
      "FRAME_HEADER_SIZE",
    ]
  ) {
    assert.equal(name in framewire, true, `mod.ts lacks ${name}`);
  }
});

test("entry points: framewire/cli exports the program's API, not the command line itself", async () => {
  const cli = await import("../src/cli/mod.ts");
  assert.equal(typeof cli.runLoadTest, "function");
  assert.equal(typeof cli.EventLog, "function");
  for (const name of ["runCli", "denoCliHost", "nodeCliHost", "bunCliHost"]) {
    assert.equal(name in cli, false, `framewire/cli exports ${name}`);
  }
});

test("entry points: each adapter comes from its subpath and exports its network", async () => {
  const [deno, bun, node] = await Promise.all([
    import("../src/adapters/deno.ts"),
    import("../src/adapters/bun.ts"),
    import("../src/adapters/node.ts"),
  ]);
  for (const network of [deno.denoNetwork, bun.bunNetwork, node.nodeNetwork]) {
    assert.equal(typeof network.listen, "function");
    assert.equal(typeof network.connect, "function");
  }
});

test("entry points: defaultNetwork() loads this runtime's adapter", async () => {
  const network = await framewire.defaultNetwork();
  const expected = runtime === "deno"
    ? (await import("../src/adapters/_deno_default.ts")).denoDefaultNetwork
    : runtime === "bun"
    ? (await import("../src/adapters/bun.ts")).bunNetwork
    : nodeNetwork;
  assert.equal(network, expected);
});

test(
  "entry points: on Deno, servers listen with node:net and clients connect with the Deno adapter",
  { skip: runtime !== "deno" },
  async () => {
    const { denoDefaultNetwork } = await import(
      "../src/adapters/_deno_default.ts"
    );
    const { NodeTransport } = await import(
      "../src/adapters/_node_transport.ts"
    );
    const { DenoTransport } = await import(
      "../src/adapters/_deno_transport.ts"
    );
    const accepted: Transport[] = [];
    const listener = await denoDefaultNetwork.listen(
      { host: "127.0.0.1", port: 0 },
      (transport) => {
        accepted.push(transport);
        transport.close();
      },
    );
    const client = await denoDefaultNetwork.connect({
      host: "127.0.0.1",
      port: listener.addr.port,
    });
    try {
      assert.ok(client instanceof DenoTransport);
      while (accepted.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.ok(accepted[0] instanceof NodeTransport);
    } finally {
      client.close();
      listener.close();
    }
  },
);

test("entry points: serve() and connect() from mod.ts, with the default or a chosen adapter", async () => {
  const encoder = new TextEncoder();
  for (const network of [undefined, nodeNetwork]) {
    await using server = await framewire.serve({
      host: "127.0.0.1",
      port: 0,
      network,
    });
    await using client = await framewire.connect({
      host: "127.0.0.1",
      port: server.addr!.port,
      network,
    });
    const responses = await Promise.all(
      ["a", "b", "c"].map((text) => client.request(encoder.encode(text))),
    );
    assert.deepEqual(
      responses.map((bytes) => new TextDecoder().decode(bytes)),
      ["a", "b", "c"],
    );
  }
});
