import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  parseImageJob,
  parseImageJobDetail,
  parseImageSubJob,
  parseJobListPage,
  parseSubJobListPage,
  ShapeError,
} from "../../src/cloud/parse.js";
import { type ImageSubJob, isJobActive, jobDurationSeconds, jobFailures } from "../../src/domain/jobs.js";

const T0 = Date.parse("2026-11-27T10:00:00.000Z");

describe("parseImageJob", () => {
  it("maps a list item", () => {
    const raw = {
      id: "773698274006671360",
      job_type: "CREATE_SERVER_IMAGE",
      begin_time: "2026-11-27T10:00:00.000Z",
      end_time: "2026-11-27T10:05:00.000Z",
      status: "SUCCESS",
      sub_jobs_total: 1,
    };
    assert.deepEqual(parseImageJob(raw), {
      id: "773698274006671360",
      jobType: "CREATE_SERVER_IMAGE",
      status: "SUCCESS",
      beginTime: T0,
      endTime: T0 + 300_000,
      subJobsTotal: 1,
      raw,
    });
  });

  it("is lenient: zone-less or spaced times, no end_time, unknown status kept, no status, no total", () => {
    const job = parseImageJob(
      { id: "1", begin_time: "2026-11-27 10:00:00", status: "PAUSED" },
      "DELETE_SERVER",
    );
    assert.deepEqual(
      [job.beginTime, job.endTime, job.status, job.jobType, job.subJobsTotal],
      [T0, null, "PAUSED", "DELETE_SERVER", 0],
    );
    assert.equal(parseImageJob({ id: "1", status: null, end_time: "" }).status, "UNKNOWN");
    assert.equal(parseImageJob({ id: "1", end_time: "" }).endTime, null);
    assert.equal(
      parseImageJob({ id: "1", job_type: "CREATE_SERVER" }, "DELETE_SERVER").jobType,
      "CREATE_SERVER",
    );
  });

  it("rejects wrong shapes", () => {
    for (const bad of [
      null,
      [],
      "job",
      {},
      { id: "" },
      { id: 773698274006671360 },
      { id: "1", status: 3 },
      { id: "1", job_type: 1 },
      { id: "1", sub_jobs_total: -1 },
      { id: "1", sub_jobs_total: "2" },
    ]) {
      assert.throws(() => parseImageJob(bad), ShapeError, JSON.stringify(bad));
    }
  });

  it("bounds the object like a server", () => {
    let deep: unknown = {};
    for (let i = 0; i < 40; i++) deep = { x: deep };
    assert.throws(() => parseImageJob({ id: "1", extra: deep }), /image job nested deeper/);
  });
});

describe("parseImageSubJob", () => {
  const full = {
    id: "11",
    job_type: "CREATE_SERVER",
    job_resource_info: { resource_id: "srv-1", resource_name: "build-one" },
    begin_time: "2026-11-27T10:00:00Z",
    end_time: "2026-11-27T10:00:30Z",
    status: "ABNORMAL",
    job_execute_info: { error_code: "WKS.0127", error_message: "disk quota exceeded" },
    project_id: "p1",
    job_id: "1",
  };

  it("maps a sub-job", () => {
    const sub = parseImageSubJob(full);
    assert.deepEqual(
      [sub.id, sub.jobType, sub.status, sub.resourceId, sub.resourceName, sub.errorCode, sub.errorMessage],
      ["11", "CREATE_SERVER", "ABNORMAL", "srv-1", "build-one", "WKS.0127", "disk quota exceeded"],
    );
    assert.deepEqual([sub.beginTime, sub.endTime, sub.jobId, sub.raw], [T0, T0 + 30_000, "1", full]);
  });

  it("takes an empty job_execute_info, empty strings, nulls and missing infos", () => {
    for (const variant of [
      { id: "11", job_execute_info: {}, job_resource_info: { resource_id: "", resource_name: "" } },
      { id: "11", job_execute_info: null, job_resource_info: null },
      { id: "11", job_execute_info: "", job_id: "" },
      { id: "11", job_execute_info: { error_code: null, error_message: null } },
    ]) {
      const sub = parseImageSubJob(variant, "CREATE_SERVER", "9");
      assert.deepEqual(
        [sub.errorCode, sub.errorMessage, sub.resourceId, sub.resourceName, sub.jobId, sub.jobType],
        ["", "", "", "", "9", "CREATE_SERVER"],
        JSON.stringify(variant),
      );
      assert.equal(sub.status, "UNKNOWN");
    }
  });

  it("rejects wrong shapes", () => {
    for (const bad of [
      { ...full, id: undefined },
      { ...full, job_execute_info: "failed" },
      { ...full, job_execute_info: [] },
      { ...full, job_resource_info: 7 },
      { ...full, job_resource_info: { resource_id: 7 } },
      { ...full, job_execute_info: { error_code: 500 } },
      { ...full, job_id: 1 },
    ]) {
      assert.throws(() => parseImageSubJob(bad), ShapeError, JSON.stringify(bad));
    }
  });
});

