import assert from "node:assert/strict";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { signRequest } from "../../src/cloud/signer.js";
import { ConfigError } from "../../src/lib/errors.js";
import {
  type ApiJob,
  createSimulator,
  loadScenario,
  normaliseScenario,
  type Simulator,
} from "../../src/simulator/index.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const JOBS = path.join(here, "..", "fixtures", "scenarios", "jobs.yaml");
const DEMO = path.join(here, "..", "..", "config", "demo-scenario.yaml");
const START = Date.parse("2026-11-27T10:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();
const EXPLICIT = "700000000000000001";

const agent = new Agent();
after(() => agent.close());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are inspected loosely
  json: any;
}

async function send(
  sim: Simulator,
  p: string,
  headers: Record<string, string>,
  method = "GET",
): Promise<Answer> {
  const res = await request(`${sim.url}${p}`, { method: method as "GET", headers, dispatcher: agent });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text === "" ? undefined : JSON.parse(text) };
}

async function withSimulator(
  file: string,
  fn: (sim: Simulator, clock: ManualClock, get: (p: string) => Promise<Answer>) => Promise<void>,
) {
  const clock = createManualClock(START);
  const sim = createSimulator({ clock, scenario: loadScenario(file) });
  await sim.start();
  const token = sim.issueToken().token;
  try {
    await fn(sim, clock, (p) => send(sim, p, { "X-Auth-Token": token }));
  } finally {
    await sim.stop();
  }
}

/** The jobs of a project of a type, with their sub-jobs, found through the API. */
async function jobsOf(
  get: (p: string) => Promise<Answer>,
  project: string,
  jobType: string,
): Promise<ApiJob[]> {
  const list = await get(`/v1/${project}/image-server-jobs?job_type=${jobType}&limit=100`);
  assert.equal(list.status, 200);
  const out: ApiJob[] = [];
  for (const item of list.json.items)
    out.push((await get(`/v1/${project}/image-server-jobs/${item.id}`)).json);
  return out;
}

const byResourceName = (jobs: ApiJob[], name: string) =>
  jobs.filter((j) => j.sub_jobs.some((s) => s.job_resource_info.resource_name === name));

