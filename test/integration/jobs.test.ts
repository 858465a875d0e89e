/**
 * Watching image jobs (DESIGN §11) against the simulator over real HTTP, on a manual clock: failures
 * with their reasons attached to the right server, successes on status_changed, stuck jobs, history at
 * start, failures between ticks, restarts, replicas and shards, 403, and the API calls of a quiet tick.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { pathToFileURL } from "node:url";
import { createCloudClient } from "../../src/cloud/client.js";
import { parseConfigText } from "../../src/config/load.js";
import type { TargetMemory } from "../../src/domain/poll-plan.js";
import { shardOf } from "../../src/domain/sharding.js";
import type { DomainEvent } from "../../src/domain/types.js";
import { createHttpServer } from "../../src/http/server.js";
import { systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createMetrics } from "../../src/metrics/metrics.js";
import { createDeliveryService } from "../../src/notify/delivery-service.js";
import { eventSummaryLine } from "../../src/notify/formats/event-line.js";
import { JobBook } from "../../src/poller/job-book.js";
import { pollTarget, ServerStates, TargetStates } from "../../src/poller/poll-target.js";
import { parseScenario } from "../../src/simulator/index.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import { startReceiver, waitUntil } from "../helpers/receiver.js";
import { AK, configYaml, createWorld, PROJECT, SK, type World } from "../helpers/world.js";

const S1 = "4b1a2c3d-0000-4111-a222-000000000001";
const S2 = "4b1a2c3d-0000-4111-a222-000000000002";
const DISCOVER = `{ projectId: ${PROJECT}, discover: true }`;

const jobEvents = (events: readonly DomainEvent[]) => events.filter((e) => e.type.startsWith("image_job."));
const ofType = (events: readonly DomainEvent[], type: string) => events.filter((e) => e.type === type);

const firstErrorCode = (e: DomainEvent | undefined) =>
  (e?.data.failures as Array<{ error_code: string }> | undefined)?.[0]?.error_code;

async function world(t: TestContext, opts: Parameters<typeof createWorld>[0] = { target: DISCOVER }) {
  const w = await createWorld(opts);
  t.after(() => w.close());
  return w;
}

/** Another replica polling the world's simulator, with its own store (`extra`: e.g. its sharding). */
function replica(t: TestContext, w: World, name: string, extra: string) {
  const statePath = path.join(w.dir, `${name}.db`);
  const { config } = parseConfigText(
    configYaml(w.simUrl, { statePath, target: DISCOVER, extra }),
    {},
    "r.yaml",
  );
  const logger = createSilentLogger();
  const cloud = createCloudClient(config.cloud, { clock: w.clock, logger, sleep: async () => {} });
  const store = openSqliteStore(statePath, { clock: w.clock, logger });
  const states = new ServerStates();
  const targets = new TargetStates();
  const jobBook = new JobBook(store);
  const memory = new Map<string, TargetMemory>();
  t.after(async () => {
    store.close();
    await cloud.close();
  });
  const target = config.targets[0];
  assert.ok(target);
  return {
    poll: () =>
      pollTarget(target, {
        cloud,
        store,
        states,
        targets,
        jobBook,
        clock: w.clock,
        logger,
        config: () => config,
        memory,
        force: true,
      }),
    events: () => store.listEvents(100_000).reverse(),
  };
}

/** Two builds, S1's failed (E1) and polled: the world after one image_job.failed. */
async function twoBuildsFirstFailed(t: TestContext): Promise<World> {
  const w = await world(t);
  w.sim.addServer(PROJECT, { id: S1, name: "build-one", status: "BUILDING" });
  w.sim.addServer(PROJECT, { id: S2, name: "build-two", status: "BUILDING" });
  await w.poll();
  w.clock.advance(60_000);
  w.sim.setStatus(PROJECT, S1, "ERROR", { job: { error_code: "E1", error_message: "first" } });
  await w.poll();
  return w;
}

