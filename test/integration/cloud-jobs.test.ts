/**
 * The image-job calls of the cloud client against the simulator over real HTTP: both auth kinds,
 * pagination, filters, ShowImageJob with failure reasons, and the same classification, retries and
 * request counting as the server calls.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { Agent } from "undici";
import type { AuthConfig } from "../../src/cloud/auth/kinds.js";
import { type CloudClient, createCloudClient } from "../../src/cloud/client.js";
import { CloudError } from "../../src/cloud/errors.js";
import type { CloudConfig } from "../../src/config/types.js";
import { jobDurationSeconds, jobFailures } from "../../src/domain/jobs.js";
import type { RequestOutcome } from "../../src/domain/types.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator, loadScenario, type Simulator } from "../../src/simulator/index.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const JOBS = path.join(here, "..", "fixtures", "scenarios", "jobs.yaml");
const START = Date.parse("2026-11-27T10:00:00.000Z");
/** The fixture's explicit CREATE_SERVER job: WAITING, RUNNING at 10s, FAILED (ROLLBACK) at 30s. */
const EXPLICIT = "700000000000000001";
const AKSK: AuthConfig = { kind: "aksk", accessKey: "AKJOBS", secretKey: "sk-jobs" };

interface Setup {
  sim: Simulator;
  clock: ManualClock;
  client: CloudClient;
  outcomes: RequestOutcome[];
}

async function setup(t: TestContext, auth: "aksk" | "token" = "aksk"): Promise<Setup> {
  const clock = createManualClock(START);
  const sim = createSimulator({ clock, scenario: loadScenario(JOBS) });
  const { url } = await sim.start();
  const dispatcher = new Agent();
  const config: CloudConfig = {
    region: "cn-north-4",
    endpoint: url,
    iamEndpoint: url,
    auth: auth === "aksk" ? AKSK : { kind: "token", token: sim.issueToken().token },
    requestTimeout: 5_000,
    maxRequestsPerSecond: 1_000,
    retry: { attempts: 3, minDelay: 5, maxDelay: 20 },
  };
  const outcomes: RequestOutcome[] = [];
  const client = createCloudClient(config, {
    clock,
    logger: createSilentLogger(),
    dispatcher,
    sleep: async () => {},
    onRequest: (r) => {
      assert.equal(r.projectId, "p1");
      outcomes.push(r.outcome);
    },
  });
  t.after(async () => {
    await client.close();
    await dispatcher.close();
    await sim.stop();
  });
  return { sim, clock, client, outcomes };
}

const routeQueries = (sim: Simulator, route: string) =>
  sim
    .requests()
    .filter((r) => r.route === route)
    .map((r) => r.query);

describe("image-job calls: authentication", () => {
  for (const auth of ["aksk", "token"] as const) {
    it(`sends every job call with ${auth} auth`, async (t) => {
      const { sim, client, outcomes } = await setup(t, auth);
      const page = await client.listImageJobs("p1", { jobType: "CREATE_SERVER", status: "WAITING" });
      assert.deepEqual(
        page.items.map((j) => j.id),
        [EXPLICIT],
      );
      assert.equal(page.count, 1);
      const all = await client.listAllImageJobs("p1", { jobType: "CREATE_SERVER" });
      assert.equal(all.length, 2, "the explicit job and the creating server's");
      const subs = await client.listImageSubJobs("p1", { jobType: "CREATE_SERVER", jobId: EXPLICIT });
      assert.equal(subs.length, 2);
      const shown = await client.showImageJob("p1", EXPLICIT);
      assert.equal(shown.kind, "ok");
      const records = sim.requests();
      assert.deepEqual(
        records.map((r) => [r.route, r.status, r.auth]),
        [
          ["jobs", 200, auth],
          ["jobs", 200, auth],
          ["sub_jobs", 200, auth],
          ["job", 200, auth],
        ],
      );
      assert.deepEqual(outcomes, ["success", "success", "success", "success"]);
    });
  }
});

