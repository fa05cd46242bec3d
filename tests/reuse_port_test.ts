// ListenOptions.reusePort on every adapter of this runtime: two servers bind
// one port and the kernel spreads connections over them; where the runtime
// lacks it (Node before 22.12, Deno without --unstable-net) listen() fails
// with a clear error instead of binding without it.
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { availableNetworks, runtime } from "./_runtime.ts";
import { Server } from "../src/server.ts";
import { Client } from "../src/client.ts";
import { FramewireError } from "../src/errors.ts";
import { str, text } from "./_helpers.ts";

/** Whether `name`'s adapter can bind with reusePort in this process. */
function hasReusePort(name: string): boolean {
  if (name === "deno") {
    return typeof (globalThis as { Deno?: { listenDatagram?: unknown } })
      .Deno?.listenDatagram === "function";
  }
  if (name === "bun") return true;
  const [major, minor] = process.versions.node.split(".").map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}

for (const [name, network] of availableNetworks()) {
  test(`${name}: reusePort lets two servers share a port, the kernel spreading connections`, async (t) => {
    if (!hasReusePort(name)) {
      await assert.rejects(
        new Server().listen(network, {
          host: "127.0.0.1",
          port: 0,
          reusePort: true,
        }),
        (error: unknown) =>
          error instanceof FramewireError &&
          /^Cannot listen with reusePort: /.test(error.message),
      );
      t.diagnostic(`${name} has no reusePort here: refused as expected`);
      return;
    }
    const first = new Server({ handler: (r) => r });
    const second = new Server({ handler: (r) => r });
    try {
      const { port } = await first.listen(network, {
        host: "127.0.0.1",
        port: 0,
        reusePort: true,
      });
      const addr = await second.listen(network, {
        host: "127.0.0.1",
        port,
        reusePort: true,
      });
      assert.equal(addr.port, port);
      // A listener without the option cannot join them.
      await assert.rejects(
        new Server().listen(network, { host: "127.0.0.1", port }),
      );
      const clients = await Promise.all(
        Array.from(
          { length: 32 },
          async () =>
            new Client(await network.connect({ host: "127.0.0.1", port })),
        ),
      );
      const answers = await Promise.all(
        clients.map((client, i) => client.request(text(`request ${i}`))),
      );
      answers.forEach((answer, i) => assert.equal(str(answer), `request ${i}`));
      await Promise.all(clients.map((client) => client.close()));
      const a = first.stats().totalConnections;
      const b = second.stats().totalConnections;
      assert.equal(a + b, 32);
      assert.ok(a > 0 && b > 0, `connections spread: ${a} and ${b}`);
    } finally {
      await first.close();
      await second.close();
    }
  });
}

if (runtime === "deno") {
  test("deno: reusePort without --unstable-net is refused with a clear error", async () => {
    const adapter = new URL("../src/adapters/deno.ts", import.meta.url).href;
    const code = `import { denoNetwork } from ${JSON.stringify(adapter)};
try {
  await denoNetwork.listen({ host: "127.0.0.1", port: 0, reusePort: true }, () => {});
  console.log("bound");
} catch (error) {
  console.log(error.name + ": " + error.message);
}`;
    const child = spawn(process.execPath, ["eval", code], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const status = await new Promise((resolve) => child.on("close", resolve));
    assert.equal(status, 0, output);
    assert.equal(
      output.trim(),
      "FramewireError: Cannot listen with reusePort: Deno needs the --unstable-net flag for it",
    );
  });
}
