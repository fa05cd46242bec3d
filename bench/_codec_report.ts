/**
 * The markdown report of the codec microbenchmarks (bench/codec_all.ts):
 * throughput tables per operation, framewire's decode ratio over the fastest
 * npm peer, and ns per byte for large frames.
 *
 * @module
 */
import type { CodecReport, CodecResult } from "./codec.ts";
import type { Prefix } from "./_codec_data.ts";

/** The runtimes measured, in table order. */
export const RUNTIMES = ["deno", "bun", "node"] as const;
/** One of {@linkcode RUNTIMES}. */
export type Runtime = typeof RUNTIMES[number];
/** Column titles of the runtimes. */
export const TITLES: Record<Runtime, string> = {
  deno: "Deno",
  bun: "Bun",
  node: "Node",
};
/** Frame sizes at which framewire's decode must beat the fastest peer by {@linkcode TARGET_RATIO}. */
export const RATIO_SIZES = ["16 B", "1 KiB"];
/** The decode speed-up over the fastest npm peer that framewire aims for. */
export const TARGET_RATIO = 3;

/** The machine the benchmarks ran on. */
export interface Machine {
  cpu: string;
  cores: number;
  os: string;
  memoryBytes: number;
}

/** Everything the markdown report is made from. */
export interface ReportInput {
  machine: Machine;
  date: string;
  framewire: string;
  task: string;
  /** Runs per case and runtime; the median one is shown. */
  rounds: number;
  /** Each runtime's command for one case, with NAME for the case's name. */
  commands: Record<Runtime, string>;
  reports: Partial<Record<Runtime, CodecReport>>;
  errors: Partial<Record<Runtime, string>>;
}

const find = (
  report: CodecReport | undefined,
  operation: string,
  size: string,
  library: string,
) =>
  report?.results.find((r) =>
    r.operation === operation && r.size === size && r.library === library
  );

/** framewire's decoder in the varint format, against the varint peers. */
export const VARINT_LIBRARY = "framewire varint";

/** The extra row of framewire's view-free decoder, FrameRangeDecoder. */
export const RANGE_LIBRARY = "framewire FrameRangeDecoder (no view per frame)";

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * framewire's decode MB/s over the fastest npm peer's, at one frame size:
 * `ratio` divides the two rows shown (each the median of its own runs), and
 * `pairedRatio` is the median, over rounds, of framewire's MB/s in a round
 * over the fastest peer's in the same round (null with one round). The
 * peers are the main comparison's rows (not extra); `library` picks which
 * framewire row is divided, "framewire" (views handed out, the comparison)
 * by default.
 */
export function decodeRatio(
  report: CodecReport,
  size: string,
  library = "framewire",
  prefix?: Prefix,
) {
  const rows = report.results.filter((r) =>
    r.operation === "decode" && r.size === size
  );
  const framewire = rows.find((r) => r.library === library);
  const peers = rows.filter((r) =>
    !r.extra && r.library !== "framewire" &&
    (prefix === undefined || r.prefix === prefix)
  );
  if (framewire === undefined || peers.length === 0) return null;
  const fastest = peers.reduce((a, b) => (b.mbPerSec > a.mbPerSec ? b : a));
  const paired: number[] = [];
  const rounds = framewire.rounds ?? [];
  for (let i = 0; i < rounds.length; i++) {
    const mine = rounds[i];
    const theirs = peers.map((p) => p.rounds?.[i] ?? null);
    if (mine === null || theirs.includes(null)) continue;
    paired.push(mine / Math.max(...(theirs as number[])));
  }
  return {
    size,
    framewireMBps: framewire.mbPerSec,
    fastestPeer: fastest.library,
    fastestPeerMBps: fastest.mbPerSec,
    ratio: framewire.mbPerSec / fastest.mbPerSec,
    pairedRatio: paired.length > 1 ? median(paired) : null,
    pairedRounds: paired,
  };
}

const mbps = (r: CodecResult | undefined) =>
  r === undefined
    ? "-"
    : r.mbPerSec >= 100
    ? Math.round(r.mbPerSec).toLocaleString("en-US")
    : r.mbPerSec.toFixed(1);

function rate(r: CodecResult | undefined): string {
  if (r === undefined) return "-";
  const f = r.framesPerSec;
  if (f >= 1e6) return `${(f / 1e6).toFixed(2)} M`;
  if (f >= 1e3) return `${(f / 1e3).toFixed(1)} k`;
  return f.toFixed(1);
}