describe("job list parameters", () => {
  it("answers 400 with a WKS error body without job_type, for an unknown one, a bad status or limit", async () => {
    await withSimulator(JOBS, async (_sim, _clock, get) => {
      const cases: Array<[string, RegExp]> = [
        ["/v1/p1/image-server-jobs", /job_type is required/],
        ["/v1/p1/image-server-jobs?job_type=", /job_type is required/],
        ["/v1/p1/image-server-sub-jobs?status=FAILED", /job_type is required/],
        ["/v1/p1/image-server-jobs?job_type=BUILD", /job_type must be one of/],
        ["/v1/p1/image-server-jobs?job_type=CREATE_SERVER&status=ABNORMAL", /status must be one of/],
        ["/v1/p1/image-server-jobs?job_type=CREATE_SERVER&limit=0", /limit/],
        ["/v1/p1/image-server-jobs?job_type=CREATE_SERVER&limit=101", /limit/],
        ["/v1/p1/image-server-sub-jobs?job_type=CREATE_SERVER&limit=abc", /limit/],
        ["/v1/p1/image-server-jobs?job_type=CREATE_SERVER&offset=-1", /offset/],
      ];
      for (const [p, message] of cases) {
        const answer = await get(p);
        assert.equal(answer.status, 400, p);
        assert.equal(answer.json.error_code, "WKS.0001", p);
        assert.match(answer.json.error_msg, message, p);
        assert.match(String(answer.headers["x-request-id"]), /^[0-9a-f]{32}$/, p);
      }
      assert.equal((await get("/v1/p1/image-server-jobs?job_type=CREATE_SERVER&limit=100")).status, 200);
      assert.equal((await get("/v1/p1/image-server-jobs?job_type=CREATE_SERVER&limit=1")).status, 200);
      const subs = await get("/v1/p1/image-server-sub-jobs?job_type=CREATE_SERVER_IMAGE&status=ABNORMAL");
      assert.equal(subs.status, 200, "sub-job statuses include ABNORMAL");
    });
  });

  it("pages 120 historical FAILED jobs: count is the total, offset and limit cut the page, default limit 10", async () => {
    await withSimulator(JOBS, async (_sim, _clock, get) => {
      const base = "/v1/p1/image-server-jobs?job_type=CREATE_SERVER_IMAGE&status=FAILED";
      const first = await get(base);
      assert.equal(first.json.count, 120);
      assert.equal(first.json.items.length, 10, "default limit");
      const ids = new Set<string>();
      const sizes: number[] = [];
      for (let offset = 0; offset < 150; offset += 50) {
        const page = await get(`${base}&offset=${offset}&limit=50`);
        assert.equal(page.json.count, 120);
        sizes.push(page.json.items.length);
        for (const item of page.json.items) {
          assert.deepEqual(Object.keys(item), [
            "id",
            "job_type",
            "begin_time",
            "end_time",
            "status",
            "sub_jobs_total",
          ]);
          assert.equal(item.status, "FAILED");
          assert.ok(Date.parse(item.end_time) < START, "history ended before the start");
          ids.add(item.id);
        }
      }
      assert.deepEqual(sizes, [50, 50, 20]);
      assert.equal(ids.size, 120, "pages neither overlap nor skip");
      assert.deepEqual((await get(`${base}&offset=200`)).json, { count: 120, items: [] });
    });
  });

  it("filters by status: the two running builds are not FAILED", async () => {
    await withSimulator(JOBS, async (_sim, _clock, get) => {
      const all = await get("/v1/p1/image-server-jobs?job_type=CREATE_SERVER_IMAGE");
      assert.equal(all.json.count, 122);
      const running = await get("/v1/p1/image-server-jobs?job_type=CREATE_SERVER_IMAGE&status=RUNNING");
      assert.equal(running.json.count, 2);
      assert.ok(running.json.items.every((j: { status: string }) => j.status === "RUNNING"));
      assert.equal(
        (await get("/v1/p1/image-server-jobs?job_type=CREATE_SERVER&status=WAITING")).json.count,
        1,
      );
      assert.equal((await get("/v1/p1/image-server-jobs?job_type=DELETE_SERVER")).json.count, 0);
    });
  });
});