describe("image-job lists", () => {
  it("lists 120 FAILED history jobs in 2 calls of limit=100, each once, sorted by id", async (t) => {
    const { sim, client } = await setup(t);
    const jobs = await client.listAllImageJobs("p1", { jobType: "CREATE_SERVER_IMAGE", status: "FAILED" });
    assert.equal(jobs.length, 120);
    assert.equal(new Set(jobs.map((j) => j.id)).size, 120);
    const ids = jobs.map((j) => j.id);
    assert.deepEqual(ids, [...ids].sort());
    assert.ok(jobs.every((j) => j.status === "FAILED" && j.jobType === "CREATE_SERVER_IMAGE"));
    assert.ok(jobs.every((j) => j.subJobsTotal === 1 && j.endTime !== null && j.endTime < START));
    const queries = routeQueries(sim, "jobs");
    assert.deepEqual(
      queries.map((q) => [q.offset, q.limit, q.job_type, q.status]),
      [
        ["0", "100", "CREATE_SERVER_IMAGE", "FAILED"],
        ["100", "100", "CREATE_SERVER_IMAGE", "FAILED"],
      ],
    );
  });

  it("reads one page at the offset and limit given (default offset 0, limit 100)", async (t) => {
    const { sim, client } = await setup(t);
    const page = await client.listImageJobs("p1", {
      jobType: "CREATE_SERVER_IMAGE",
      status: "FAILED",
      offset: 100,
      limit: 50,
    });
    assert.deepEqual([page.count, page.items.length], [120, 20]);
    const first = await client.listImageJobs("p1", { jobType: "CREATE_SERVER_IMAGE" });
    assert.deepEqual([first.count, first.items.length], [122, 100]);
    assert.deepEqual(
      routeQueries(sim, "jobs").map((q) => [q.offset, q.limit, q.status]),
      [
        ["100", "50", "FAILED"],
        ["0", "100", undefined],
      ],
    );
  });

  it("filters by status: the two running builds, and an empty type", async (t) => {
    const { client } = await setup(t);
    const running = await client.listAllImageJobs("p1", {
      jobType: "CREATE_SERVER_IMAGE",
      status: "RUNNING",
    });
    assert.equal(running.length, 2);
    assert.ok(running.every((j) => j.status === "RUNNING" && j.endTime === null && j.beginTime !== null));
    assert.deepEqual(await client.listAllImageJobs("p1", { jobType: "DELETE_SERVER" }), []);
  });

  it("lists the sub-jobs of one job, with their resources", async (t) => {
    const { sim, client } = await setup(t);
    const subs = await client.listImageSubJobs("p1", { jobType: "CREATE_SERVER", jobId: EXPLICIT });
    assert.deepEqual(
      subs.map((s) => [s.id, s.jobId, s.status, s.resourceId, s.resourceName, s.errorCode]),
      [
        ["700000000000000011", EXPLICIT, "WAITING", "s-x", "x", ""],
        ["700000000000000012", EXPLICIT, "WAITING", "s-y", "y", ""],
      ],
    );
    const [q] = routeQueries(sim, "sub_jobs");
    assert.deepEqual([q?.job_type, q?.job_id, q?.offset, q?.limit], ["CREATE_SERVER", EXPLICIT, "0", "100"]);
    const abnormal = await client.listImageSubJobs("p1", {
      jobType: "CREATE_SERVER_IMAGE",
      status: "ABNORMAL",
    });
    assert.deepEqual(abnormal, [], "nothing failed yet");
  });
});

describe("showImageJob", () => {
  it("shows a failed job with its sub-jobs' failure reasons", async (t) => {
    const { client, clock } = await setup(t);
    clock.set(START + 31_000);
    const shown = await client.showImageJob("p1", EXPLICIT);
    assert.equal(shown.kind, "ok");
    if (shown.kind !== "ok") return;
    const { job } = shown;
    assert.deepEqual(
      [job.id, job.jobType, job.status, job.beginTime, job.endTime, job.subJobsTotal],
      [EXPLICIT, "CREATE_SERVER", "FAILED", START - 5 * 60_000, START + 30_000, 2],
    );
    assert.equal(jobDurationSeconds(job), 330);
    assert.deepEqual(jobFailures(job), [
      {
        sub_job_id: "700000000000000011",
        status: "ROLLBACK",
        error_code: "WKS.0200",
        error_message: "quota exceeded",
        resource_id: "s-x",
        resource_name: "x",
      },
      {
        sub_job_id: "700000000000000012",
        status: "ROLLBACK",
        error_code: "WKS.0200",
        error_message: "quota exceeded",
        resource_id: "s-y",
        resource_name: "y",
      },
    ]);
    assert.equal(job.raw.id, EXPLICIT);
  });

  it("answers not_found for an unknown job (with the request id), counted not_found, not retried", async (t) => {
    const { sim, client, outcomes } = await setup(t);
    const shown = await client.showImageJob("p1", "123456789012345678");
    assert.equal(shown.kind, "not_found");
    assert.match(shown.kind === "not_found" ? (shown.requestId ?? "") : "", /^[0-9a-f]{32}$/);
    assert.equal(sim.counts().byRoute.job, 1);
    assert.deepEqual(outcomes, ["not_found"]);
  });
});

