// framewire's server benchmark suite: framewire on Deno, Bun and Node beside
// a minimal hand-written echo loop for each runtime (bench/loops/, the
// per-runtime ceiling) and, when present, the C reference server, all driven
// by the same load generator, in interleaved rounds, reported as medians.
//
//   deno task bench [--rounds 3] [--seconds 5] [--only NAME,...]
//                   [--scenarios ID,...] [--tools DIR]
//
// Scenarios (ids for --scenarios): lat1, c50, c50p32, big, idle, burst (a
// burst of 10,000 connects, one request each), churn (50 clients that
// connect, make one request and close, over and over) and active (10,000
// connections with one request in flight each).
//
// Load generator: lpload (a C load generator) from --tools DIR, $FW_TOOLS,
// or built from ../shared/tools when that folder is beside the checkout;
// without it, framewire's own `bench` (the idle scenario then needs lpload
// and is skipped). framewire on Node runs from the npm build: run
// `deno task build:npm` first. Everything targets 127.0.0.1 and stops by itself.
// Writes bench/results/latest.json and bench/results/latest.md.

import {
  exists,
  findTools,
  flag,
  median,
  root,
  type ServerSpec,
  start,
  stop,
} from "./_bench_servers.ts";

const rounds = Number(flag("rounds") ?? 3);
const seconds = Number(flag("seconds") ?? 5);
const only = flag("only")?.split(",");
const chosenScenarios = flag("scenarios")?.split(",");
const PORT = 7650;

function serverSpecs(
  tools: string | null,
  haveNodeBuild: boolean,
): ServerSpec[] {
  const port = String(PORT);
  const serve = ["serve", "--host", "127.0.0.1", "--port", port];
  const specs: ServerSpec[] = [
    {
      name: "framewire deno",
      command: "deno",
      args: ["run", "-A", `${root}mod.ts`, ...serve],
    },
    {
      // The same command with the Deno adapter for plain TCP too, the
      // default before it was measured against node:net under Deno.
      name: "framewire deno (Deno.listen)",
      command: "deno",
      args: ["run", "-A", `${root}bench/_deno_adapter_serve.ts`, ...serve],
    },
    {
      name: "framewire bun",
      command: "bun",
      args: ["run", `${root}src/bun_main.ts`, ...serve],
    },
    {
      name: "framewire node",
      command: "node",
      args: [`${root}npm/esm/src/node_main.js`, ...serve],
    },
    {
      name: "loop deno",
      command: "deno",
      args: ["run", "-A", `${root}bench/loops/deno_echo.ts`, port],
    },
    {
      name: "loop bun",
      command: "bun",
      args: ["run", `${root}bench/loops/bun_echo.ts`, port],
    },
    {
      name: "loop node",
      command: "node",
      args: [`${root}bench/loops/node_echo.mjs`, port],
    },
  ];
  if (tools) {
    specs.push({
      name: "C refserver",
      command: `${tools}/refserver`,
      args: ["--epoll", port],
    });
  }
  return specs.filter((s) =>
    (haveNodeBuild || s.name !== "framewire node") &&
    (only === undefined || only.some((o) => s.name.includes(o)))
  );
}

interface Scenario {
  id: string;
  label: string;
  /** Load generator arguments; lpload and framewire's bench take the same ones. */
  args: (serverPid: number) => string[];
  /** Only lpload can run it (it reads the server's memory). */
  lploadOnly?: boolean;
}

const duration = ["-d", String(seconds)];
const allScenarios: Scenario[] = [
  {
    id: "lat1",
    label: "1 conn, unpipelined",
    args: () => ["-c", "1", "-P", "1", ...duration],
  },
  {
    id: "c50",
    label: "50 conns, unpipelined",
    args: () => ["-c", "50", "-P", "1", ...duration],
  },
  {
    id: "c50p32",
    label: "50 x 32 pipelined",
    args: () => ["-c", "50", "-P", "32", ...duration],
  },
  {
    id: "big",
    label: "32 MiB frames",
    args: () => ["-c", "1", "-s", "32m", "-n", "20"],
  },
  {
    id: "idle",
    label: "10,000 idle conns",
    args: (
      pid,
    ) => [
      "-c",
      "10000",
      "--idle",
      "-d",
      "3",
      "--src-ips",
      "4",
      "--server-pid",
      String(pid),
    ],
    lploadOnly: true,
  },
  {
    id: "burst",
    label: "burst of 10,000 connects",
    args: () => [
      "-c",
      "10000",
      "-P",
      "1",
      "-n",
      "10000",
      "-w",
      "0",
      "-d",
      "30",
      "--src-ips",
      "4",
    ],
    lploadOnly: true,
  },
  {
    id: "churn",
    label: "churn, 50 clients",
    args: () => ["-c", "50", "--churn", ...duration, "--src-ips", "8"],
    lploadOnly: true,
  },
  {
    id: "active",
    label: "10,000 active conns",
    args: () => [
      "-c",
      "10000",
      "-P",
      "1",
      "-d",
      String(Math.min(seconds, 4)),
      "--src-ips",
      "4",
    ],
    lploadOnly: true,
  },
];
const scenarios = allScenarios.filter((s) =>
  chosenScenarios?.includes(s.id) ?? true
);