describe("parseImageJobDetail", () => {
  it("parses the sub-jobs; they inherit the job's id and type when they lack them", () => {
    const body = {
      id: "1",
      job_type: "CREATE_SERVER_IMAGE",
      begin_time: "2026-11-27T10:00:00.000Z",
      status: "RUNNING",
      sub_jobs_total: 2,
      sub_jobs: [{ id: "11", status: "RUNNING", job_execute_info: {} }, { id: "12" }],
    };
    const detail = parseImageJobDetail(body);
    assert.deepEqual(
      detail.subJobs.map((s) => [s.id, s.jobId, s.jobType]),
      [
        ["11", "1", "CREATE_SERVER_IMAGE"],
        ["12", "1", "CREATE_SERVER_IMAGE"],
      ],
    );
    assert.deepEqual([detail.subJobsTotal, detail.endTime, detail.raw], [2, null, body]);
  });

  it("takes missing or null sub_jobs as none, and counts the sub-jobs when sub_jobs_total is missing", () => {
    assert.deepEqual(parseImageJobDetail({ id: "1" }).subJobs, []);
    assert.deepEqual(parseImageJobDetail({ id: "1", sub_jobs: null }).subJobs, []);
    assert.equal(parseImageJobDetail({ id: "1", sub_jobs: [{ id: "a" }, { id: "b" }] }).subJobsTotal, 2);
  });

  it("rejects wrong shapes", () => {
    for (const bad of [
      [],
      { id: "1", sub_jobs: {} },
      { id: "1", sub_jobs: [{ id: "" }] },
      { sub_jobs: [] },
      { name: 42, state: "ok" },
    ]) {
      assert.throws(() => parseImageJobDetail(bad), ShapeError, JSON.stringify(bad));
    }
  });
});

describe("job list pages", () => {
  it("parses a jobs page and a sub-jobs page, filling the listed job type", () => {
    const jobs = parseJobListPage({ count: 5, items: [{ id: "1" }, { id: "2" }] }, "DELETE_SERVER");
    assert.deepEqual(
      [jobs.count, jobs.items.map((j) => [j.id, j.jobType])],
      [
        5,
        [
          ["1", "DELETE_SERVER"],
          ["2", "DELETE_SERVER"],
        ],
      ],
    );
    const subs = parseSubJobListPage({ items: [{ id: "11", job_id: "1" }] }, "CREATE_SERVER");
    assert.deepEqual(
      [subs.count, subs.items[0]?.jobId, subs.items[0]?.jobType],
      [undefined, "1", "CREATE_SERVER"],
    );
  });

  it("rejects a page without items, a bad count or a bad item", () => {
    assert.throws(() => parseJobListPage({ total: 1, servers: "none" }), ShapeError);
    assert.throws(() => parseJobListPage({ count: 1.5, items: [] }), ShapeError);
    assert.throws(() => parseJobListPage({ count: 1, items: [{ id: 1 }] }), ShapeError);
    assert.throws(
      () => parseSubJobListPage({ count: 1, items: [{ id: "1", job_execute_info: 3 }] }),
      ShapeError,
    );
  });
});

describe("job helpers", () => {
  it("isJobActive: WAITING and RUNNING only", () => {
    assert.deepEqual(["WAITING", "RUNNING", "SUCCESS", "FAILED", "UNKNOWN", "running"].map(isJobActive), [
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
  });

  it("jobFailures: the FAILED, ABNORMAL, ROLLBACK and ABORTING sub-jobs, in order", () => {
    const sub = (id: string, status: string): ImageSubJob =>
      parseImageSubJob({
        id,
        status,
        job_resource_info: { resource_id: `r-${id}`, resource_name: `n-${id}` },
        job_execute_info: status === "SUCCESS" ? {} : { error_code: `E${id}`, error_message: `m${id}` },
      });
    const subJobs = ["SUCCESS", "FAILED", "RUNNING", "ABNORMAL", "ROLLBACK", "ABORTING", "WAITING"].map(
      (s, i) => sub(String(i), s),
    );
    const failures = jobFailures({ subJobs });
    assert.deepEqual(
      failures.map((f) => f.status),
      ["FAILED", "ABNORMAL", "ROLLBACK", "ABORTING"],
    );
    assert.deepEqual(failures[0], {
      sub_job_id: "1",
      status: "FAILED",
      error_code: "E1",
      error_message: "m1",
      resource_id: "r-1",
      resource_name: "n-1",
    });
    assert.deepEqual(jobFailures({ subJobs: [] }), []);
  });

  it("jobDurationSeconds: end minus begin, or now minus begin while running; null without a begin", () => {
    assert.equal(jobDurationSeconds({ beginTime: T0, endTime: T0 + 90_500 }), 90.5);
    assert.equal(jobDurationSeconds({ beginTime: T0, endTime: null }, T0 + 60_000), 60);
    assert.equal(jobDurationSeconds({ beginTime: T0, endTime: null }), null);
    assert.equal(jobDurationSeconds({ beginTime: null, endTime: T0 }), null);
    assert.equal(jobDurationSeconds({ beginTime: T0, endTime: T0 - 1_000 }), 0, "never negative");
  });
});