describe("ShowImageJob and ListImageSubJobs", () => {
  it("shows a job with its sub-jobs, follows its timeline, and answers 404 for an unknown job", async () => {
    await withSimulator(JOBS, async (_sim, clock, get) => {
      const waiting = await get(`/v1/p1/image-server-jobs/${EXPLICIT}`);
      assert.equal(waiting.status, 200);
      assert.deepEqual(Object.keys(waiting.json), [
        "id",
        "job_type",
        "begin_time",
        "status",
        "sub_jobs_total",
        "sub_jobs",
      ]);
      assert.equal(waiting.json.status, "WAITING");
      assert.equal(waiting.json.begin_time, iso(START - 5 * 60_000));
      assert.equal(waiting.json.sub_jobs_total, 2);
      assert.deepEqual(waiting.json.sub_jobs[0], {
        id: "700000000000000011",
        job_type: "CREATE_SERVER",
        job_resource_info: { resource_id: "s-x", resource_name: "x" },
        begin_time: iso(START - 5 * 60_000),
        status: "WAITING",
        job_execute_info: {},
        project_id: "p1",
        job_id: EXPLICIT,
      });

      clock.set(START + 10_000);
      assert.equal((await get(`/v1/p1/image-server-jobs/${EXPLICIT}`)).json.status, "RUNNING");
      clock.set(START + 31_000);
      const failed = (await get(`/v1/p1/image-server-jobs/${EXPLICIT}`)).json;
      assert.equal(failed.status, "FAILED");
      assert.equal(failed.end_time, iso(START + 30_000), "end_time is the step's moment");
      for (const sub of failed.sub_jobs) {
        assert.equal(sub.status, "ROLLBACK");
        assert.equal(sub.end_time, iso(START + 30_000));
        assert.deepEqual(sub.job_execute_info, { error_code: "WKS.0200", error_message: "quota exceeded" });
      }

      const missing = await get("/v1/p1/image-server-jobs/123456789012345678");
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error_code, "WKS.0004");
      assert.equal(
        (await get(`/v1/p2/image-server-jobs/${EXPLICIT}`)).status,
        404,
        "jobs belong to their project",
      );
      assert.equal((await get("/v1/nope/image-server-jobs?job_type=CREATE_SERVER")).status, 403);
    });
  });

  it("lists sub-jobs filtered by job_id, job_type and status", async () => {
    await withSimulator(JOBS, async (_sim, clock, get) => {
      const mine = await get(`/v1/p1/image-server-sub-jobs?job_type=CREATE_SERVER&job_id=${EXPLICIT}`);
      assert.equal(mine.json.count, 2);
      assert.deepEqual(
        mine.json.items.map((s: { id: string; job_id: string }) => [s.id, s.job_id]),
        [
          ["700000000000000011", EXPLICIT],
          ["700000000000000012", EXPLICIT],
        ],
      );
      const paged = await get(
        `/v1/p1/image-server-sub-jobs?job_type=CREATE_SERVER&job_id=${EXPLICIT}&offset=1&limit=1`,
      );
      assert.deepEqual(
        [paged.json.count, paged.json.items.length, paged.json.items[0].id],
        [2, 1, "700000000000000012"],
      );
      const otherType = await get(`/v1/p1/image-server-sub-jobs?job_type=DELETE_SERVER&job_id=${EXPLICIT}`);
      assert.equal(otherType.json.count, 0);
      const allCreates = await get("/v1/p1/image-server-sub-jobs?job_type=CREATE_SERVER");
      assert.equal(allCreates.json.count, 3, "two explicit sub-jobs and the creating server's");

      clock.set(START + 26_000);
      const abnormal = await get("/v1/p1/image-server-sub-jobs?job_type=CREATE_SERVER_IMAGE&status=ABNORMAL");
      assert.equal(abnormal.json.count, 1);
      const [sub] = abnormal.json.items;
      assert.deepEqual(sub.job_resource_info, { resource_id: "build-bad", resource_name: "build-bad" });
      assert.deepEqual(sub.job_execute_info, {
        error_code: "WKS.0127",
        error_message: "disk quota exceeded",
      });
      assert.equal(sub.project_id, "p1");
      assert.match(sub.job_id, /^\d{18}$/);
    });
  });
});

