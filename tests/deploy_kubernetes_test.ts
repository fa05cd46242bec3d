// deploy/kubernetes/ against serve itself. No cluster runs here, so the
// manifests are parsed (the `yaml` package) and checked: the Deployment's
// args run as a real `serve` process (hosts and ports moved to free ones on
// 127.0.0.1), its probes' paths answer 200 on the port they name, its
// container ports are the ones serve listens on, the Services and the
// PodDisruptionBudget select the Deployment's pods, and the drain timing
// rule holds (docs/deploy.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { startServeProcess, stopServe } from "./_cli_process.ts";
import { freePort } from "./_peer_process.ts";
import { sourceExtension } from "./_runtime.ts";
import { connect } from "../src/adapters/auto.ts";
import { parseDuration } from "../src/cli/args.ts";

// deno-lint-ignore no-explicit-any
type Manifest = Record<string, any>;

// The repository's deploy/ (compiled for Node, this file lies in npm/esm/tests/).
const dir = new URL(
  sourceExtension === ".js"
    ? "../../../deploy/kubernetes/"
    : "../deploy/kubernetes/",
  import.meta.url,
);

/** Every object in `file` of deploy/kubernetes/. */
function manifests(file: string): Manifest[] {
  const text = readFileSync(new URL(file, dir), "utf8");
  return parseAllDocuments(text).map((document) => {
    assert.equal(document.errors.length, 0, `${file}: ${document.errors}`);
    return document.toJS() as Manifest;
  });
}

function one(file: string, kind: string): Manifest {
  const found = manifests(file).filter((m) => m.kind === kind);
  assert.equal(found.length, 1, `${file} holds one ${kind}`);
  return found[0];
}

const deployment = one("deployment.yaml", "Deployment");
const container = deployment.spec.template.spec.containers[0];
const args: string[] = container.args.map(String);

/** The value after `--name` in the container's args. */
function flag(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? undefined : args[i + 1];
}

/** Seconds of a serve duration flag (`5s`, `500ms`, `20`). */
const seconds = (name: string): number =>
  parseDuration(name, flag(name) ?? "0") / 1000;

/** The container port called `name` (or numbered so). */
function containerPort(name: string | number): number {
  const port = container.ports.find((p: Manifest) =>
    p.name === name || p.containerPort === name
  );
  assert.ok(port !== undefined, `the container has no port ${name}`);
  return port.containerPort;
}

test("kubernetes: the drain timing rule holds", () => {
  const readiness = container.readinessProbe;
  const drainDelay = seconds("drain-delay");
  const drainTimeout = seconds("drain-timeout");
  const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
  // Balancers that probe /readyz see the 503 before serve stops accepting.
  assert.ok(
    drainDelay >= readiness.periodSeconds * readiness.failureThreshold,
    `--drain-delay ${drainDelay} s is shorter than the readiness probe's ${readiness.periodSeconds} s x ${readiness.failureThreshold}`,
  );
  // The preStop sleep holds SIGTERM while the endpoint removal spreads, as
  // long as serve's own delay.
  assert.equal(preStop, drainDelay, "preStop sleeps --drain-delay");
  const grace = deployment.spec.template.spec.terminationGracePeriodSeconds;
  assert.ok(
    grace >= preStop + drainDelay + drainTimeout,
    `terminationGracePeriodSeconds ${grace} does not cover preStop ${preStop} + --drain-delay ${drainDelay} + --drain-timeout ${drainTimeout}`,
  );
  // A rolling update never takes a ready pod away before its successor.
  assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
});

test("kubernetes: the Services and the PodDisruptionBudget select the Deployment's pods and its port", () => {
  const labels = deployment.spec.template.metadata.labels;
  const selects = (selector: Record<string, string>) =>
    Object.entries(selector).every(([key, value]) => labels[key] === value);
  assert.ok(selects(deployment.spec.selector.matchLabels));
  const pdb = one("pdb.yaml", "PodDisruptionBudget");
  assert.ok(selects(pdb.spec.selector.matchLabels));
  for (const file of ["service.yaml", "service-proxy-protocol.yaml"]) {
    const service = one(file, "Service");
    assert.ok(selects(service.spec.selector), `${file} selects the pods`);
    for (const port of service.spec.ports) {
      assert.equal(
        containerPort(port.targetPort),
        Number(flag("port")),
        `${file} sends to serve's --port`,
      );
    }
  }
  // The PROXY protocol variant says so to its balancer.
  const proxied = one("service-proxy-protocol.yaml", "Service");
  assert.equal(
    proxied.metadata.annotations[
      "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"
    ],
    "*",
  );
});

test("kubernetes: the Deployment's args run serve, on its container ports, and its probes answer 200", async () => {
  assert.equal(args[0], "serve");
  const servePort = containerPort("framewire");
  const adminPort = containerPort("admin");
  assert.equal(Number(flag("port")), servePort, "--port is the framewire port");
  assert.equal(
    Number(flag("admin-port")),
    adminPort,
    "--admin-port is the admin port",
  );
  for (const probe of ["readinessProbe", "livenessProbe"]) {
    assert.equal(
      containerPort(container[probe].httpGet.port),
      adminPort,
      `${probe} asks the admin port`,
    );
  }
  // The same args on free loopback ports.
  const port = await freePort();
  const admin = await freePort();
  const local = args.slice(1).map((arg, i, all) => {
    const name = all[i - 1];
    if (name === "--host" || name === "--admin-host") return "127.0.0.1";
    if (name === "--port") return String(port);
    if (name === "--admin-port") return String(admin);
    if (name === "--drain-delay") return "0s"; // checked above; stops at once
    return arg;
  });
  const server = await startServeProcess(
    local,
    new RegExp(`listening on 127\\.0\\.0\\.1:${port}`, "i"),
  );
  try {
    for (const probe of ["readinessProbe", "livenessProbe"]) {
      const path = container[probe].httpGet.path;
      const response = await fetch(`http://127.0.0.1:${admin}${path}`);
      await response.body?.cancel();
      assert.equal(response.status, 200, `${probe} ${path}`);
    }
    await using client = await connect({ host: "127.0.0.1", port });
    const answer = await client.request(new TextEncoder().encode("k8s"));
    assert.equal(new TextDecoder().decode(answer), "k8s");
  } finally {
    assert.equal(await stopServe(server), 0, server.output());
  }
});