describe("watching image jobs", () => {
  it("a failed build: exactly one image_job.failed with the sub-job's reason, on the right server", async (t) => {
    const w = await world(t);
    w.sim.addServer(PROJECT, { id: S1, name: "build-office-2026", status: "BUILDING" });
    w.sim.addServer(PROJECT, { id: S2, name: "other", status: "ACTIVE" });
    await w.poll();
    w.clock.advance(23 * 60_000);
    w.sim.setStatus(PROJECT, S1, "ERROR", {
      job: { error_code: "WKS.0127", error_message: "disk quota exceeded", sub_job_status: "ABNORMAL" },
    });
    w.clock.advance(10_000);
    await w.poll();
    w.clock.advance(30_000);
    await w.poll();

    const failed = ofType(w.events(), "image_job.failed");
    assert.equal(failed.length, 1);
    const e = failed[0];
    assert.ok(e);
    assert.equal(e.serverId, S1);
    assert.equal(e.data.server_id, S1);
    assert.equal(e.data.name, "build-office-2026");
    assert.equal(e.data.job_type, "CREATE_SERVER_IMAGE");
    assert.equal(e.data.status, "FAILED");
    assert.equal(e.data.duration_seconds, 23 * 60);
    const failures = e.data.failures as Array<Record<string, unknown>>;
    assert.equal(failures.length, 1);
    assert.equal(failures[0]?.status, "ABNORMAL");
    assert.equal(failures[0]?.error_code, "WKS.0127");
    assert.equal(failures[0]?.error_message, "disk quota exceeded");
    assert.equal(
      eventSummaryLine(e),
      "build-office-2026: image build FAILED after 23m 0s — WKS.0127 disk quota exceeded",
    );
    // The server's own change carries the job and its reason.
    const changed = ofType(w.events(), "image_server.status_changed");
    assert.equal(changed.length, 1);
    assert.deepEqual(changed[0]?.data.job, {
      job_id: e.data.job_id,
      job_type: "CREATE_SERVER_IMAGE",
      status: "FAILED",
      error_code: "WKS.0127",
      error_message: "disk quota exceeded",
    });
    // Stored and listed as failed.
    assert.deepEqual(
      w.store.listJobs(10, { state: "failed" }).map((j) => j.jobId),
      [e.data.job_id],
    );
  });

  it("builds the list of servers a job may belong to only on a tick with a job to attach", async (t) => {
    const w = await world(t);
    w.sim.addServer(PROJECT, { id: S1, name: "build-one", status: "ACTIVE" });
    w.sim.addServer(PROJECT, { id: S2, name: "build-two", status: "ACTIVE" });
    await w.poll();
    // The list of a project's known servers is read by the tick's plan, and by the job list's builder.
    const ofProject = w.states.ofProject.bind(w.states);
    let reads = 0;
    w.states.ofProject = (projectId) => {
      reads++;
      return ofProject(projectId);
    };
    w.clock.advance(30_000);
    await w.poll(true);
    assert.equal(reads, 1, "no job: only the plan reads the servers");

    w.sim.addJob(PROJECT, {
      job_type: "CREATE_SERVER_IMAGE",
      sub_jobs: [{ job_resource_info: { resource_id: S2, resource_name: "build-two" } }],
    });
    reads = 0;
    w.clock.advance(30_000);
    await w.poll(true);
    assert.equal(reads, 2, "a new job to attach: the job list's builder reads them too");
    const [rec] = w.store.listJobs(10);
    assert.equal(rec?.serverId, S2);
  });

  it("a successful build: status_changed to BUILT carries job.status = SUCCESS", async (t) => {
    const w = await world(t);
    w.sim.addServer(PROJECT, { id: S1, name: "build-one", status: "BUILDING" });
    await w.poll();
    w.clock.advance(10 * 60_000);
    w.sim.setStatus(PROJECT, S1, "BUILT", { updateTime: w.clock.now() });
    w.clock.advance(5_000);
    await w.poll();
    const changed = ofType(w.events(), "image_server.status_changed");
    assert.equal(changed.length, 1);
    assert.equal(changed[0]?.data.status, "BUILT");
    const job = changed[0]?.data.job as Record<string, unknown> | undefined;
    assert.equal(job?.status, "SUCCESS");
    assert.equal(job?.job_type, "CREATE_SERVER_IMAGE");
    assert.equal(job?.error_code, "");
    assert.deepEqual(
      jobEvents(w.events()).map((x) => x.type),
      ["image_job.succeeded"],
    );
  });

  it("a job RUNNING past its threshold: one image_job.stuck", async (t) => {
    const w = await world(t);
    w.sim.addServer(PROJECT, { id: S1, name: "build-one", status: "ACTIVE" });
    w.sim.addJob(PROJECT, {
      job_type: "CREATE_SERVER_IMAGE",
      begin_time: "-61m",
      sub_jobs: [{ job_resource_info: { resource_id: S1, resource_name: "build-one" } }],
    });
    await w.poll();
    for (let i = 0; i < 3; i++) {
      w.clock.advance(60_000);
      await w.poll();
    }
    const stuck = ofType(w.events(), "image_job.stuck");
    assert.equal(stuck.length, 1);
    assert.equal(stuck[0]?.serverId, S1);
    assert.equal(stuck[0]?.data.stuck_threshold_seconds, 3600);
    assert.equal(stuck[0]?.data.status, "RUNNING");
    assert.equal(jobEvents(w.events()).length, 1);
  });

  it("120 historical FAILED jobs at start: none reported; a quiet tick makes 9 list calls; a failure between ticks is reported once", async (t) => {
    const w = await world(t, {
      target: DISCOVER,
      scenario: parseScenario(`
credentials: { accessKey: ${AK}, secretKey: ${SK}, domain: d, username: u, password: p }
projects:
  - id: "${PROJECT}"
    servers: [{ id: ${S1}, name: build-one, status: ACTIVE }]
    history: { failed: 120, job_type: CREATE_SERVER_IMAGE }
`),
    });
    await w.poll();
    assert.deepEqual(jobEvents(w.events()), []);
    assert.equal(w.store.listJobs(1000).length, 120, "the history is learned");

    // A tick with no active jobs: one list call per job type and status kind, nothing else.
    w.sim.resetCounters();
    w.clock.advance(30_000);
    await w.poll();
    const quiet = w.sim.counts().byRoute;
    assert.equal(quiet.jobs, 9, "3 job types × (WAITING + RUNNING + first FAILED page)");
    assert.equal(quiet.job, 0);
    assert.equal(quiet.sub_jobs, 0);
    assert.deepEqual(jobEvents(w.events()), []);

    // Starts and ends between two ticks: only the FAILED list (whose count moved) shows it.
    w.clock.advance(10_000);
    const job = w.sim.addJob(PROJECT, {
      job_type: "CREATE_SERVER_IMAGE",
      sub_jobs: [{ job_resource_info: { resource_id: S1, resource_name: "build-one" } }],
    });
    w.clock.advance(5_000);
    w.sim.setJobStatus(PROJECT, job.id, "FAILED", {
      executeInfo: { error_code: "WKS.0127", error_message: "disk quota exceeded" },
    });
    w.sim.resetCounters();
    w.clock.advance(15_000);
    await w.poll();
    const failed = ofType(w.events(), "image_job.failed");
    assert.equal(failed.length, 1);
    assert.equal(failed[0]?.data.job_id, job.id);
    assert.equal(failed[0]?.serverId, S1);
    assert.equal(firstErrorCode(failed[0]), "WKS.0127");
    const moved = w.sim.counts().byRoute;
    // The moved count re-reads the whole FAILED list (listAllImageJobs: 2 pages of 100).
    assert.equal(moved.jobs, 9 + 2, "the moved FAILED count reads every FAILED page");
    assert.equal(moved.job, 1, "one ShowImageJob for the new failure");

    w.clock.advance(30_000);
    await w.poll();
    assert.equal(jobEvents(w.events()).length, 1);
  });

  it("across restarts: no job reported twice, none missed", async (t) => {
    const w = await twoBuildsFirstFailed(t);
    w.restart();
    // While "down": the second build fails.
    w.clock.advance(60_000);
    w.sim.setStatus(PROJECT, S2, "ERROR", { job: { error_code: "E2", error_message: "second" } });
    w.clock.advance(60_000);
    w.restart();
    await w.poll();
    w.restart();
    w.clock.advance(60_000);
    await w.poll();
    const failed = ofType(w.events(), "image_job.failed");
    assert.deepEqual(
      failed.map((e) => [e.serverId, (e.data.failures as Array<{ error_code: string }>)[0]?.error_code]),
      [
        [S1, "E1"],
        [S2, "E2"],
      ],
    );
  });

  it("a failed job pruned after the retention stays forgotten when the FAILED list shows it again; an old active job is kept", async (t) => {
    const w = await twoBuildsFirstFailed(t);
    const [first] = ofType(w.events(), "image_job.failed");
    const oldJob = first?.data.job_id;
    assert.ok(typeof oldJob === "string", "the first failure was reported");

    // 15 days on (retention 14d): the failed job's record and events age out; S2's build still runs.
    w.clock.advance(15 * 86_400_000);
    await w.poll();
    const before = w.clock.now() - w.config.state.retention;
    w.store.prune(before);
    const gone = w.store.pruneJobs(PROJECT, before);
    assert.deepEqual(gone, [oldJob], "only the finished job goes; the active one is kept");
    w.jobBook.forget(PROJECT, gone, before);

    // The ticks read the records from memory, not from the store.
    let loads = 0;
    const loadJobs = w.store.loadJobs;
    w.store.loadJobs = (projectId) => {
      loads++;
      return loadJobs(projectId);
    };
    // A new failure moves the FAILED count, so every FAILED page is read again, the old job with it.
    w.sim.setStatus(PROJECT, S2, "ERROR", { job: { error_code: "E2", error_message: "second" } });
    w.clock.advance(10_000);
    await w.poll();
    w.clock.advance(30_000);
    await w.poll();
    const failed = ofType(w.events(), "image_job.failed");
    assert.deepEqual(
      failed.map((e) => [e.serverId, firstErrorCode(e)]),
      [[S2, "E2"]],
      "the pruned failure is not reported again",
    );
    assert.ok(!w.store.listJobs(100).some((j) => j.jobId === oldJob), "nor recorded again");
    assert.equal(loads, 0, "no tick read the job records from the store");
  });

  it("a prune that runs while a tick waits for the cloud does not make that tick report the pruned failure again", async (t) => {
    const w = await twoBuildsFirstFailed(t);
    const [first] = ofType(w.events(), "image_job.failed");
    w.clock.advance(15 * 86_400_000);
    await w.poll();
    // The old failure is still on the FAILED list's first page, and still known when this tick starts.
    const tick = w.poll();
    const before = w.clock.now() - w.config.state.retention;
    w.store.prune(before);
    const gone = w.store.pruneJobs(PROJECT, before);
    w.jobBook.forget(PROJECT, gone, before);
    assert.deepEqual(gone, [first?.data.job_id], "pruned while the tick was in flight");
    await tick;
    w.clock.advance(30_000);
    await w.poll();
    assert.deepEqual(ofType(w.events(), "image_job.failed"), [], "not reported again");
    assert.ok(!w.jobBook.of(PROJECT).jobs.has(gone[0] as string), "nor recorded again");
  });

  it("two replicas of one shard report the same job event id; three shards split jobs without overlap", async (t) => {
    const w = await world(t, { target: DISCOVER, extra: "sharding: { count: 3, index: 0 }" });
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) ids.push(`4b1a2c3d-0000-4111-a222-0000000001${String(i).padStart(2, "0")}`);
    for (const [i, id] of ids.entries())
      w.sim.addServer(PROJECT, { id, name: `build-${i}`, status: "BUILDING" });
    // Jobs of no known server (owned by their job id's shard).
    for (let i = 0; i < 6; i++) {
      w.sim.addJob(PROJECT, {
        job_type: "DELETE_SERVER",
        sub_jobs: [{ job_resource_info: { resource_id: `gone-${i}`, resource_name: `gone-${i}` } }],
      });
    }
    const shards = [w, replica(t, w, "shard1", "sharding: { count: 3, index: 1 }")];
    shards.push(replica(t, w, "shard2", "sharding: { count: 3, index: 2 }"));
    const twin = replica(t, w, "shard0-twin", "sharding: { count: 3, index: 0 }");
    for (const s of [...shards, twin]) await s.poll();
    w.clock.advance(60_000);
    for (const [i, id] of ids.entries()) {
      w.sim.setStatus(PROJECT, id, "ERROR", { job: { error_code: `E${i}`, error_message: "failed" } });
    }
    for (const j of w.sim.listJobs(PROJECT)) {
      if (j.job_type === "DELETE_SERVER") w.sim.setJobStatus(PROJECT, j.id, "FAILED");
    }
    w.clock.advance(30_000);
    for (const s of [...shards, twin]) await s.poll();

    const failedOf = (events: readonly DomainEvent[]) => ofType(events, "image_job.failed");
    const perShard = shards.map((s) => failedOf(s.events()).map((e) => String(e.data.job_id)));
    const all = perShard.flat();
    assert.equal(all.length, 9 + 6, "every failed job reported");
    assert.equal(new Set(all).size, all.length, "no job reported by two shards");
    assert.ok(
      perShard.every((p) => p.length > 0),
      "each shard owns some",
    );
    // A server's job goes to the server's shard.
    for (const [k, s] of shards.entries()) {
      for (const e of failedOf(s.events())) if (e.serverId !== "") assert.equal(shardOf(e.serverId, 3), k);
    }
    // The twin of shard 0 reports exactly the same events, with the same ids.
    assert.deepEqual(
      failedOf(twin.events()).map((e) => e.id),
      failedOf(w.events()).map((e) => e.id),
    );
  });

  it("a 403 on the job API pauses job watching for the target; server polling goes on", async (t) => {
    const w = await world(t);
    w.sim.addServer(PROJECT, { id: S1, name: "build-one", status: "BUILDING" });
    w.sim.injectFault({
      route: "jobs",
      status: 403,
      body: { error_code: "WKS.0403", error_msg: "no permission" },
    });
    await w.poll();
    assert.equal(w.states.get(PROJECT, S1)?.status, "BUILDING");
    w.sim.resetCounters();
    w.clock.advance(30_000);
    w.sim.setStatus(PROJECT, S1, "BUILT");
    w.clock.advance(1_000);
    await w.poll();
    const c = w.sim.counts().byRoute;
    assert.equal(c.jobs + c.job + c.sub_jobs, 0, "no job calls while paused");
    assert.equal(w.states.get(PROJECT, S1)?.status, "BUILT");
    assert.deepEqual(jobEvents(w.events()), []);
  });
});