interface Sample {
  rps?: number;
  p50?: number;
  p99?: number;
  max?: number;
  mbps?: number;
  bytesPerConn?: number;
  connected?: number;
  errors: number;
}

async function measure(
  tools: string | null,
  scenario: Scenario,
  pid: number,
): Promise<Sample | null> {
  const common = ["-p", String(PORT), "--verify", "--json"];
  let command: string;
  let args: string[];
  if (tools) {
    command = `${tools}/lpload`;
    args = [...scenario.args(pid), ...common];
  } else if (!scenario.lploadOnly) {
    command = "deno";
    args = [
      "run",
      "-A",
      `${root}mod.ts`,
      "bench",
      ...scenario.args(pid),
      "--port",
      String(PORT),
      "--verify",
      "--json",
    ];
  } else {
    return null;
  }
  const out = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "null",
  }).output();
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ??
    "{}";
  const r = JSON.parse(line);
  if (tools) {
    const errors = r.errors?.total ?? 0;
    if (r.mode === "idle") {
      return {
        bytesPerConn: r.server_bytes_per_conn,
        connected: r.first_ok,
        errors,
      };
    }
    return {
      rps: r.rps,
      p50: r.lat_us?.p50,
      p99: r.lat_us?.p99,
      max: r.lat_us?.max,
      mbps: r.rx_MBps,
      connected: r.connected,
      errors,
    };
  }
  return {
    rps: r.requestsPerSecond,
    p50: r.latencyUs?.p50,
    mbps: r.receivedMBps,
    errors: r.errorCount,
  };
}

const tools = await findTools(flag("tools"));
const haveNodeBuild = await exists(`${root}npm/esm/src/node_main.js`);
if (!haveNodeBuild) {
  console.error("framewire on Node skipped: run `deno task build:npm` first");
}
const servers = serverSpecs(tools, haveNodeBuild);
console.error(
  `load generator: ${
    tools ? `lpload (${tools})` : "framewire bench"
  }; ${servers.length} servers, ${rounds} rounds`,
);
const samples: Record<string, Record<string, Sample[]>> = {};
for (let round = 1; round <= rounds; round++) {
  for (const scenario of scenarios) {
    for (const spec of servers) {
      const server = await start(spec);
      let sample: Sample | null = null;
      try {
        sample = await measure(tools, scenario, server.pid);
      } finally {
        await stop(server);
      }
      if (sample === null) continue;
      ((samples[scenario.id] ??= {})[spec.name] ??= []).push(sample);
      console.error(
        `round ${round} ${scenario.id} ${spec.name}: ${JSON.stringify(sample)}`,
      );
    }
  }
}

type Summary = Record<string, Record<string, Record<string, number>>>;
const summary: Summary = {};
for (const [scenario, byServer] of Object.entries(samples)) {
  for (const [server, list] of Object.entries(byServer)) {
    const pick = (k: keyof Sample) => median(list.map((s) => s[k] as number));
    (summary[scenario] ??= {})[server] = {
      rps: pick("rps"),
      p50: pick("p50"),
      p99: pick("p99"),
      max: pick("max"),
      mbps: pick("mbps"),
      bytesPerConn: pick("bytesPerConn"),
      connected: pick("connected"),
      errors: list.reduce((n, s) => n + s.errors, 0),
    };
  }
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits })
    : "-";
