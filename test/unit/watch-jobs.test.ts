/**
 * The job tick's follow-up requests (sub-job lists of new jobs, look-ups of ended ones) run a few at a
 * time, not one after another: each would otherwise add a round trip before its servers' commit.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CloudClient } from "../../src/cloud/client.js";
import { parseConfigText } from "../../src/config/load.js";
import type { ImageJob } from "../../src/domain/jobs.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { JobBook } from "../../src/poller/job-book.js";
import { fetchJobs } from "../../src/poller/watch-jobs.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";

const P = "0123456789abcdef0123456789abcdef";

function job(id: string): ImageJob {
  return {
    id,
    jobType: "CREATE_SERVER_IMAGE",
    status: "RUNNING",
    beginTime: Date.parse("2026-12-01T10:00:00Z"),
    endTime: null,
    subJobsTotal: 1,
    raw: { id },
  };
}

/** A config watching project P's jobs (discover mode), with `extra` appended. */
function configOf(extra: string) {
  return parseConfigText(
    `
cloud:
  region: cn-north-4
  auth: { kind: aksk, accessKey: AKEXAMPLE, secretKey: SKEXAMPLE }
targets:
  - { projectId: ${P}, discover: true }
${extra}
`,
    {},
    "jobs.yaml",
  ).config;
}

/** A cloud client whose calls fail with "not used" but those in `calls`. */
function cloudOf(calls: Partial<CloudClient>): CloudClient {
  const notUsed = () => Promise.reject(new Error("not used"));
  return {
    getImageServer: notUsed,
    listImageServers: notUsed,
    listImageJobs: notUsed,
    listAllImageJobs: notUsed,
    listImageSubJobs: notUsed,
    showImageJob: notUsed,
    exportListings: () => ({ v: 1, listings: [] }),
    seedListings: () => {},
    close: async () => {},
    ...calls,
  };
}

describe("fetchJobs", () => {
  it("lists the sub-jobs of several new jobs at once, and keeps them in the plan's order", async () => {
    const running = [job("100000000000000001"), job("100000000000000002"), job("100000000000000003")];
    let inFlight = 0;
    let maxInFlight = 0;
    const asked: string[] = [];
    const cloud = cloudOf({
      listImageJobs: async () => ({ count: 0, items: [] }),
      listAllImageJobs: async (_p, filter) =>
        filter.jobType === "CREATE_SERVER_IMAGE" && filter.status === "RUNNING" ? running : [],
      listImageSubJobs: async (_p, filter) => {
        asked.push(filter.jobId ?? "");
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // The last to be asked answers first: the result must not follow the answers' order.
        for (let i = asked.length; i < 4; i++) await new Promise((r) => setImmediate(r));
        inFlight--;
        return [];
      },
    });
    const config = configOf("");
    const store = openSqliteStore(":memory:");
    try {
      const target = config.targets[0];
      assert.ok(target?.jobs, "job watching is on by default");
      const observe = await fetchJobs(target, config, Date.now(), {
        cloud,
        jobBook: new JobBook(store),
        logger: createSilentLogger(),
      });
      assert.ok(observe, "the job tick answered");
      assert.equal(maxInFlight, 3, "the three sub-job lists were in flight together");
      assert.deepEqual(
        asked,
        running.map((j) => j.id),
      );
      const records = observe(() => []).records.map((r) => r.jobId);
      assert.deepEqual(
        records,
        running.map((j) => j.id),
      );
    } finally {
      store.close();
    }
  });

  it("reports a failure that ended longer ago than the retention when no prune has cut it off (the daemon was down)", async () => {
    const now = Date.parse("2026-12-02T12:00:00Z");
    const failed: ImageJob = {
      ...job("100000000000000009"),
      status: "FAILED",
      beginTime: now - 3 * 3_600_000,
      endTime: now - 2 * 3_600_000,
    };
    const cloud = cloudOf({
      listImageJobs: async (_p, filter) =>
        filter.jobType === "CREATE_SERVER_IMAGE" && filter.status === "FAILED"
          ? { count: 1, items: [failed] }
          : { count: 0, items: [] },
      listAllImageJobs: async () => [],
      listImageSubJobs: async () => [],
      showImageJob: async () => ({ kind: "ok", job: { ...failed, subJobs: [] } }),
    });
    const config = configOf('state: { path: ":memory:", retention: 1h }');
    const store = openSqliteStore(":memory:");
    try {
      // Not the project's first job tick (that one learns the FAILED history silently).
      store.commitPoll({
        servers: [],
        events: [],
        deliveries: [],
        now: now - 4 * 3_600_000,
        jobs: { cursor: { projectId: P, failedCounts: { CREATE_SERVER_IMAGE: 0 } }, records: [] },
      });
      const target = config.targets[0];
      assert.ok(target);
      const observe = await fetchJobs(target, config, now, {
        cloud,
        jobBook: new JobBook(store),
        logger: createSilentLogger(),
      });
      assert.ok(observe, "the job tick answered");
      assert.deepEqual(
        observe(() => []).events.map((e) => [e.type, e.data.job_id]),
        [["image_job.failed", failed.id]],
      );
    } finally {
      store.close();
    }
  });
});