describe("jobs derived from server timelines", () => {
  it("gives CREATING, BUILDING and DELETING servers jobs that end as the timeline moves", async () => {
    await withSimulator(JOBS, async (_sim, clock, get) => {
      const [create] = byResourceName(await jobsOf(get, "p1", "CREATE_SERVER"), "new-instance");
      assert.ok(create);
      assert.match(create.id, /^\d{18}$/);
      assert.equal(create.status, "RUNNING");
      assert.equal(create.begin_time, iso(START - 30_000), "running since the server's update_time");
      assert.equal(create.end_time, undefined);
      assert.deepEqual(create.sub_jobs[0]?.job_resource_info, {
        resource_id: "creating",
        resource_name: "new-instance",
      });

      const builds = await jobsOf(get, "p1", "CREATE_SERVER_IMAGE");
      const [ok] = byResourceName(builds, "build-ok");
      assert.equal(ok?.status, "RUNNING");
      assert.equal(
        ok?.sub_jobs[0]?.job_resource_info.resource_id,
        "build-ok",
        "the server id until an image id is set",
      );

      clock.set(START + 16_000);
      const okDone = (await get(`/v1/p1/image-server-jobs/${ok?.id}`)).json;
      assert.equal(okDone.status, "SUCCESS");
      assert.equal(okDone.end_time, iso(START + 15_000));
      assert.equal(okDone.sub_jobs[0].status, "SUCCESS");
      assert.deepEqual(okDone.sub_jobs[0].job_resource_info, {
        resource_id: "img-ok",
        resource_name: "build-ok",
      });
      assert.deepEqual(okDone.sub_jobs[0].job_execute_info, {});

      clock.set(START + 21_000);
      const createDone = (await get(`/v1/p1/image-server-jobs/${create.id}`)).json;
      assert.deepEqual([createDone.status, createDone.end_time], ["SUCCESS", iso(START + 20_000)]);

      clock.set(START + 25_000);
      const [bad] = byResourceName(await jobsOf(get, "p1", "CREATE_SERVER_IMAGE"), "build-bad");
      assert.equal(bad?.status, "FAILED");
      assert.equal(bad?.sub_jobs[0]?.status, "ABNORMAL");
      assert.deepEqual(bad?.sub_jobs[0]?.job_execute_info, {
        error_code: "WKS.0127",
        error_message: "disk quota exceeded",
      });

      assert.equal((await get("/v1/p1/image-server-jobs?job_type=DELETE_SERVER")).json.count, 0);
      clock.set(START + 35_000);
      const [del] = byResourceName(await jobsOf(get, "p1", "DELETE_SERVER"), "old-instance");
      assert.deepEqual([del?.status, del?.begin_time], ["RUNNING", iso(START + 35_000)]);
      clock.set(START + 50_000);
      const gone = (await get(`/v1/p1/image-server-jobs/${del?.id}`)).json;
      assert.deepEqual([gone.status, gone.end_time], ["SUCCESS", iso(START + 45_000)]);
      const deletes = await get("/v1/p1/image-server-jobs?job_type=DELETE_SERVER");
      assert.equal(deletes.json.count, 2, "and the explicit job that appeared at 40s");
    });
  });

  it("derives the same job ids on every run, and none where deriveJobs is false", async () => {
    const ids: string[][] = [];
    for (let run = 0; run < 2; run++) {
      await withSimulator(JOBS, async (sim) => {
        ids.push(
          sim
            .listJobs("p1")
            .map((j) => j.id)
            .sort(),
        );
        assert.deepEqual(sim.listJobs("p2"), []);
      });
    }
    assert.equal(ids[0]?.length, 120 + 3 + 1);
    assert.deepEqual(ids[0], ids[1]);
  });

  it("turns the demo's failed build into a FAILED job with its reason and the finished one into SUCCESS", async () => {
    await withSimulator(DEMO, async (sim, clock) => {
      const P = "0123456789abcdef0123456789abcdef";
      clock.set(START + 30_000);
      const builds = sim.listJobs(P).filter((j) => j.job_type === "CREATE_SERVER_IMAGE");
      const [failed] = byResourceName(builds, "build-dev-workstation");
      assert.equal(failed?.status, "FAILED");
      assert.deepEqual(failed?.sub_jobs[0]?.job_execute_info, {
        error_code: "WKS.0127",
        error_message: "disk quota exceeded",
      });
      const [done] = byResourceName(builds, "build-office-2026");
      assert.equal(done?.status, "SUCCESS");
      assert.equal(done?.sub_jobs[0]?.job_resource_info.resource_id, "5f0e0c1a-7c1b-4c55-9d0e-000000000001");
      const [stalled] = byResourceName(builds, "build-cad-tools");
      assert.equal(stalled?.status, "RUNNING");
    });
  });
});

