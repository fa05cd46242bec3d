import { test } from "node:test";
import assert from "node:assert/strict";
import { Server } from "../src/server.ts";
import { formatMetrics, sumStats } from "../src/metrics.ts";
import { availableNetworks } from "./_runtime.ts";
import { Client } from "../src/client.ts";
import { text } from "./_helpers.ts";

/** Parses exposition text into "name{labels}" -> value, checking each line's shape. */
function parse(body: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of body.trimEnd().split("\n")) {
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const match = /^([a-z_]+(?:\{[a-z]+="[^"]*"\})?) (-?[0-9.e+-]+)$/.exec(
      line,
    );
    assert.ok(match, `malformed line: ${line}`);
    samples.set(match[1], Number(match[2]));
  }
  return samples;
}

test("formatMetrics renders live counters in the Prometheus text format", async () => {
  const network = availableNetworks()[0][1];
  const server = new Server({
    handler: async (request) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return request;
    },
  });
  const { port } = await server.listen(network, { host: "127.0.0.1", port: 0 });
  const client = new Client(await network.connect({ host: "127.0.0.1", port }));
  await Promise.all([1, 2, 3].map((i) => client.request(text(`m${i}`))));
  const body = formatMetrics(server.stats(), server.handlerTime());
  const samples = parse(body);
  assert.equal(samples.get('framewire_connections{transport="tcp"}'), 1);
  assert.equal(samples.get('framewire_connections{transport="websocket"}'), 0);
  assert.equal(samples.get("framewire_frames_received_total"), 3);
  assert.equal(samples.get("framewire_sent_bytes_total"), 3 * 4 + 6);
  assert.equal(samples.get("framewire_handler_seconds_count"), 3);
  assert.ok(samples.get('framewire_handler_seconds{quantile="0.5"}')! >= 0.004);
  assert.equal(
    samples.get('framewire_connections_closed_total{reason="idle_timeout"}'),
    0,
  );
  assert.match(body, /^# TYPE framewire_connections_closed_total counter$/m);
  assert.equal(
    body.match(/# TYPE framewire_connections_closed_total/g)!.length,
    1,
  );
  await client.close();
  await server.close();
});

test("sumStats adds the counters of several servers", () => {
  const a = new Server().stats();
  const b = { ...a, framesIn: 5, connections: 2 };
  const c = { ...a, framesIn: 7, connections: 1 };
  const total = sumStats([b, c]);
  assert.equal(total.framesIn, 12);
  assert.equal(total.connections, 3);
  assert.throws(() => sumStats([]), RangeError);
});
