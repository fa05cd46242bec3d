import { test } from "node:test";
import assert from "node:assert/strict";
import { LatencyHistogram } from "../src/latency_histogram.ts";
import { seededRandom } from "./_helpers.ts";

test("histogram: small values are exact", () => {
  const h = new LatencyHistogram();
  for (let v = 0; v < 64; v++) h.record(v);
  assert.equal(h.count, 64);
  assert.equal(h.percentile(50), 31);
  assert.equal(h.percentile(100), 63);
  assert.equal(h.min, 0);
  assert.equal(h.max, 63);
  assert.equal(h.mean, 31.5);
});

test("histogram: percentiles of random samples stay within 1.6% of the exact ones", () => {
  const random = seededRandom(3);
  const samples = Array.from(
    { length: 50_000 },
    () => Math.floor(10 ** (1 + random() * 5)),
  );
  const h = new LatencyHistogram();
  for (const s of samples) h.record(s);
  const sorted = [...samples].sort((a, b) => a - b);
  for (const p of [50, 90, 99, 99.9]) {
    const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1];
    const got = h.percentile(p);
    assert.ok(
      got >= exact && got <= exact * 1.016 + 1,
      `p${p}: ${got} vs exact ${exact}`,
    );
  }
  assert.equal(h.max, sorted.at(-1));
});

test("histogram: merge and reset", () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  a.record(10);
  b.record(1000);
  a.merge(b);
  assert.equal(a.count, 2);
  assert.equal(a.max, 1000);
  assert.equal(a.min, 10);
  a.reset();
  assert.equal(a.count, 0);
  assert.equal(a.percentile(50), 0);
});

test("histogram: toJSON and fromJSON carry every sample to another process", () => {
  const random = seededRandom(7);
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  for (let i = 0; i < 5_000; i++) {
    a.record(Math.floor(10 ** (random() * 6)));
    b.record(Math.floor(10 ** (random() * 3)));
  }
  const copy = LatencyHistogram.fromJSON(
    JSON.parse(JSON.stringify(a)),
  );
  for (const p of [0, 25, 50, 90, 99, 99.9, 100]) {
    assert.equal(copy.percentile(p), a.percentile(p), `p${p}`);
  }
  assert.equal(copy.count, a.count);
  assert.equal(copy.min, a.min);
  assert.equal(copy.max, a.max);
  assert.equal(copy.mean, a.mean);
  // Merging snapshots equals merging the histograms themselves.
  const merged = LatencyHistogram.fromJSON(a.toJSON());
  merged.merge(LatencyHistogram.fromJSON(b.toJSON()));
  const direct = new LatencyHistogram();
  direct.merge(a);
  direct.merge(b);
  assert.deepEqual(merged.toJSON(), direct.toJSON());
  const empty = LatencyHistogram.fromJSON(new LatencyHistogram().toJSON());
  assert.equal(empty.count, 0);
  assert.equal(empty.min, 0);
  empty.record(5);
  assert.equal(empty.min, 5);
});

test("histogram: fromJSON refuses what toJSON cannot have made", () => {
  const good = new LatencyHistogram();
  good.record(100);
  const snapshot = good.toJSON();
  for (
    const bad of [
      null,
      {},
      { ...snapshot, count: 2 },
      { ...snapshot, buckets: [[-1, 1]] },
      { ...snapshot, buckets: [[1e9, 1]] },
      { ...snapshot, buckets: [["7", 1]] },
      { ...snapshot, sum: -1 },
    ]
  ) {
    assert.throws(
      () => LatencyHistogram.fromJSON(bad as never),
      (error: unknown) =>
        error instanceof TypeError &&
        /^Cannot read latency histogram: /.test(error.message),
      JSON.stringify(bad),
    );
  }
});