describe("job control", () => {
  it("adds a job and moves its status between two requests (JS API)", async () => {
    await withSimulator(JOBS, async (sim, clock, get) => {
      const added = sim.addJob("p1", {
        job_type: "CREATE_SERVER_IMAGE",
        begin_time: "-2h",
        sub_jobs: [
          { status: "WAITING", job_resource_info: { resource_id: "srv-9", resource_name: "build-nine" } },
        ],
      });
      assert.match(added.id, /^\d{18}$/);
      assert.deepEqual([added.status, added.begin_time], ["RUNNING", iso(START - 2 * 3_600_000)]);
      assert.equal(added.sub_jobs[0]?.status, "WAITING", "a sub-job may have its own status");
      clock.advance(5_000);
      const failed = sim.setJobStatus("p1", added.id, "FAILED", {
        subJobStatus: "ABNORMAL",
        executeInfo: { error_code: "WKS.0300", error_message: "no capacity" },
      });
      assert.equal(failed?.end_time, iso(START + 5_000));
      const shown = (await get(`/v1/p1/image-server-jobs/${added.id}`)).json;
      assert.equal(shown.status, "FAILED");
      assert.deepEqual(shown.sub_jobs[0].job_execute_info, {
        error_code: "WKS.0300",
        error_message: "no capacity",
      });
      assert.equal(sim.setJobStatus("p1", "1", "SUCCESS"), undefined);
      assert.throws(() => sim.addJob("p1", { job_type: "BUILD" as "CREATE_SERVER" }), ConfigError);
      assert.ok(sim.removeJob("p1", added.id));
      assert.equal((await get(`/v1/p1/image-server-jobs/${added.id}`)).status, 404);
    });
  });

  it("derives a FAILED job with a reason from setStatus", async () => {
    await withSimulator(JOBS, async (sim, clock) => {
      sim.setStatus("p1", "build-ok", "BUILDING");
      const before = byResourceName(sim.listJobs("p1"), "build-ok").filter((j) => j.status === "RUNNING");
      assert.equal(before.length, 1, "still the one build: the same status changes nothing");
      clock.advance(1_000);
      sim.setStatus("p1", "build-ok", "ERROR", {
        job: { error_code: "WKS.0400", error_message: "bad image" },
      });
      const job = sim.getJob("p1", before[0]?.id ?? "");
      assert.equal(job?.status, "FAILED");
      assert.deepEqual(job?.sub_jobs[0]?.job_execute_info, {
        error_code: "WKS.0400",
        error_message: "bad image",
      });
      assert.equal(job?.sub_jobs[0]?.status, "FAILED", "the default sub-job status");
    });
  });

  it("serves the same calls under /__sim/", async () => {
    await withSimulator(JOBS, async (sim, _clock, get) => {
      const post = await request(`${sim.url}/__sim/projects/p9/jobs`, {
        method: "POST",
        dispatcher: agent,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "888888888888888888", job_type: "DELETE_SERVER", sub_jobs: [{}] }),
      });
      assert.equal(post.statusCode, 201);
      assert.equal(((await post.body.json()) as ApiJob).status, "RUNNING");
      const put = await request(`${sim.url}/__sim/projects/p9/jobs/888888888888888888/status`, {
        method: "PUT",
        dispatcher: agent,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ status: "SUCCESS", end_time: "-1m" }),
      });
      assert.equal(put.statusCode, 200);
      assert.equal(((await put.body.json()) as ApiJob).end_time, iso(START - 60_000));
      const shown = await get("/v1/p9/image-server-jobs/888888888888888888");
      assert.deepEqual([shown.json.status, shown.json.sub_jobs[0].status], ["SUCCESS", "SUCCESS"]);
      const listed = await send(sim, "/__sim/projects/p9/jobs", {});
      assert.deepEqual(
        listed.json.items.map((j: ApiJob) => j.id),
        ["888888888888888888"],
      );
      const bad = await send(sim, "/__sim/projects/p9/jobs/888888888888888888/status", {}, "PUT");
      assert.equal(bad.status, 400);
      assert.equal((await send(sim, "/__sim/projects/p9/jobs/1", {}, "DELETE")).status, 404);
      assert.equal((await send(sim, "/__sim/projects/p9/jobs/888888888888888888", {}, "DELETE")).status, 204);
    });
  });
});