const SECRET = "whsec_ZGVtby1zZWNyZXQtZm9yLWltYWdld2F0Y2gtZGVtbw==";
const src = (p: string) => JSON.stringify(pathToFileURL(path.resolve(p)).href);

/** A child that polls the world's target once at `now` (committing to `statePath`), says so, then waits. */
function pollOnceChild(yaml: string, statePath: string, now: number): string {
  return `
import { createCloudClient } from ${src("src/cloud/client.ts")};
import { parseConfigText } from ${src("src/config/load.ts")};
import { createSilentLogger } from ${src("src/lib/logger.ts")};
import { JobBook } from ${src("src/poller/job-book.ts")};
import { pollTarget, ServerStates, TargetStates } from ${src("src/poller/poll-target.ts")};
import { openSqliteStore } from ${src("src/store/index.ts")};
const clock = { now: () => ${now} };
const { config } = parseConfigText(${JSON.stringify(yaml)}, {}, "child.yaml");
const logger = createSilentLogger();
const cloud = createCloudClient(config.cloud, { clock, logger, sleep: async () => {} });
const store = openSqliteStore(${JSON.stringify(statePath)}, { clock, logger });
const states = new ServerStates();
for (const s of store.loadServers()) states.set(s);
const summary = await pollTarget(config.targets[0], { cloud, store, states, targets: new TargetStates(), jobBook: new JobBook(store), clock, logger, config: () => config, memory: new Map(), force: true });
process.stdout.write("committed " + summary.events + "\\n");
setInterval(() => {}, 60000);
setTimeout(() => process.exit(3), 30000);
`;
}