describe("image-job calls: failures", () => {
  const rejectsWith = (code: string, outcome: string, attempts: number) => (e: unknown) =>
    e instanceof CloudError && e.code === code && e.outcome === outcome && e.attempts === attempts;

  it("a 400 is CLOUD_HTTP_4XX, tried once", async (t) => {
    const { sim, client, outcomes } = await setup(t);
    sim.injectFault({
      route: "jobs",
      status: 400,
      count: 3,
      body: { error_code: "WKS.0001", error_msg: "Invalid parameter: job_type is required" },
    });
    await assert.rejects(
      client.listAllImageJobs("p1", { jobType: "CREATE_SERVER" }),
      (e: unknown) =>
        rejectsWith("CLOUD_HTTP_4XX", "http_4xx", 1)(e) &&
        e instanceof CloudError &&
        e.httpStatus === 400 &&
        e.errorCode === "WKS.0001" &&
        /job_type is required/.test(e.message),
    );
    assert.equal(sim.counts().byRoute.jobs, 1);
    assert.deepEqual(outcomes, ["http_4xx"]);
  });

  it("a 403 (no job permission) is CLOUD_AUTH, tried once", async (t) => {
    const { sim, client, outcomes } = await setup(t);
    sim.injectFault({ route: "sub_jobs", status: 403, count: 3 });
    await assert.rejects(
      client.listImageSubJobs("p1", { jobType: "CREATE_SERVER" }),
      rejectsWith("CLOUD_AUTH", "auth", 1),
    );
    assert.deepEqual(outcomes, ["auth"]);
  });

  it("a 503 is retried until it succeeds, every try counted", async (t) => {
    const { sim, client, outcomes } = await setup(t);
    sim.injectFault({ route: "job", jobId: EXPLICIT, status: 503, count: 2 });
    const shown = await client.showImageJob("p1", EXPLICIT);
    assert.equal(shown.kind, "ok");
    assert.equal(sim.counts().byRoute.job, 3);
    assert.deepEqual(outcomes, ["http_5xx", "http_5xx", "success"]);
  });

  it("a 503 on every try fails CLOUD_HTTP_5XX after retry.attempts tries", async (t) => {
    const { sim, client } = await setup(t);
    sim.injectFault({ route: "jobs", status: 503, count: 5 });
    await assert.rejects(
      client.listImageJobs("p1", { jobType: "CREATE_SERVER" }),
      rejectsWith("CLOUD_HTTP_5XX", "http_5xx", 3),
    );
    assert.equal(sim.counts().byRoute.jobs, 3);
  });

  it("a body of the wrong shape or malformed JSON is CLOUD_INVALID_RESPONSE, not retried", async (t) => {
    const { sim, client, outcomes } = await setup(t);
    sim.injectFault({ route: "jobs", wrongShape: true, count: 3 });
    await assert.rejects(
      client.listAllImageJobs("p1", { jobType: "CREATE_SERVER" }),
      (e: unknown) =>
        rejectsWith("CLOUD_INVALID_RESPONSE", "invalid_response", 1)(e) &&
        e instanceof CloudError &&
        /unexpected shape \(list body has no items array\)/.test(e.message),
    );
    sim.clearFaults();
    sim.injectFault({ route: "job", malformedJson: true, count: 3 });
    await assert.rejects(
      client.showImageJob("p1", EXPLICIT),
      rejectsWith("CLOUD_INVALID_RESPONSE", "invalid_response", 1),
    );
    sim.clearFaults();
    sim.injectFault({ route: "job", wrongShape: true, count: 3 });
    await assert.rejects(
      client.showImageJob("p1", EXPLICIT),
      (e: unknown) => e instanceof CloudError && /image job has no string id/.test(e.message),
    );
    assert.deepEqual(outcomes, ["invalid_response", "invalid_response", "invalid_response"]);
  });
});
