/**
 * Codec microbenchmarks: decode and encode throughput of framewire beside the
 * npm framing libraries it-length-prefixed, length-prefixed-stream and
 * frame-stream, for 16 B, 1 KiB, 64 KiB, 8 MiB and 32 MiB frames, decoded from
 * 64 KiB chunks. Timed with mitata's `measure()`. The same file runs on every
 * runtime:
 *
 *   deno run -A bench/codec.ts [--json] [--time-ms 300] [--samples 5]
 *                              [--filter REGEX | --case NAME] [--list]
 *   bun run bench/codec.ts [...]
 *   node build/bench/codec.js [...]     (transpiled: see bench/codec_all.ts)
 *
 * Every case is run once before it is timed and its output compared with the
 * expected frames or wire bytes; every timed iteration also checks its frame
 * and byte counts, so a broken codec cannot report a fast time. Throughput is
 * payload bytes (MB = 10^6 bytes) and frames over mitata's median time per
 * iteration. `--json` prints one JSON object on stdout (progress on stderr).
 * `--filter` selects cases by a regular expression on their names
 * ("decode 16 B framewire"), `--case` one case by its exact name, and
 * `--list` prints the selected names as a JSON array.
 * `deno task bench:codec` runs it on all three runtimes and writes
 * bench/results/codec.md and codec.json.
 *
 * @module
 */
import process from "node:process";
import { measure } from "mitata";
import {
  buildFrameSet,
  bytesEqual,
  CHUNK_SIZE,
  FRAME_SIZES,
  type FrameSet,
  type FrameSize,
} from "./_codec_data.ts";
import { CASES, type CodecCase, type Frame } from "./_codec_cases.ts";

/** One measured case, as printed with `--json`. */
export interface CodecResult {
  library: string;
  operation: "decode" | "encode";
  /** Length prefix of the wire format: u32le, varint or u32be. */
  prefix: string;
  /** An extra row (Web Streams shell, one call per frame) rather than the main comparison. */
  extra: boolean;
  size: string;
  payloadSize: number;
  frames: number;
  payloadBytes: number;
  wireBytes: number;
  /** Timed iterations (mitata samples). */
  samples: number;
  /** Nanoseconds per iteration. */
  ns: { p50: number; avg: number; min: number; max: number };
  /** Payload MB/s (10^6 bytes) at the median time. */
  mbPerSec: number;
  /** Payload MB/s at the mean time. */
  mbPerSecAvg: number;
  framesPerSec: number;
  /** Median nanoseconds per payload byte. */
  nsPerByte: number;
  /**
   * With bench/codec_all.ts `--rounds N`: each round's MB/s in round order
   * (null for a round that failed); this result is the median round's.
   */
  rounds?: (number | null)[];
}

/** The output of one run, as printed with `--json`. */
export interface CodecReport {
  runtime: { name: string; version: string };
  arch: string;
  options: { minCpuTimeMs: number; minSamples: number; chunkSize: number };
  results: CodecResult[];
}

function flag(name: string): string | undefined {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i === -1 ? undefined : args[i + 1];
}

const json = process.argv.includes("--json");
const minCpuTimeMs = Number(flag("time-ms") ?? 300);
const minSamples = Number(flag("samples") ?? 5);
const filter = new RegExp(flag("filter") ?? "");
const only = flag("case");
/** A case whose checked run took longer than this is timed over 3 samples. */
const SLOW_NS = 500e6;

const log = json
  ? (line: string) => process.stderr.write(line + "\n")
  : (line: string) => console.log(line);

function runtime(): { name: string; version: string } {
  const versions = process.versions as Record<string, string | undefined>;
  if (versions.deno) return { name: "deno", version: versions.deno };
  if (versions.bun) return { name: "bun", version: versions.bun };
  return { name: "node", version: versions.node ?? "unknown" };
}

/** A case's name: operation, frame size and library, such as "decode 16 B framewire". */
const nameOf = (c: CodecCase, size: FrameSize) =>
  `${c.operation} ${size.label} ${c.library}`;
const caseName = (c: CodecCase, set: FrameSet) => nameOf(c, set.size);
const selected = (c: CodecCase, size: FrameSize) =>
  (c.maxSize === undefined || size.size <= c.maxSize) &&
  (only === undefined
    ? filter.test(nameOf(c, size))
    : nameOf(c, size) === only);

/** How the checked run of a case went. */
interface Checked {
  /** Nanoseconds the checked run took. */
  ns: number;
  /** Whether the case returns a promise. */
  isAsync: boolean;
}