describe("image jobs under kill -9", () => {
  it("a failure committed but not delivered is delivered once after the restart, with the same id", async (t) => {
    const w = await world(t);
    const receiver = await startReceiver({ secret: SECRET });
    t.after(() => receiver.close());
    const yaml = configYaml(w.simUrl, {
      statePath: w.statePath,
      target: DISCOVER,
      extra: `webhooks:\n  - { name: ops, url: "${receiver.url}", secret: "${SECRET}" }`,
    });
    w.sim.addServer(PROJECT, { id: S1, name: "build-one", status: "BUILDING" });
    await w.poll();
    w.clock.advance(5 * 60_000);
    w.sim.setStatus(PROJECT, S1, "ERROR", {
      job: { error_code: "WKS.0127", error_message: "disk quota exceeded" },
    });
    w.clock.advance(10_000);

    // The child sees the failure, commits it with its delivery row, and is killed before any delivery.
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "--eval", pollOnceChild(yaml, w.statePath, w.clock.now())],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on("exit", (_c, signal) => r(signal)));
    const committed = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (c: Buffer) => {
        const line = c.toString();
        if (line.startsWith("committed")) resolve(line.trim());
      });
      child.on("exit", () => reject(new Error(`child exited before committing: ${stderr}`)));
    });
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL");
    assert.match(committed, /^committed [1-9]/);
    assert.equal(receiver.requests.length, 0, "nothing was delivered before the kill");

    // Restart: reopen the store, deliver what is pending, poll again.
    w.restart();
    const stored = ofType(w.events(), "image_job.failed");
    assert.equal(stored.length, 1);
    const webhooks = parseConfigText(yaml, {}, "p.yaml").config.webhooks;
    const delivery = createDeliveryService({
      store: w.store,
      getWebhooks: () => webhooks,
      clock: systemClock,
      logger: createSilentLogger(),
      version: "test",
      pollIntervalMs: 20,
    });
    delivery.start();
    t.after(() => delivery.stop(1000));
    await waitUntil(
      () => w.store.getEvent(stored[0]?.id ?? "")?.deliveries[0]?.state === "delivered",
      10_000,
      "the failure delivered",
    );
    w.clock.advance(30_000);
    await w.poll();
    w.clock.advance(30_000);
    await w.poll();
    assert.equal(ofType(w.events(), "image_job.failed").length, 1, "not reported again after the restart");
    const got = receiver.accepted().filter((r) => r.payload?.type === "image_job.failed");
    assert.equal(got.length, 1);
    assert.equal(got[0]?.id, stored[0]?.id);
    assert.equal(
      (got[0]?.payload?.data.failures as Array<{ error_code: string }> | undefined)?.[0]?.error_code,
      "WKS.0127",
    );
  });
});

