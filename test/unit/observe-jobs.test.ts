/**
 * The pure job observation (domain/observe-jobs): which look-ups a tick needs, history learned silently,
 * failures and successes once, stuck reminders, correlation, shard ownership, and the readable line of a
 * job event in every chat format.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { WebhookConfig } from "../../src/config/types.js";
import type { ImageJob, ImageJobDetail, ImageSubJob, JobType } from "../../src/domain/jobs.js";
import {
  failedCountMoved,
  type JobCursor,
  type JobObserveInput,
  type JobRecord,
  type JobTypeLists,
  observeJobs,
  planJobFetches,
} from "../../src/domain/observe-jobs.js";
import { shardOf } from "../../src/domain/sharding.js";
import { WEBHOOK_FORMATS } from "../../src/notify/formats/index.js";
import { buildRequest } from "../../src/notify/payload.js";

const P = "p1";
const T0 = Date.parse("2026-11-27T10:00:00.000Z");
const MIN = 60_000;
const CURSOR: JobCursor = { projectId: P, failedCounts: {} };

function job(id: string, status: string, over: Partial<ImageJob> = {}): ImageJob {
  return {
    id,
    jobType: "CREATE_SERVER_IMAGE",
    status,
    beginTime: T0 - 23 * MIN,
    endTime: status === "RUNNING" || status === "WAITING" ? null : T0,
    subJobsTotal: 1,
    raw: {},
    ...over,
  };
}

function sub(jobId: string, over: Partial<ImageSubJob> = {}): ImageSubJob {
  return {
    id: `${jobId}-1`,
    jobType: "CREATE_SERVER_IMAGE",
    status: "SUCCESS",
    resourceId: "srv-1",
    resourceName: "build-office-2026",
    beginTime: T0 - 23 * MIN,
    endTime: null,
    errorCode: "",
    errorMessage: "",
    jobId,
    raw: {},
    ...over,
  };
}

function detail(j: ImageJob, subs: ImageSubJob[]): ImageJobDetail {
  return { ...j, subJobs: subs };
}

function lists(active: ImageJob[] = [], failed: ImageJob[] = [], jobType: JobType = "CREATE_SERVER_IMAGE") {
  return [{ jobType, active, failed, failedCount: failed.length } satisfies JobTypeLists];
}

function input(over: Partial<JobObserveInput>): JobObserveInput {
  return {
    projectId: P,
    now: T0,
    cursor: CURSOR,
    known: new Map(),
    lists: [],
    details: new Map(),
    subJobs: new Map(),
    servers: [{ id: "srv-1", name: "build-office-2026", imageId: "img-1" }],
    config: { stuck: { CREATE_SERVER_IMAGE: 60 * MIN }, repeatEvery: 0, sharding: { count: 1, index: 0 } },
    ...over,
  };
}

const known = (records: JobRecord[]) => new Map(records.map((r) => [r.jobId, r]));

describe("planJobFetches", () => {
  it("asks sub-jobs of new active jobs, ShowImageJob for new failures and for active jobs that left", () => {
    const running = observeJobs(input({ lists: lists([job("j1", "RUNNING")]) })).records;
    const plan = planJobFetches(known(running), CURSOR, lists([job("j2", "RUNNING")], [job("j3", "FAILED")]));
    assert.deepEqual(plan.subJobs, [{ jobId: "j2", jobType: "CREATE_SERVER_IMAGE" }]);
    assert.deepEqual(plan.show.sort(), ["j1", "j3"]);
  });

  it("the first tick (no cursor) looks nothing up for the FAILED history", () => {
    const plan = planJobFetches(new Map(), undefined, lists([], [job("j1", "FAILED"), job("j2", "FAILED")]));
    assert.deepEqual(plan, { show: [], subJobs: [] });
  });

  it("jobOfServer and active cover the known records this tick did not touch as well as the changed ones", () => {
    const base = {
      ...observeJobs(input({ lists: lists([job("j-run", "RUNNING")]) })).records[0],
    } as JobRecord;
    const rec = (jobId: string, status: string, beginTime: number, serverId = "srv-1") =>
      ({ ...base, jobId, status, beginTime, serverId, outcomeHandled: status !== "RUNNING" }) as JobRecord;
    const history = known([
      rec("newest-known", "SUCCESS", T0 - 10 * MIN),
      rec("older-known", "SUCCESS", T0 - 60 * MIN),
      rec("other-server", "SUCCESS", T0 - 90 * MIN, "srv-2"),
      rec("still-running", "RUNNING", T0 - 5 * MIN, "srv-3"),
    ]);
    // This tick: srv-3's job is still listed; a newer job of srv-1 shows up FAILED (its sub-job names srv-1).
    const out = observeJobs(
      input({
        known: history,
        lists: lists(
          [job("still-running", "RUNNING")],
          [job("late-failure", "FAILED", { beginTime: T0 - MIN })],
        ),
        subJobs: new Map([["late-failure", [sub("late-failure")]]]),
      }),
    );
    assert.equal(
      out.jobOfServer.get("srv-1")?.job_id,
      "late-failure",
      "a changed record newer than the known ones",
    );
    assert.equal(
      out.jobOfServer.get("srv-2")?.job_id,
      "other-server",
      "a known record the tick did not touch",
    );
    assert.equal(out.jobOfServer.get("srv-3")?.job_id, "still-running");
    assert.deepEqual(out.active, [{ jobType: "CREATE_SERVER_IMAGE", status: "RUNNING" }]);
    assert.equal(history.size, 4, "the known records are not modified");
  });

  it("jobOfServer: of two jobs of a server that began together, the greater job id, in either order", () => {
    const base = {
      ...observeJobs(input({ lists: lists([job("j-run", "RUNNING")]) })).records[0],
    } as JobRecord;
    const rec = (jobId: string) =>
      ({
        ...base,
        jobId,
        status: "SUCCESS",
        beginTime: T0,
        serverId: "srv-1",
        outcomeHandled: true,
      }) as JobRecord;
    for (const order of [
      ["job-a", "job-b"],
      ["job-b", "job-a"],
    ]) {
      const out = observeJobs(input({ known: known(order.map(rec)) }));
      assert.equal(out.jobOfServer.get("srv-1")?.job_id, "job-b", `known in the order ${order.join(", ")}`);
    }
  });

  it("a FAILED job it does not know that ended before forgetBefore is pruned history: no look-up, record or event", () => {
    const forgetBefore = T0 - 14 * 24 * 60 * MIN;
    const pruned = job("old", "FAILED", { beginTime: forgetBefore - 2 * MIN, endTime: forgetBefore - MIN });
    const lateEnd = job("late", "FAILED", { beginTime: forgetBefore - 2 * MIN, endTime: forgetBefore + MIN });
    const noBegin = job("nobegin", "FAILED", { beginTime: null, endTime: forgetBefore - MIN });
    const failed = lists([], [pruned, lateEnd, noBegin]);
    const plan = planJobFetches(new Map(), CURSOR, failed, forgetBefore);
    assert.deepEqual(plan.show.sort(), ["late", "nobegin"]);
    assert.deepEqual(planJobFetches(new Map(), CURSOR, failed).show.sort(), ["late", "nobegin", "old"]);

    const base = input({ lists: failed });
    const out = observeJobs({ ...base, config: { ...base.config, forgetBefore } });
    assert.deepEqual(out.records.map((r) => r.jobId).sort(), ["late", "nobegin"]);
    assert.deepEqual(out.events.map((e) => e.data.job_id).sort(), ["late", "nobegin"]);
    // Known, it is handled as always (a record is only pruned once its outcome was handled).
    const knownOld = known([
      { ...out.records[0], jobId: "old", status: "RUNNING", outcomeHandled: false } as JobRecord,
    ]);
    assert.deepEqual(planJobFetches(knownOld, CURSOR, failed, forgetBefore).show.sort(), [
      "late",
      "nobegin",
      "old",
    ]);
  });

  it("the FAILED list is read past page one only when its count moved", () => {
    assert.equal(failedCountMoved(undefined, "CREATE_SERVER", 120), true);
    assert.equal(
      failedCountMoved({ projectId: P, failedCounts: { CREATE_SERVER: 120 } }, "CREATE_SERVER", 120),
      false,
    );
    assert.equal(
      failedCountMoved({ projectId: P, failedCounts: { CREATE_SERVER: 120 } }, "CREATE_SERVER", 121),
      true,
    );
  });
});

describe("observeJobs", () => {
  it("learns the FAILED history silently on the first tick, then reports a new failure once", () => {
    const first = observeJobs(input({ cursor: undefined, lists: lists([], [job("old", "FAILED")]) }));
    assert.deepEqual(first.events, []);
    assert.deepEqual(first.finished, []);
    assert.equal(first.records[0]?.outcomeHandled, true);

    const fresh = job("new", "FAILED");
    const subs = [
      sub("new", { status: "ABNORMAL", errorCode: "WKS.0127", errorMessage: "disk quota exceeded" }),
    ];
    const second = observeJobs(
      input({
        cursor: first.cursor,
        known: known(first.records),
        lists: lists([], [job("old", "FAILED"), fresh]),
        details: new Map([["new", detail(fresh, subs)]]),
      }),
    );
    assert.deepEqual(
      second.events.map((e) => [e.type, e.serverId, e.data.job_id]),
      [["image_job.failed", "srv-1", "new"]],
    );
    const data = second.events[0]?.data;
    assert.equal(data?.duration_seconds, 23 * 60);
    assert.deepEqual(data?.failures, [
      {
        sub_job_id: "new-1",
        status: "ABNORMAL",
        error_code: "WKS.0127",
        error_message: "disk quota exceeded",
        resource_id: "srv-1",
        resource_name: "build-office-2026",
      },
    ]);
    assert.deepEqual(second.finished, [
      { jobType: "CREATE_SERVER_IMAGE", status: "FAILED", durationSeconds: 23 * 60 },
    ]);
    assert.deepEqual(second.jobOfServer.get("srv-1"), {
      job_id: "new",
      job_type: "CREATE_SERVER_IMAGE",
      status: "FAILED",
      error_code: "WKS.0127",
      error_message: "disk quota exceeded",
    });

    // The same answers again: nothing new.
    const third = observeJobs(
      input({
        cursor: second.cursor,
        known: known([...first.records, ...second.records]),
        lists: lists([], [job("old", "FAILED"), fresh]),
      }),
    );
    assert.deepEqual(third.events, []);
    assert.deepEqual(third.records, []);
  });

  it("a known running job that ends SUCCESS: image_job.succeeded once; ids do not depend on the observer", () => {
    const r = observeJobs(
      input({ lists: lists([job("j1", "RUNNING")]), subJobs: new Map([["j1", [sub("j1")]]]) }),
    );
    assert.equal(r.records[0]?.serverId, "srv-1");
    assert.deepEqual(r.active, [{ jobType: "CREATE_SERVER_IMAGE", status: "RUNNING" }]);
    const done = job("j1", "SUCCESS");
    const end = (servers: JobObserveInput["servers"]) =>
      observeJobs(
        input({ known: known(r.records), details: new Map([["j1", detail(done, [sub("j1")])]]), servers }),
      );
    const a = end(input({}).servers);
    const b = end([]);
    assert.deepEqual(
      a.events.map((e) => e.type),
      ["image_job.succeeded"],
    );
    assert.equal(a.events[0]?.id, b.events[0]?.id, "the id is the job's, type and status only");
  });

  it("asks a servers function only when a job needs attaching, at most once, with the same result", () => {
    const calls: string[] = [];
    const servers = () => {
      calls.push("servers");
      return input({}).servers as ReturnType<Extract<JobObserveInput["servers"], () => unknown>>;
    };
    const idle = observeJobs(input({ servers }));
    assert.deepEqual(idle.records, []);
    assert.deepEqual(calls, [], "no job: the list of servers is never built");

    const tick = {
      lists: lists([job("j1", "RUNNING"), job("j2", "RUNNING")]),
      subJobs: new Map([
        ["j1", [sub("j1")]],
        ["j2", [sub("j2")]],
      ]),
    };
    const lazy = observeJobs(input({ ...tick, servers }));
    assert.deepEqual(calls, ["servers"], "two jobs to attach, one call");
    assert.deepEqual(lazy, observeJobs(input(tick)));
    assert.equal(lazy.records[0]?.serverId, "srv-1");

    calls.length = 0;
    observeJobs(input({ known: known(lazy.records), lists: tick.lists, servers }));
    assert.deepEqual(calls, [], "jobs already attached: not asked");
  });

  it("a running job whose sub-job is ABNORMAL is reported failed once, not again when it ends", () => {
    const r = observeJobs(
      input({
        lists: lists([job("j1", "RUNNING")]),
        subJobs: new Map([["j1", [sub("j1", { status: "ABNORMAL", errorCode: "E" })]]]),
      }),
    );
    assert.deepEqual(
      r.events.map((e) => [e.type, e.data.status]),
      [["image_job.failed", "RUNNING"]],
    );
    const done = job("j1", "FAILED");
    const end = observeJobs(input({ known: known(r.records), details: new Map([["j1", detail(done, [])]]) }));
    assert.deepEqual(end.events, []);
  });

  it("stuck: once past the threshold; with repeatEvery, once per further interval", () => {
    const cfg = (repeatEvery: number) => ({
      stuck: { CREATE_SERVER_IMAGE: 60 * MIN },
      repeatEvery,
      sharding: { count: 1, index: 0 },
    });
    const running = job("j1", "RUNNING", { beginTime: T0 - 50 * MIN });
    let recs = new Map<string, JobRecord>();
    const types: string[] = [];
    for (let m = 0; m <= 40; m += 5) {
      const out = observeJobs(
        input({ now: T0 + m * MIN, known: recs, lists: lists([running]), config: cfg(15 * MIN) }),
      );
      for (const e of out.events) types.push(`${m}:${e.type}:${e.data.stuck_seconds}`);
      recs = known([...recs.values(), ...out.records]);
    }
    // Past 60m at +10m (slot 0), then at +25m (slot 1) and +40m (slot 2).
    assert.deepEqual(types, [
      "15:image_job.stuck:3900",
      "25:image_job.stuck:4500",
      "40:image_job.stuck:5400",
    ]);
    const once = observeJobs(
      input({ lists: lists([job("j2", "RUNNING", { beginTime: T0 - 2 * 60 * MIN })]), config: cfg(0) }),
    );
    const again = observeJobs(
      input({
        now: T0 + 60 * MIN,
        known: known(once.records),
        lists: lists([job("j2", "RUNNING", { beginTime: T0 - 2 * 60 * MIN })]),
        config: cfg(0),
      }),
    );
    assert.equal(once.events.length, 1);
    assert.equal(again.events.length, 0);
  });

  it("correlates by server id, by image_id, by name; otherwise project-only with the resource's name", () => {
    const corr = (s: Partial<ImageSubJob>) =>
      observeJobs(input({ lists: lists([job("j", "RUNNING")]), subJobs: new Map([["j", [sub("j", s)]]]) }))
        .records[0];
    assert.equal(corr({ resourceId: "srv-1", resourceName: "" })?.serverId, "srv-1");
    assert.equal(corr({ resourceId: "img-1", resourceName: "" })?.serverId, "srv-1");
    assert.equal(corr({ resourceId: "x", resourceName: "build-office-2026" })?.serverId, "srv-1");
    const none = corr({ resourceId: "x", resourceName: "retired-1" });
    assert.equal(none?.serverId, "");
    assert.equal(none?.name, "retired-1");
  });

  it("only the owning shard emits: a server's shard, or without a server the job id's", () => {
    const failed = job("j-orphan", "FAILED");
    const owner = shardOf("j-orphan", 3);
    for (let index = 0; index < 3; index++) {
      const out = observeJobs(
        input({
          lists: lists([], [failed]),
          details: new Map([
            ["j-orphan", detail(failed, [sub("j-orphan", { resourceId: "gone", resourceName: "gone" })])],
          ]),
          config: { stuck: {}, repeatEvery: 0, sharding: { count: 3, index } },
        }),
      );
      assert.equal(out.events.length, index === owner ? 1 : 0, `shard ${index}`);
      assert.equal(out.records[0]?.outcomeHandled, true, "every replica remembers it");
    }
  });
});

describe("job events in every chat format", () => {
  it("each format carries the readable line with the reason", () => {
    const failed = job("j1", "FAILED");
    const subs = [
      sub("j1", { status: "FAILED", errorCode: "WKS.0127", errorMessage: "disk quota exceeded" }),
    ];
    const [event] = observeJobs(
      input({ lists: lists([], [failed]), details: new Map([["j1", detail(failed, subs)]]) }),
    ).events;
    assert.ok(event);
    const line = "build-office-2026: image build FAILED after 23m 0s — WKS.0127 disk quota exceeded";
    for (const format of WEBHOOK_FORMATS) {
      const hook: WebhookConfig = {
        name: "chat",
        url: "https://hooks.example.com/x?access_token=t",
        format,
        ...(format === "standard" ? { secret: `whsec_${Buffer.alloc(32, 7).toString("base64")}` } : {}),
        events: ["image_job.failed"],
        statuses: [],
        headers: {},
        timeout: 10_000,
        retry: { minDelay: 1000, maxDelay: 300_000 },
        maxAge: 86_400_000,
      };
      const req = buildRequest(event, hook, T0);
      if (format === "standard") assert.match(req.body, /"error_code":"WKS\.0127"/);
      else assert.ok(JSON.parse(req.body) && req.body.includes(line), `${format}: ${req.body}`);
    }
  });
});