const cell = (scenario: string, server: string) => {
  const s = summary[scenario]?.[server];
  if (!s) return "-";
  const errors = s.errors > 0 ? ` (${s.errors} errors)` : "";
  switch (scenario) {
    case "lat1":
      return `${fmt(s.p50, 1)} us (${fmt(s.rps)} req/s)${errors}`;
    case "big":
      return `${fmt(s.mbps)} MB/s${errors}`;
    case "idle":
      return `${fmt(s.bytesPerConn)} B/conn, ${
        fmt(s.connected)
      }/10,000 answered${errors}`;
    case "burst":
      return `${fmt(s.rps)} conn/s, p50 ${fmt(s.p50 / 1000)} ms${errors}`;
    case "churn":
      return `${fmt(s.rps)} conn/s, p50 ${fmt(s.p50 / 1000, 1)} ms, p99 ${
        fmt(s.p99 / 1000, 1)
      } ms${errors}`;
    case "active":
      return `${fmt(s.rps)} req/s, p99 ${fmt(s.p99 / 1000)} ms, max ${
        fmt(s.max / 1000)
      } ms${errors}`;
    default:
      return `${fmt(s.rps)} req/s${errors}`;
  }
};
const date = new Date().toISOString().slice(0, 10);
const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => "")).match(
  /model name\s*:\s*(.*)/,
)?.[1] ??
  "unknown CPU";
const lines = [
  `Measured ${date} on ${navigator.hardwareConcurrency} cores (${cpu}), Linux; server and load generator share the cores.`,
  `Load generator: ${
    tools ? "lpload" : "framewire bench"
  }; median of ${rounds} interleaved rounds of ${seconds} s; 16-byte payloads unless noted; every response verified.`,
  "",
  `| server | ${scenarios.map((s) => s.label).join(" | ")} |`,
  `| --- | ${scenarios.map(() => "---").join(" | ")} |`,
  ...servers.map((s) =>
    `| ${s.name} | ${scenarios.map((sc) => cell(sc.id, s.name)).join(" | ")} |`
  ),
];
const ratio = (
  a?: number,
  b?: number,
) => (a && b ? (a / b).toFixed(2) + "x" : "-");
const has = (id: string) => scenarios.some((s) => s.id === id);
const steady = ["lat1", "c50", "c50p32", "big"].filter(has);
const connecting = ["burst", "churn", "active"].filter(has);
const RATIO_LABELS: Record<string, string> = {
  lat1: "1 conn p50",
  c50: "50 x 1",
  c50p32: "50 x 32",
  big: "32 MiB",
  burst: "burst conn/s",
  churn: "churn conn/s",
  active: "10k active req/s | 10k active max latency",
};
// Higher is better for every ratio but latency, which is given as
// framewire's over the baseline's (lower is better).
const ratioCell = (id: string, fw: string, base: string) => {
  const a = summary[id]?.[fw];
  const b = summary[id]?.[base];
  switch (id) {
    case "lat1":
      return ratio(a?.p50, b?.p50);
    case "big":
      return ratio(a?.mbps, b?.mbps);
    case "active":
      return `${ratio(a?.rps, b?.rps)} | ${ratio(a?.max, b?.max)}`;
    default:
      return ratio(a?.rps, b?.rps);
  }
};
const framewires = servers.filter((s) => s.name.startsWith("framewire"));
for (const ids of [steady, connecting]) {
  if (ids.length === 0) continue;
  const labels = ids.map((id) => RATIO_LABELS[id]).join(" | ");
  const columns = labels.split(" | ").length;
  lines.push(
    "",
    `| framewire vs | ${labels} |`,
    `| --- | ${Array(columns).fill("---").join(" | ")} |`,
  );
  for (const fw of framewires) {
    const runtime = fw.name.split(" ")[1];
    for (const base of [`loop ${runtime}`, "C refserver"]) {
      if (!ids.some((id) => summary[id]?.[fw.name] && summary[id]?.[base])) {
        continue;
      }
      lines.push(
        `| ${fw.name} / ${base} | ${
          ids.map((id) => ratioCell(id, fw.name, base)).join(" | ")
        } |`,
      );
    }
  }
}
const markdown = lines.join("\n") + "\n";
await Deno.mkdir(`${root}bench/results`, { recursive: true });
await Deno.writeTextFile(
  `${root}bench/results/latest.json`,
  JSON.stringify(
    {
      date,
      rounds,
      seconds,
      loadGenerator: tools ? "lpload" : "framewire bench",
      summary,
      samples,
    },
    null,
    2,
  ) +
    "\n",
);
await Deno.writeTextFile(`${root}bench/results/latest.md`, markdown);
console.log(markdown);
