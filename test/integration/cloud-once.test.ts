/**
 * `imagewatch once` end to end: a config file on disk, the simulator on 127.0.0.1:0, the command's
 * stdout/stderr captured.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { onceCommand, pollOnce, renderTable } from "../../src/cli/once.js";
import { createCloudClient } from "../../src/cloud/client.js";
import { loadConfig } from "../../src/config/load.js";
import { ownsServer } from "../../src/domain/sharding.js";
import { systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { captureContext } from "../helpers/command-context.js";
import { createWorld } from "../helpers/world.js";

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

const ENV = { AK: "DEMOACCESSKEY0000001", SK: "demo-secret-key-0000000000000000000000000" };

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { ctx, out, err } = captureContext(args, { env: ENV });
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
    assert.match(lines[0] ?? "", /^PROJECT\s+SERVER ID\s+NAME\s+STATUS\s+TIME IN STATUS\s+STUCK$/);
    assert.equal(lines.length, 5, stdout);
    // Columns line up: STATUS starts at the same offset on every line.
    const col = (lines[0] ?? "").indexOf("STATUS");
    const rows = lines.slice(1);
    assert.deepEqual(
      rows.map((l) => l.slice(col).split(/\s+/)[0]),
      ["BUILDING", "UNKNOWN", "ACTIVE", "BUILT"],
    );
    // BUILDING since 2026-11-27T09:00Z, days ago: above the default 60m threshold.
    assert.match(rows[0] ?? "", /srv-a .*BUILDING\s+\d+d \d+h\s+yes \(> 1h 0m\)$/);
    assert.match(rows[1] ?? "", /srv-b .*UNKNOWN\s+\d+d \d+h\s+-$/, "no threshold for UNKNOWN");
    // No update_time: the status starts now.
    assert.match(rows[3] ?? "", /srv-q .*BUILT\s+\d+s\s+-$/);
    assert.ok(!stdout.includes("UPDATE TIME") && !stdout.includes("2026-11-27"));
    // srv-a was both configured and discovered: printed once; srv-gone (absent from the list the
    // three ids cost less as) is a warning, not a failure.
    assert.equal(stdout.split("srv-a").length - 1, 1);
    assert.match(stderr, /warning: project 0123456789abcdef0123456789abcdef server srv-gone: not found$/m);
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
    const { time_in_status_seconds, ...rest } = rows[0] as { time_in_status_seconds: number };
    assert.deepEqual(rest, {
      project_id: P,
      server_id: "srv-a",
      name: "build-a",
      status: "BUILDING",
      status_since: "2026-11-27T09:00:00.000Z",
      update_time: "2026-11-27T09:00:00.000Z",
      stuck: true,
    });
    const sinceStart = (Date.now() - Date.parse("2026-11-27T09:00:00.000Z")) / 1000;
    assert.ok(Math.abs(time_in_status_seconds - sinceStart) < 60, String(time_in_status_seconds));
    assert.equal(rows[2]?.stuck, false, "ACTIVE has no threshold");
  });

  it("exits 1 and reports code, message and request id of each failed poll on stderr", async (t) => {
    const { sim, url } = await startSim(t);
    const file = writeConfig(t, url, "", `${TARGETS}\n  - projectId: "${P}"\n    serverIds: [srv-c]`);
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

  it("a failed list is an error with code, message and request id, never 'no image servers found'", async (t) => {
    const { sim, url } = await startSim(t);
    const file = writeConfig(t, url, "", `  - projectId: "${Q}"\n    discover: true`);
    sim.injectFault({ route: "list", projectId: Q, status: 503, count: 5 });
    const { code, stdout, stderr } = await run(["-c", file]);
    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.doesNotMatch(stderr, /no image servers found/);
    assert.match(
      stderr,
      /^error: CLOUD_HTTP_5XX project fedcba9876543210fedcba9876543210 \(list\): .*HTTP 503.*\(request id [0-9a-f]{32}\)$/m,
    );
  });

  it("says 'no image servers found' (exit 0) only when every call answered and none exist", async (t) => {
    const { sim, url } = await startSim(t);
    const empty = "00000000000000000000000000000000";
    sim.addProject(empty);
    const file = writeConfig(t, url, "", `  - projectId: "${empty}"\n    discover: true`);
    const { code, stdout, stderr } = await run(["-c", file]);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "");
    assert.match(stderr, /^no image servers found$/m);
  });

  it("a refused connection names host:port and exits 1", async (t) => {
    // A port nothing listens on: bind one, then close it.
    const { sim, url } = await startSim(t);
    await sim.stop();
    const { port } = new URL(url);
    const file = writeConfig(t, url, "", `  - projectId: "${Q}"\n    discover: true`);
    const { code, stderr } = await run(["-c", file]);
    assert.equal(code, 1);
    assert.doesNotMatch(stderr, /no image servers found/);
    assert.match(
      stderr,
      new RegExp(`^error: CLOUD_NETWORK project ${Q} \\(list\\): .*127\\.0\\.0\\.1:${port}`, "m"),
    );
  });

  it("time in status and stuck are measured from update_time to the poll, against stuck.thresholds", async (t) => {
    const { url } = await startSim(t);
    const file = writeConfig(t, url, "", `  - projectId: "${P}"\n    discover: true`);
    const now = Date.parse("2026-11-27T10:14:30.000Z");
    const { config } = loadConfig(file, ENV);
    const cloud = createCloudClient(config.cloud, { clock: systemClock, logger: createSilentLogger() });
    t.after(() => cloud.close());
    const result = await pollOnce(config, { cloudFor: () => cloud, now });
    assert.deepEqual(result.failures, []);
    assert.deepEqual(
      result.rows.map((r) => [r.server_id, r.time_in_status_seconds, r.stuck]),
      [
        ["srv-a", 74 * 60 + 30, true], // BUILDING 1h 14m 30s > 60m
        ["srv-b", 44 * 60 + 30, false], // UNKNOWN: no threshold
        ["srv-c", 2 * 3600 + 14 * 60 + 30, false], // ACTIVE: no threshold
      ],
    );
    const table = renderTable(result.rows, (status) => config.stuck.thresholds[status]);
    assert.deepEqual(table.split("\n"), [
      "SERVER ID  NAME     STATUS    TIME IN STATUS  STUCK",
      "srv-a      build-a  BUILDING  1h 14m          yes (> 1h 0m)",
      "srv-b      build-b  UNKNOWN   44m 30s         -",
      "srv-c      other-c  ACTIVE    2h 14m          -",
    ]);
  });

  describe("plans a tick exactly as the daemon's first poll does", () => {
    const cases: { name: string; target: string; extra?: string }[] = [
      // The old `once` fetched these one by one (3 GETs); the daemon lists once.
      {
        name: "ids with serverName (no effect: a warning)",
        target: `projectId: "${P}"\n    serverIds: [srv-a, srv-c, srv-x]\n    serverName: build-`,
      },
      { name: "one id: a GET", target: `projectId: "${P}"\n    serverIds: [srv-c]` },
      {
        name: "discover with a name filter",
        target: `projectId: "${P}"\n    discover: true\n    serverName: build-`,
      },
      {
        name: "ids, sharded",
        target: `projectId: "${P}"\n    serverIds: [srv-a, srv-b, srv-c, srv-x, srv-y]`,
        extra: "sharding: { count: 2, index: 0 }",
      },
      {
        name: "discover, sharded",
        target: `projectId: "${P}"\n    discover: true`,
        extra: "sharding: { count: 2, index: 1 }",
      },
    ];
    for (const c of cases) {
      it(c.name, async (t) => {
        // Server polling only: `once` does not watch jobs.
        const world = await createWorld({ target: `${c.target}\n    jobs: false`, extra: c.extra });
        t.after(async () => {
          await world.close();
          rmSync(world.dir, { recursive: true, force: true });
        });
        for (const [id, name, status] of [
          ["srv-a", "build-a", "BUILDING"],
          ["srv-b", "build-b", "ACTIVE"],
          ["srv-c", "other-c", "ACTIVE"],
          ["srv-d", "other-d", "ACTIVE"],
        ] as const) {
          world.sim.addServer(P, { id, name, status });
        }
        const calls = () =>
          world.sim.requests().map((r) => `${r.method} ${r.path} ${JSON.stringify(r.query)}`);

        const cloud = createCloudClient(world.config.cloud, {
          clock: world.clock,
          logger: createSilentLogger(),
        });
        t.after(() => cloud.close());
        world.sim.resetCounters();
        const once = await pollOnce(world.config, { cloudFor: () => cloud, now: world.clock.now() });
        const onceCalls = calls();
        assert.deepEqual(once.failures, []);

        world.sim.resetCounters();
        await world.poll(true);
        const pollCalls = calls();

        assert.ok(onceCalls.length > 0);
        assert.deepEqual(onceCalls.sort(), pollCalls.sort(), "the same API calls");
        const present = world.states.all().filter((s) => s.present);
        assert.deepEqual(
          once.rows.map((r) => r.server_id).sort(),
          present.map((s) => s.serverId).sort(),
          "the same servers",
        );
        assert.deepEqual(
          once.notFound.map((n) => n.serverId).sort(),
          world.states
            .all()
            .filter((s) => !s.present)
            .map((s) => s.serverId)
            .sort(),
          "the same servers not found",
        );
      });
    }
  });
});
