/**
 * `imagewatch once` end to end: a config file on disk, the simulator on 127.0.0.1:0, the command's
 * stdout/stderr captured.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { onceCommand } from "../../src/cli/once.js";
import { ownsServer } from "../../src/domain/sharding.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { captureContext } from "../helpers/command-context.js";

const P = "0123456789abcdef0123456789abcdef";
const Q = "fedcba9876543210fedcba9876543210";

async function startSim(t: TestContext): Promise<{ sim: Simulator; url: string }> {
  const sim = createSimulator();
  const { url } = await sim.start();
  t.after(() => sim.stop());
  sim.addServer(P, {
    id: "srv-a",
    name: "build-a",
    status: "BUILDING",
    update_time: "2026-11-27T09:00:00.000Z",
  });
  sim.addServer(P, { id: "srv-b", name: "build-b", status: "null", update_time: "2026-11-27 09:30:00" });
  sim.addServer(P, { id: "srv-c", name: "other-c", status: "ACTIVE", update_time: "2026-11-27T08:00:00Z" });
  sim.addServer(Q, { id: "srv-q", name: "q-server-with-a-long-name", status: "BUILT" });
  return { sim, url };
}

function writeConfig(t: TestContext, url: string, extra: string, targets: string): string {
  const dir = mkdtempSync(join(tmpdir(), "imagewatch-once-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "imagewatch.yaml");
  writeFileSync(
    file,
    `cloud:
  region: cn-north-4
  endpoint: ${url}
  iamEndpoint: ${url}
  auth:
    kind: aksk
    accessKey: \${AK}
    secretKey: \${SK}
  retry: { attempts: 2, minDelay: 10ms, maxDelay: 50ms }
  requestTimeout: 2s
targets:
${targets}
log:
  level: warn
${extra}`,
  );
  return file;
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { ctx, out, err } = captureContext(args, {
    env: { AK: "DEMOACCESSKEY0000001", SK: "demo-secret-key-0000000000000000000000000" },
  });
  const code = await onceCommand.run(ctx);
  return { code, stdout: out(), stderr: err() };
}

const TARGETS = `  - projectId: "${P}"
    serverIds: [srv-a, srv-c, srv-gone]
  - projectId: "${P}"
    discover: true
    serverName: build-
  - projectId: "${Q}"
    discover: true`;

describe("imagewatch once", () => {
  it("prints an aligned table of every target's servers and exits 0", async (t) => {
    const { sim, url } = await startSim(t);
    const file = writeConfig(t, url, "", TARGETS);
    const { code, stdout, stderr } = await run(["-c", file]);
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^PROJECT\s+SERVER ID\s+NAME\s+STATUS\s+STATUS SINCE\s+UPDATE TIME$/);
    assert.equal(lines.length, 5, stdout);
    // Columns line up: STATUS starts at the same offset on every line.
    const col = (lines[0] ?? "").indexOf("STATUS");
    const rows = lines.slice(1);
    assert.deepEqual(
      rows.map((l) => l.slice(col).split(/\s+/)[0]),
      ["BUILDING", "UNKNOWN", "ACTIVE", "BUILT"],
    );
    assert.ok(rows[0]?.includes("srv-a") && rows[0].includes("2026-11-27T09:00:00Z  2026-11-27T09:00:00Z"));
    assert.ok(rows[1]?.includes("2026-11-27T09:30:00Z"), "zone-less update_time read as UTC");
    // srv-a was both configured and discovered: printed once; srv-gone is a warning, not a failure.
    assert.equal(stdout.split("srv-a").length - 1, 1);
    assert.match(
      stderr,
      /warning: project 0123456789abcdef0123456789abcdef server srv-gone: not found \(request id [0-9a-f]+\)/,
    );
    assert.equal(sim.counts().byAuth.aksk, sim.counts().total);
  });

  it("--json prints an array of objects", async (t) => {
    const { url } = await startSim(t);
    const file = writeConfig(t, url, "", TARGETS);
    const { code, stdout } = await run(["-c", file, "--json"]);
    assert.equal(code, 0);
    const rows = JSON.parse(stdout) as Record<string, unknown>[];
    assert.deepEqual(
      rows.map((r) => r.server_id),
      ["srv-a", "srv-b", "srv-c", "srv-q"],
    );
    assert.deepEqual(rows[0], {
      project_id: P,
      server_id: "srv-a",
      name: "build-a",
      status: "BUILDING",
      status_since: "2026-11-27T09:00:00.000Z",
      update_time: "2026-11-27T09:00:00.000Z",
    });
  });

  it("exits 1 and reports code, message and request id of each failed poll on stderr", async (t) => {
    const { sim, url } = await startSim(t);
    const file = writeConfig(t, url, "", TARGETS);
    sim.injectFault({ route: "list", projectId: Q, status: 503, count: 5 });
    sim.injectFault({ route: "get", serverId: "srv-c", status: 400, count: 5 });
    const { code, stdout, stderr } = await run(["-c", file]);
    assert.equal(code, 1);
    assert.match(
      stderr,
      /error: CLOUD_HTTP_5XX project fedcba9876543210fedcba9876543210 \(list\): .*HTTP 503.*\(request id [0-9a-f]{32}\)/,
    );
    assert.match(
      stderr,
      /error: CLOUD_HTTP_4XX project 0123456789abcdef0123456789abcdef server srv-c: .*HTTP 400.*\(request id [0-9a-f]{32}\)/,
    );
    assert.ok(stdout.includes("srv-a"), "the servers that answered are still printed");
    assert.ok(!stderr.includes("demo-secret-key"), "no secret on stderr");
  });

  it("polls only the servers of its shard", async (t) => {
    const { url } = await startSim(t);
    const file = writeConfig(t, url, "sharding: { count: 2, index: 1 }\n", TARGETS);
    const { code, stdout } = await run(["-c", file, "--json"]);
    assert.equal(code, 0);
    const expected = ["srv-a", "srv-b", "srv-c", "srv-q"].filter((id) =>
      ownsServer(id, { count: 2, index: 1 }),
    );
    assert.ok(expected.length > 0 && expected.length < 4, "the shard owns a proper subset");
    assert.deepEqual(
      (JSON.parse(stdout) as { server_id: string }[]).map((r) => r.server_id),
      expected,
    );
  });

  it("exits 78 with the config errors on stderr", async (t) => {
    const { url } = await startSim(t);
    const file = writeConfig(t, url, "bogusKey: 1\n", TARGETS);
    const { code, stdout, stderr } = await run(["-c", file]);
    assert.equal(code, 78);
    assert.equal(stdout, "");
    assert.match(stderr, /^error: .*bogusKey/m);
  });

  it("a missing config file is a config error too", async () => {
    const { code, stderr } = await run(["-c", join(tmpdir(), "imagewatch-no-such-dir", "x.yaml")]);
    assert.equal(code, 78);
    assert.match(stderr, /cannot read config file/);
  });
});