/** Renders the report as markdown. */
export function markdown(input: ReportInput): string {
  const { machine: info, date, framewire: commit, commands, reports, errors } =
    input;
  const present = RUNTIMES.filter((rt) => reports[rt] !== undefined);
  const any = reports[present[0]];
  const lines: string[] = [
    "# Codec microbenchmarks",
    "",
    `Measured ${date} on ${info.cpu} (${info.cores} cores), ${info.os}; ${
      present.map((rt) => `${TITLES[rt]} ${reports[rt]!.runtime.version}`)
        .join(", ")
    }; framewire ${commit}.`,
    "Each iteration decodes (or encodes) one set of frames of one size: 4 MiB of payload for 16 B, 1 KiB and 64 KiB frames, one frame of 8 MiB or 32 MiB.",
    "Decoders are fed the wire bytes of their own format in 64 KiB chunks (framewire: u32 LE prefix; it-length-prefixed, length-prefixed-stream: varint; frame-stream: u32 BE), all with a 32 MiB frame limit.",
    `Every case is checked frame by frame (decode) or byte by byte (encode) before it is timed, and every timed iteration checks its counts. MB/s = payload 10^6 bytes per second and frames/s at mitata's median time per iteration (\`measure()\`, at least ${
      any?.options.minSamples ?? "?"
    } samples and ${
      any?.options.minCpuTimeMs ?? "?"
    } ms per case, 3 samples for cases slower than 0.5 s). Each case runs in a fresh process, on Deno, Bun and Node in turn, one process at a time${
      input.rounds > 1
        ? `, ${input.rounds} times; the run with the median MB/s is shown`
        : ""
    }. Rows marked (extra) are framewire's Web Streams shells and other variants, outside the comparison.`,
    "",
    "Reading the numbers: it-length-prefixed decodes to `Uint8ArrayList` views without joining a frame's chunks, and it-length-prefixed, length-prefixed-stream and `FrameEncoderStream` (from 64 KiB) encode by passing payloads on by reference, so from 64 KiB up their MB/s only reflects per-frame overhead; the it-length-prefixed + subarray() row is the cost of getting a contiguous frame, as framewire hands out. framewire `encodeFrames` copies every frame into one buffer, ready for one write. frame-stream concatenates its buffered bytes with each chunk of a frame that spans chunks, so its time per byte grows with the frame size. Rows that produce a contiguous large frame allocate a frame-sized buffer per iteration, so they include the runtime's allocation cost: on Deno and Node each 32 MiB buffer is fresh memory (perf stat: about 8,900 minor page faults per iteration), which is most of the step in ns per byte from 8 MiB to 32 MiB; from 64 KiB to 8 MiB, and on Bun at 32 MiB, a process settles in a slow (fresh pages) or fast (reused memory) regime, so those rows can differ up to 5x between identical runs (`--rounds 3` keeps the median of three).",
    "",
  ];
  for (const rt of RUNTIMES) {
    if (errors[rt]) lines.push(`**${TITLES[rt]} failed:** ${errors[rt]}`, "");
  }
  const sizes = [...new Set(any?.results.map((r) => r.size) ?? [])];
  for (const operation of ["decode", "encode"]) {
    const libraries = [
      ...new Map(
        (any?.results ?? []).filter((r) => r.operation === operation)
          .map((r) => [r.library, r.extra]),
      ),
    ];
    lines.push(
      `## ${operation === "decode" ? "Decode" : "Encode"}`,
      "",
      `| frame size | library | ${
        present.map((rt) => `${TITLES[rt]} MB/s`).join(" | ")
      } | ${present.map((rt) => `${TITLES[rt]} frames/s`).join(" | ")} |`,
      `| --- | --- |${" ---: |".repeat(present.length * 2)}`,
    );
    for (const size of sizes) {
      for (const [library, extra] of libraries) {
        const cells = present.map((rt) =>
          find(reports[rt], operation, size, library)
        );
        if (cells.every((cell) => cell === undefined)) continue;
        lines.push(
          `| ${size} | ${library}${extra ? " (extra)" : ""} | ${
            cells.map(mbps).join(" | ")
          } | ${cells.map(rate).join(" | ")} |`,
        );
      }
    }
    lines.push("");
  }
  lines.push(
    `## framewire decode / fastest npm peer decode (target: at least ${TARGET_RATIO}x at 16 B and 1 KiB)`,
    "",
    "Ratio of the rows above (each the median of its runs) and, with several rounds, the median of each round's ratio (framewire over the fastest peer of the same round, run minutes apart at most), which this machine's drift between rounds moves less. The target is met when both reach it. The FrameRangeDecoder line is the extra row, which hands out no view per frame: it is not the comparison.",
    "",
  );
  const ratioText = (r: NonNullable<ReturnType<typeof decodeRatio>>) =>
    `${r.size} **${r.ratio.toFixed(2)}x**${
      r.pairedRatio === null
        ? ""
        : ` (paired ${r.pairedRatio.toFixed(2)}x: ${
          r.pairedRounds.map((x) => x.toFixed(2)).join(", ")
        })`
    } (${Math.round(r.framewireMBps)} vs ${r.fastestPeer} ${
      Math.round(r.fastestPeerMBps)
    } MB/s)`;
  for (const rt of present) {
    const found = RATIO_SIZES.map((size) => decodeRatio(reports[rt]!, size))
      .filter((r) => r !== null);
    if (found.length === 0) continue;
    const met = found.every((r) =>
      r.ratio >= TARGET_RATIO &&
      (r.pairedRatio === null || r.pairedRatio >= TARGET_RATIO)
    );
    lines.push(
      `- ${TITLES[rt]}: ${found.map(ratioText).join("; ")}: target ${
        met ? "met" : "NOT met"
      }${found.length < RATIO_SIZES.length ? " at the sizes measured" : ""}`,
    );
  }
  for (const rt of present) {
    const found = RATIO_SIZES.map((size) =>
      decodeRatio(reports[rt]!, size, VARINT_LIBRARY, "varint")
    ).filter((r) => r !== null);
    if (found.length === 0) continue;
    const met = found.every((r) =>
      r.ratio >= TARGET_RATIO &&
      (r.pairedRatio === null || r.pairedRatio >= TARGET_RATIO)
    );
    lines.push(
      `- ${TITLES[rt]}, ${VARINT_LIBRARY} / fastest varint peer: ${
        found.map(ratioText).join("; ")
      }: target ${met ? "met" : "NOT met"}`,
    );
  }
  for (const rt of present) {
    const found = RATIO_SIZES.map((size) =>
      decodeRatio(reports[rt]!, size, RANGE_LIBRARY)
    ).filter((r) => r !== null);
    if (found.length === 0) continue;
    lines.push(
      `- ${TITLES[rt]}, extra row ${RANGE_LIBRARY}: ${
        found.map(ratioText).join("; ")
      }`,
    );
  }
  lines.push(
    "",
    "## Linearity: median ns per payload byte",
    "",
    "| operation | library | runtime | 64 KiB | 8 MiB | 32 MiB | 32 MiB / 8 MiB |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: |",
  );
  for (const operation of ["decode", "encode"]) {
    const libraries = [
      ...new Set(
        (any?.results ?? []).filter((r) =>
          r.operation === operation && !r.extra
        ).map((r) => r.library),
      ),
    ];
    for (const library of libraries) {
      for (const rt of present) {
        const [k64, m8, m32] = ["64 KiB", "8 MiB", "32 MiB"].map((size) =>
          find(reports[rt], operation, size, library)
        );
        if (!k64 && !m8 && !m32) continue;
        const ns = (r?: CodecResult) =>
          r === undefined ? "-" : r.nsPerByte.toPrecision(3);
        const ratio = m8 && m32
          ? `${(m32.nsPerByte / m8.nsPerByte).toFixed(2)}x`
          : "-";
        lines.push(
          `| ${operation} | ${library} | ${TITLES[rt]} | ${ns(k64)} | ${
            ns(m8)
          } | ${ns(m32)} | ${ratio} |`,
        );
      }
    }
  }
  lines.push(
    "",
    "## Commands",
    "",
    "```sh",
    input.task,
    "# which lists the cases (deno run -A bench/codec.ts --list) and runs each",
    "# case NAME in turn on each runtime, one process at a time:",
    ...RUNTIMES.map((rt) => commands[rt]),
    "```",
    "",
    "The Node command runs a copy of bench/codec.ts and the framewire modules it imports, transpiled by bench/codec_all.ts with the TypeScript compiler (`npm:typescript`) into a temporary folder with a `node_modules` symlink to the repository's.",
    "",
  );
  return lines.join("\n");
}
