/**
 * The whole daemon in-process (createApp): simulator → cloud → poller → store → metrics/HTTP, scraped
 * and checked by Debian's promtool.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { request } from "undici";
import { type App, createApp } from "../../src/app.js";
import { loadConfig, parseConfigText } from "../../src/config/load.js";
import type { JobRecord } from "../../src/domain/observe-jobs.js";
import { createLogger, createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import type { Store } from "../../src/store/types.js";
import { waitFor } from "../helpers/daemon.js";
import { startProxy } from "../helpers/proxy.js";
import { startReceiver } from "../helpers/receiver.js";
import { makeEvent, makeJobRecord } from "../helpers/store-suite.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { configYaml, PROJECT } from "../helpers/world.js";

const STATUSES = ["CREATING", "ACTIVE", "BUILDING", "BUILT", "ERROR", "DELETING", "null", null, "MIGRATING"];

describe("the daemon in-process", () => {
  it("is ready only after the first poll, and its /metrics for 1,000 servers passes promtool", async (t) => {
    const sim = createSimulator();
    const { url: simUrl } = await sim.start();
    for (let i = 0; i < 1000; i++) {
      sim.addServer(PROJECT, {
        id: `srv-${String(i).padStart(5, "0")}`,
        name: i % 97 === 0 ? `odd "name" \\ ${i}` : `build-${i}`,
        status: STATUSES[i % STATUSES.length] ?? null,
        update_time: "-5m",
      });
    }
    const dir = makeTempDir(t, "imagewatch-app-");
    const loaded = parseConfigText(
      configYaml(simUrl, {
        statePath: join(dir, "state.db"),
        target: `{ projectId: ${PROJECT}, discover: true, jobs: false }`,
        extra: 'server: { listen: "127.0.0.1:0" }\nstuck: { BUILDING: 1m }',
      }),
      {},
      "app-test.yaml",
    );
    // Hold the first list call so readiness can be seen to wait for it.
    sim.injectFault({ route: "list", count: 1, delayMs: 1500 });
    const app = createApp(loaded, { logger: createSilentLogger(), env: {} });
    const { url } = await app.start();
    try {
      const early = await request(`${url}/-/ready`);
      await early.body.dump();
      assert.equal(early.statusCode, 503, "not ready before the first poll finished");
      await waitFor(async () => {
        const r = await request(`${url}/-/ready`);
        await r.body.dump();
        return r.statusCode === 200;
      }, "ready");
      const res = await request(`${url}/metrics`);
      const text = await res.body.text();
      assert.equal(res.statusCode, 200);
      assert.match(
        text,
        /^imagewatch_poll_requests_total\{project_id="0123456789abcdef0123456789abcdef",outcome="success"\} 10$/m,
      );
      assert.match(
        text,
        /^imagewatch_image_server_status\{project_id="[0-9a-f]+",server_id="srv-00008",status="MIGRATING"\} 1$/m,
      );
      assert.match(
        text,
        /^imagewatch_image_server_status\{project_id="[0-9a-f]+",server_id="srv-00006",status="UNKNOWN"\} 1$/m,
      );
      assert.match(
        text,
        /^imagewatch_image_server_stuck\{project_id="[0-9a-f]+",server_id="srv-00002"\} 1$/m,
      );
      assert.match(text, /^imagewatch_config_last_reload_successful 1$/m);
      assert.match(text, /^imagewatch_build_info\{version="[^"]+",node_version="v20\.[^"]+"\} 1$/m);
      assert.equal(text.match(/^imagewatch_image_server_info\{/gm)?.length, 1000);

      const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      if (check.error && !process.env.CI) return t.skip("promtool not installed");
      assert.equal(check.error, undefined);
      assert.equal(`${check.stdout}${check.stderr}`, "", "promtool reports nothing");
      assert.equal(check.status, 0);
    } finally {
      await app.stop();
      await sim.stop();
    }
  });

  it("forgets a target removed by a reload: its servers leave /api/v1/servers, /metrics and the database", async (t) => {
    const sim = createSimulator();
    const { url: simUrl } = await sim.start();
    const OTHER = "fedcba9876543210fedcba9876543210";
    sim.addServer(PROJECT, { id: "keep-1", name: "keep", status: "ACTIVE" });
    sim.addServer(OTHER, { id: "drop-1", name: "drop", status: "BUILDING" });
    const dir = makeTempDir(t, "imagewatch-reload-");
    const path = join(dir, "imagewatch.yaml");
    const write = (targets: string) =>
      writeFileSync(
        path,
        configYaml(simUrl, {
          statePath: join(dir, "state.db"),
          target: targets,
          extra: 'server: { listen: "127.0.0.1:0" }',
        }),
      );
    write(
      `{ projectId: ${PROJECT}, serverIds: [keep-1], jobs: false }\n  - { projectId: ${OTHER}, serverIds: [drop-1], jobs: false }`,
    );
    const app = createApp(loadConfig(path, {}), { logger: createSilentLogger(), env: {} });
    const { url } = await app.start();
    const servers = async () => {
      const r = await request(`${url}/api/v1/servers`);
      return ((await r.body.json()) as { servers: Array<{ server_id: string }> }).servers
        .map((x) => x.server_id)
        .sort();
    };
    const scrape = async () => await (await request(`${url}/metrics`)).body.text();
    try {
      await waitFor(async () => (await servers()).length === 2, "both servers polled");
      await waitFor(async () => (await scrape()).includes('server_id="drop-1"'), "drop-1 in /metrics");
      write(`{ projectId: ${PROJECT}, serverIds: [keep-1], jobs: false }`);
      assert.deepEqual(await app.reload(), { ok: true });
      assert.deepEqual(await servers(), ["keep-1"]);
      assert.ok(!(await scrape()).includes('server_id="drop-1"'), "its series left /metrics");
      assert.deepEqual(
        app.store.loadServers().map((s) => s.serverId),
        ["keep-1"],
      );
    } finally {
      await app.stop();
      await sim.stop();
    }
  });

  it("keeps the old config whole when a reload's cloud client cannot be built (unreadable caFile)", async (t) => {
    const sim = createSimulator();
    const { url: simUrl } = await sim.start();
    t.after(() => sim.stop());
    sim.addServer(PROJECT, { id: "ca-1", name: "ca", status: "ACTIVE" });
    const dir = mkdtempSync(join(tmpdir(), "imagewatch-ca-reload-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "imagewatch.yaml");
    const yaml = configYaml(simUrl, {
      statePath: join(dir, "state.db"),
      target: `{ projectId: ${PROJECT}, serverIds: [ca-1], jobs: false }`,
      extra: 'server: { listen: "127.0.0.1:0" }\nstuck: { BUILDING: 7m }',
    });
    writeFileSync(path, yaml);
    const app = createApp(loadConfig(path, {}), { logger: createSilentLogger(), env: {} });
    const { url } = await app.start();
    t.after(() => app.stop());
    await waitFor(() => app.isReady(), "ready");
    // Same file with another threshold and a CA bundle that does not exist.
    writeFileSync(
      path,
      yaml
        .replace("BUILDING: 7m", "BUILDING: 9m")
        .replace(
          "  requestTimeout:",
          `  caFile: ${JSON.stringify(join(dir, "nope.pem"))}\n  requestTimeout:`,
        ),
    );
    const res = await request(`${url}/-/reload`, { method: "POST" });
    const body = (await res.body.json()) as { errors?: string[] };
    assert.equal(res.statusCode, 400);
    assert.ok(
      body.errors?.some((e) => e.startsWith("cloud.caFile: ")),
      JSON.stringify(body),
    );
    assert.equal(app.config().stuck.thresholds.BUILDING, 7 * 60_000, "the old config is kept whole");
    assert.equal(app.config().cloud.caFile, undefined);
    const text = await (await request(`${url}/metrics`)).body.text();
    assert.match(text, /^imagewatch_config_last_reload_successful 0$/m);
  });

  it("stops promptly when a poll hangs, aborting it after the grace and committing nothing for it", async (t) => {
    const sim = createSimulator();
    const { url: simUrl } = await sim.start();
    sim.addServer(PROJECT, { id: "slow-1", name: "slow", status: "ACTIVE" });
    const dir = makeTempDir(t, "imagewatch-abort-");
    const loaded = parseConfigText(
      configYaml(simUrl, {
        statePath: join(dir, "state.db"),
        target: `{ projectId: ${PROJECT}, serverIds: [slow-1], jobs: false }`,
        extra: 'server: { listen: "127.0.0.1:0" }',
      }).replace("requestTimeout: 5s", "requestTimeout: 60s"),
      {},
      "abort.yaml",
    );
    sim.injectFault({ route: "get", count: 1, delayMs: 30_000 });
    const app = createApp(loaded, { logger: createSilentLogger(), env: {}, pollStopGraceMs: 200 });
    await app.start();
    try {
      await waitFor(
        () => sim.requests().some((r) => r.route === "get") || sim.counts().byRoute.get > 0,
        "the hanging GET",
        10_000,
      );
    } finally {
      const started = Date.now();
      await app.stop();
      const took = Date.now() - started;
      assert.ok(took < 10_000, `stop took ${took} ms`);
      await sim.stop();
    }
    const { openSqliteStore } = await import("../../src/store/sqlite-store.js");
    const store = openSqliteStore(join(dir, "state.db"));
    assert.deepEqual(store.loadServers(), [], "the aborted poll committed no failure");
    store.close();
  });

  it("applies a stuck threshold changed by a reload on the next poll, without a restart", async (t) => {
    const sim = createSimulator();
    const { url: simUrl } = await sim.start();
    sim.addServer(PROJECT, { id: "slow-build", name: "slow", status: "BUILDING", update_time: "-10m" });
    const dir = makeTempDir(t, "imagewatch-threshold-");
    const path = join(dir, "imagewatch.yaml");
    const write = (building: string) =>
      writeFileSync(
        path,
        configYaml(simUrl, {
          statePath: join(dir, "state.db"),
          target: `{ projectId: ${PROJECT}, serverIds: [slow-build], jobs: false }`,
          extra: `server: { listen: "127.0.0.1:0" }\nschedule: { interval: 1s, steadyInterval: 1s }\nstuck: { BUILDING: ${building} }`,
        }),
      );
    write("60m");
    const app = createApp(loadConfig(path, {}), { logger: createSilentLogger(), env: {} });
    await app.start();
    const types = () => app.store.listEvents(100).map((e) => e.type);
    try {
      await waitFor(() => app.isReady(), "ready");
      assert.deepEqual(types(), ["image_server.discovered"], "10 minutes is not stuck under a 60m threshold");
      write("5m");
      assert.deepEqual(await app.reload(), { ok: true });
      await waitFor(() => types().includes("image_server.stuck"), "stuck after the reload");
      const stuck = app.store.listEvents(100).find((e) => e.type === "image_server.stuck");
      assert.equal(stuck?.data.stuck_threshold_seconds, 300);
    } finally {
      await app.stop();
      await sim.stop();
    }
  });

  it("sends webhooks through HTTP_PROXY when the environment names one", async (t) => {
    const proxy = await startProxy(t);
    const SECRET = "whsec_ZGVtby1zZWNyZXQtZm9yLWltYWdld2F0Y2gtZGVtbw==";
    const receiver = await startReceiver({ secret: SECRET });
    t.after(() => receiver.close());
    const sim = createSimulator();
    const { url: simUrl } = await sim.start();
    t.after(() => sim.stop());
    sim.addServer(PROJECT, { id: "via-proxy", name: "p", status: "ACTIVE" });
    const dir = makeTempDir(t, "imagewatch-proxy-");
    const loaded = parseConfigText(
      configYaml(simUrl, {
        statePath: join(dir, "state.db"),
        target: `{ projectId: ${PROJECT}, serverIds: [via-proxy], jobs: false }`,
        extra: `server: { listen: "127.0.0.1:0" }\nwebhooks:\n  - { name: ops, url: "${receiver.url}", secret: "${SECRET}", events: [discovered] }`,
      }),
      {},
      "proxy.yaml",
    );
    const app = createApp(loaded, { logger: createSilentLogger(), env: { HTTP_PROXY: proxy.url } });
    await app.start();
    try {
      await waitFor(() => receiver.accepted().length === 1, "the delivery");
      assert.ok(proxy.targets.includes(new URL(receiver.url).host), `tunnels: ${proxy.targets.join(", ")}`);
    } finally {
      await app.stop();
    }
  });

  it("prunes old delivered events after the first polls, in batches until none is left, keeping pending ones", async (t) => {
    // What a daemon left behind 20 days ago: five delivered events and one still pending.
    const old = Date.now() - 20 * 86_400_000;
    const ids = ["o1", "o2", "o3", "o4", "o5", "pending"];
    const { app, lines } = await startPruningApp(
      t,
      `{ projectId: ${PROJECT}, serverIds: [kept], jobs: false }`,
      (before) => {
        before.commitPoll({
          servers: [],
          events: ids.map((id, i) => makeEvent(id, "gone", { projectId: PROJECT, occurredAt: old + i })),
          deliveries: ids.map((eventId) => ({ eventId, webhook: "ops" })),
          now: old,
        });
        for (const id of ids.slice(0, 5)) before.markDelivered(id, "ops", 1, old);
      },
    );
    try {
      const pruned = await waitFor(() => lines.find((l) => l.msg === "old events pruned"), "the prune");
      assert.equal(pruned.pruned, 5, "three batches of at most 2, counted together");
      assert.deepEqual(
        app.store
          .listEvents(10)
          .map((e) => e.id)
          .filter((id) => ids.includes(id)),
        ["pending"],
      );
    } finally {
      await app.stop();
    }
  });

  it("prunes finished job records older than the retention, in batches, keeping active and recent ones and the projects whose jobs it could not list", async (t) => {
    // Its job lists fail since the start, so failures from while the daemon was stopped may be still to
    // report: a prune's cut-off could hide them.
    const other = "fedcba9876543210fedcba9876543210";
    const day = 86_400_000;
    const now = Date.now();
    const record = (jobId: string, status: string, endedDaysAgo: number | null) =>
      makeJobRecord(jobId, {
        projectId: PROJECT,
        status,
        beginTime: now - 30 * day,
        endTime: endedDaysAgo === null ? null : now - endedDaysAgo * day,
      });
    const running = "100000000000000005";
    const { app, lines } = await startPruningApp(
      t,
      `{ projectId: ${PROJECT}, serverIds: [kept] }\n  - { projectId: ${other}, serverIds: [kept] }`,
      (before) => {
        const jobsOf = (projectId: string, records: JobRecord[]) =>
          before.commitPoll({
            servers: [],
            events: [],
            deliveries: [],
            now,
            jobs: { cursor: { projectId, failedCounts: {} }, records },
          });
        jobsOf(PROJECT, [
          record("100000000000000001", "FAILED", 20),
          record("100000000000000002", "SUCCESS", 19),
          record("100000000000000003", "SUCCESS", 18),
          record("100000000000000004", "SUCCESS", 1),
          record(running, "RUNNING", null),
        ]);
        jobsOf(other, [{ ...record("100000000000000009", "FAILED", 20), projectId: other }]);
      },
      (sim) => {
        // The simulator still runs the RUNNING one; the others are no longer listed.
        sim.addJob(PROJECT, { id: running, job_type: "CREATE_SERVER_IMAGE", begin_time: now - 30 * day });
        sim.addServer(other, { id: "kept", name: "k2", status: "ACTIVE" });
        sim.injectFault({ route: "jobs", projectId: other, status: 503, count: 1_000_000 });
      },
    );
    try {
      const pruned = await waitFor(() => lines.find((l) => l.msg === "old job records pruned"), "the prune");
      assert.equal(pruned.jobs, 3, "two batches of at most 2, counted together");
      assert.deepEqual(
        app.store
          .listJobs(10)
          .map((j) => j.jobId)
          .sort(),
        ["100000000000000004", "100000000000000005", "100000000000000009"],
      );
      assert.equal(app.store.jobsPrunedBefore(other), undefined, "the unwatched project was not pruned");
    } finally {
      await app.stop();
    }
  });
});

/**
 * A daemon in-process (prune batches of 2, info logs collected as objects) on a state file `seed` wrote
 * first, watching `target` on a simulator that holds server "kept" (and whatever `simSetup` adds).
 */
async function startPruningApp(
  t: TestContext,
  target: string,
  seed: (store: Store) => void,
  simSetup: (sim: Simulator) => void = () => {},
): Promise<{ app: App; lines: Array<Record<string, unknown>> }> {
  const sim = createSimulator();
  const { url: simUrl } = await sim.start();
  t.after(() => sim.stop());
  sim.addServer(PROJECT, { id: "kept", name: "k", status: "ACTIVE" });
  simSetup(sim);
  const statePath = join(makeTempDir(t, "imagewatch-prune-"), "state.db");
  const before = openSqliteStore(statePath);
  seed(before);
  before.close();
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger(
    { level: "info", format: "json" },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const loaded = parseConfigText(
    configYaml(simUrl, { statePath, target, extra: 'server: { listen: "127.0.0.1:0" }' }),
    {},
    "prune.yaml",
  );
  const app = createApp(loaded, { logger, env: {}, pruneBatch: 2 });
  await app.start();
  return { app, lines };
}