/** Runs a case once, comparing every frame or byte with what is expected. */
async function check(c: CodecCase, set: FrameSet): Promise<Checked> {
  const input = c.prepare(set);
  const started = performance.now();
  let result: void | Promise<void>;
  if (input.decode || input.decodeRanges) {
    let index = 0;
    let bad = -1;
    const onFrame = (frame: Frame) => {
      const expected = set.payloads[index];
      if (
        bad === -1 &&
        (expected === undefined || !bytesEqual(frame.subarray(), expected))
      ) bad = index;
      index++;
    };
    result = input.decode
      ? input.decode(onFrame)
      : input.decodeRanges!((bytes, start, end) =>
        onFrame(bytes.subarray(start, end))
      );
    await result;
    if (bad !== -1 || index !== set.payloads.length) {
      throw new Error(
        `Cannot benchmark ${
          caseName(c, set)
        }: frame ${bad} of ${index} decoded wrong`,
      );
    }
  } else {
    const parts: Uint8Array[] = [];
    result = input.encode!((bytes) => parts.push(bytes.slice()));
    await result;
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    if (!bytesEqual(out, set.wire[c.prefix])) {
      throw new Error(
        `Cannot benchmark ${
          caseName(c, set)
        }: encoded bytes differ from the ${c.prefix} wire format`,
      );
    }
  }
  return {
    ns: (performance.now() - started) * 1e6,
    isAsync: result instanceof Promise,
  };
}

/**
 * The function mitata times: one iteration, which throws unless it produced
 * every frame (decode) and every wire byte (encode).
 */
function timed(
  c: CodecCase,
  set: FrameSet,
  isAsync: boolean,
): () => void | Promise<void> {
  const input = c.prepare(set);
  const expectedFrames = set.payloads.length;
  const decodes = input.encode === undefined;
  const expectedBytes = decodes ? set.payloadBytes : set.wire[c.prefix].length;
  let count = 0;
  let bytes = 0;
  const onItem = (item: { byteLength: number }) => {
    count++;
    bytes += item.byteLength;
  };
  // A range decoder's consumer gets where each frame lies, and counts it.
  const onRange = (_bytes: Uint8Array, start: number, end: number) => {
    count++;
    bytes += end - start;
  };
  const verify = () => {
    if (bytes !== expectedBytes || (decodes && count !== expectedFrames)) {
      throw new Error(
        `Cannot benchmark ${caseName(c, set)}: ${count} items, ${bytes} bytes`,
      );
    }
  };
  const decodeRanges = input.decodeRanges;
  const run = decodeRanges
    ? () => decodeRanges(onRange)
    : input.decode ?? input.encode!;
  if (isAsync) {
    return async () => {
      count = 0;
      bytes = 0;
      await run(onItem);
      verify();
    };
  }
  return () => {
    count = 0;
    bytes = 0;
    run(onItem);
    verify();
  };
}

async function main(): Promise<void> {
  if (process.argv.includes("--list")) {
    const names = FRAME_SIZES.flatMap((size) =>
      CASES.filter((c) => selected(c, size)).map((c) => nameOf(c, size))
    );
    process.stdout.write(JSON.stringify(names) + "\n");
    return;
  }
  const results: CodecResult[] = [];
  const rt = runtime();
  if (only === undefined) {
    log(
      `framewire codec benchmarks on ${rt.name} ${rt.version}: median of at least ` +
        `${minSamples} samples and ${minCpuTimeMs} ms per case`,
    );
  }
  for (const size of FRAME_SIZES) {
    const cases = CASES.filter((c) => selected(c, size));
    if (cases.length === 0) continue;
    const set = buildFrameSet(size);
    for (const c of cases) {
      const checked = await check(c, set);
      const stats = await measure(timed(c, set, checked.isAsync), {
        min_samples: checked.ns > SLOW_NS ? 3 : minSamples,
        min_cpu_time: minCpuTimeMs * 1e6,
      });
      const result: CodecResult = {
        library: c.library,
        operation: c.operation,
        prefix: c.prefix,
        extra: c.extra,
        size: size.label,
        payloadSize: size.size,
        frames: size.frames,
        payloadBytes: set.payloadBytes,
        wireBytes: set.wire[c.prefix].length,
        samples: stats.samples.length,
        ns: { p50: stats.p50, avg: stats.avg, min: stats.min, max: stats.max },
        mbPerSec: (set.payloadBytes * 1e3) / stats.p50,
        mbPerSecAvg: (set.payloadBytes * 1e3) / stats.avg,
        framesPerSec: (size.frames * 1e9) / stats.p50,
        nsPerByte: stats.p50 / set.payloadBytes,
      };
      results.push(result);
      log(
        `${c.operation.padEnd(6)} ${size.label.padStart(6)}  ${
          c.library.padEnd(52)
        } ${(stats.p50 / 1e6).toFixed(3).padStart(10)} ms  ${
          result.mbPerSec.toFixed(0).padStart(6)
        } MB/s  ${
          Math.round(result.framesPerSec).toLocaleString("en-US").padStart(12)
        } frames/s  (${result.samples} samples)`,
      );
    }
  }
  if (json) {
    const report: CodecReport = {
      runtime: rt,
      arch: `${process.arch}-${process.platform}`,
      options: { minCpuTimeMs, minSamples, chunkSize: CHUNK_SIZE },
      results,
    };
    process.stdout.write(JSON.stringify(report) + "\n");
  }
}

await main();