describe("image jobs over the HTTP API", () => {
  it("GET /api/v1/jobs (empty before any job, ?state, ?limit) and GET /api/v1/servers/{project}/{server}", async (t) => {
    const w = await world(t);
    const srv = createHttpServer({
      metrics: createMetrics({ version: "test", collectDefault: false }),
      logger: createSilentLogger(),
      clock: w.clock,
      getBearerToken: () => undefined,
      listServers: () => w.states.all().filter((s) => s.present),
      listEvents: (limit, filter) => w.store.listEvents(limit, filter),
      getEvent: (id) => w.store.getEvent(id),
      listJobs: (limit, filter) => w.store.listJobs(limit, filter),
      getServer: (p, s) => w.states.get(p, s),
      isReady: () => true,
      reload: async () => ({ ok: true }),
      version: "test",
    });
    const { url } = await srv.start("127.0.0.1", 0);
    t.after(() => srv.stop());
    const get = async (p: string) => {
      const r = await fetch(new URL(p, url));
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };

    assert.deepEqual(await get("/api/v1/jobs"), { status: 200, body: { jobs: [] } });
    w.sim.addServer(PROJECT, { id: S1, name: "build-one", status: "BUILDING" });
    w.sim.addServer(PROJECT, { id: S2, name: "build-two", status: "BUILDING" });
    await w.poll();
    w.clock.advance(120_000);
    w.sim.setStatus(PROJECT, S1, "ERROR", {
      job: { error_code: "WKS.0127", error_message: "disk quota exceeded" },
    });
    await w.poll();

    const all = (await get("/api/v1/jobs")).body.jobs as Array<Record<string, unknown>>;
    assert.equal(all.length, 2);
    const failed = await get("/api/v1/jobs?state=failed");
    const [job] = failed.body.jobs as Array<Record<string, unknown>>;
    assert.equal((failed.body.jobs as unknown[]).length, 1);
    assert.deepEqual(Object.keys(job ?? {}).sort(), [
      "begin_time",
      "duration_seconds",
      "end_time",
      "failures",
      "job_id",
      "job_type",
      "name",
      "project_id",
      "server_id",
      "status",
    ]);
    assert.equal(job?.server_id, S1);
    assert.equal(job?.status, "FAILED");
    assert.equal(job?.duration_seconds, 120);
    assert.equal(
      (job?.failures as Array<{ error_message: string }> | undefined)?.[0]?.error_message,
      "disk quota exceeded",
    );
    const active = (await get("/api/v1/jobs?state=active")).body.jobs as Array<Record<string, unknown>>;
    assert.deepEqual(
      active.map((j) => [j.server_id, j.status]),
      [[S2, "RUNNING"]],
    );
    assert.equal(((await get("/api/v1/jobs?state=finished")).body.jobs as unknown[]).length, 1);
    assert.equal(((await get("/api/v1/jobs?limit=1")).body.jobs as unknown[]).length, 1);
    assert.equal((await get("/api/v1/jobs?state=done")).status, 400);
    assert.equal((await get("/api/v1/jobs?limit=0")).status, 400);
    assert.equal((await get("/api/v1/jobs?bogus=1")).status, 400);

    const one = await get(`/api/v1/servers/${PROJECT}/${S1}`);
    assert.equal(one.status, 200);
    assert.equal((one.body.server as { status: string }).status, "ERROR");
    assert.deepEqual(
      (one.body.events as Array<{ type: string }>).map((e) => e.type),
      ["image_job.failed", "image_server.status_changed", "image_server.discovered"],
    );
    assert.deepEqual(
      (one.body.jobs as Array<{ job_id: string }>).map((j) => j.job_id),
      [job?.job_id],
    );
    assert.equal((await get(`/api/v1/servers/${PROJECT}/nope`)).status, 404);
    assert.equal((await get(`/api/v1/servers/${PROJECT}`)).status, 404);
  });
});