describe("job routes: authentication, counters and faults", () => {
  it("requires a token or an AK/SK signature on every job route", async () => {
    await withSimulator(JOBS, async (sim, clock) => {
      const paths = [
        "/v1/p1/image-server-jobs?job_type=CREATE_SERVER",
        `/v1/p1/image-server-jobs/${EXPLICIT}`,
        "/v1/p1/image-server-sub-jobs?job_type=CREATE_SERVER",
      ];
      for (const p of paths) {
        const none = await send(sim, p, {});
        assert.equal(none.status, 401, p);
        assert.equal(none.json.error_code, "APIGW.0301");
        assert.match(String(none.headers["x-request-id"]), /^[0-9a-f]{32}$/);
        assert.equal((await send(sim, p, { "X-Auth-Token": "forged" })).status, 401, p);
        const headers = signRequest(
          { method: "GET", url: `${sim.url}${p}`, headers: {} },
          { accessKey: "AKJOBS", secretKey: "sk-jobs" },
          { now: clock.now(), projectId: "p1" },
        );
        const signed = await send(sim, p, headers);
        assert.equal(signed.status, 200, p);
        assert.match(String(signed.headers["x-request-id"]), /^[0-9a-f]{32}$/);
      }
      assert.equal(sim.counts().byAuth.aksk, 3);
      assert.equal((await send(sim, "/v1/p1/image-server-jobs", {}, "POST")).status, 405);
    });
  });

  it("counts each job route under its own name, and injects faults on it", async () => {
    await withSimulator(JOBS, async (sim, _clock, get) => {
      await get("/v1/p1/image-server-jobs?job_type=CREATE_SERVER");
      await get("/v1/p1/image-server-jobs?job_type=DELETE_SERVER");
      await get(`/v1/p1/image-server-jobs/${EXPLICIT}`);
      await get("/v1/p1/image-server-sub-jobs?job_type=CREATE_SERVER");
      assert.deepEqual(sim.counts().byRoute, {
        get: 0,
        list: 0,
        token: 0,
        jobs: 2,
        job: 1,
        sub_jobs: 1,
        metadata: 0,
        securitytokens: 0,
        other: 0,
      });
      assert.deepEqual(
        sim.requests().map((r) => r.route),
        ["jobs", "jobs", "job", "sub_jobs"],
      );

      sim.injectFault({ route: "jobs", status: 403, count: 1 });
      sim.injectFault({ route: "job", jobId: EXPLICIT, status: 503 });
      assert.equal((await get("/v1/p1/image-servers")).status, 200, "server routes are not hit");
      assert.equal((await get("/v1/p1/image-server-sub-jobs?job_type=CREATE_SERVER")).status, 200);
      assert.equal((await get("/v1/p1/image-server-jobs?job_type=CREATE_SERVER")).status, 403);
      assert.equal((await get("/v1/p1/image-server-jobs?job_type=CREATE_SERVER")).status, 200);
      assert.equal((await get("/v1/p1/image-server-jobs/123456789012345678")).status, 404, "another job");
      const faulted = await get(`/v1/p1/image-server-jobs/${EXPLICIT}`);
      assert.deepEqual([faulted.status, faulted.json.error_code], [503, "WKS.0003"]);
      sim.injectFault({ route: "job", status: 404 });
      assert.equal(
        (await get(`/v1/p1/image-server-jobs/${EXPLICIT}`)).json.error_msg,
        "The job does not exist",
      );
    });
  });
});

describe("job scenarios", () => {
  it("reports bad job input with its path", () => {
    const credentials = { accessKey: "a", secretKey: "b", domain: "d", username: "u", password: "p" };
    assert.throws(
      () =>
        normaliseScenario({
          credentials,
          projects: [
            {
              id: "p",
              jobs: [
                { job_type: "BUILD" },
                { id: "12", job_type: "CREATE_SERVER", timeline: [{ after: "1s", status: "DONE" }] },
                { id: "12", job_type: "CREATE_SERVER" },
              ],
              history: { failed: 0, job_type: "CREATE_SERVER" },
              servers: [
                { id: "s", timeline: [{ after: "1s", status: "ERROR", job: { sub_job_status: "OOPS" } }] },
              ],
            },
          ],
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(
          err.issues.map((i) => i.path),
          [
            "projects[0].servers[0].timeline[0].job.sub_job_status",
            "projects[0].jobs[0].job_type",
            "projects[0].jobs[1].timeline[0].status",
            "projects[0].history.failed",
          ],
        );
        return true;
      },
    );
    assert.throws(
      () =>
        normaliseScenario({
          credentials,
          projects: [
            {
              id: "p",
              jobs: [
                { id: "12", job_type: "CREATE_SERVER" },
                { id: "12", job_type: "CREATE_SERVER" },
              ],
            },
          ],
        }),
      /projects\[0\]\.jobs\[1\]\.id: duplicate job 12/,
    );
  });
});
