/**
 * The in-memory job records (poller/job-book): read from the store once per project, then kept equal to
 * it by what commits wrote and what pruning deleted.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JobCursor, JobRecord } from "../../src/domain/observe-jobs.js";
import { JobBook } from "../../src/poller/job-book.js";
import type { Store } from "../../src/store/types.js";
import { makeJobRecord } from "../helpers/store-suite.js";

const T0 = Date.parse("2026-11-27T10:00:00.000Z");

function record(projectId: string, jobId: string, status = "RUNNING"): JobRecord {
  return makeJobRecord(jobId, { projectId, status });
}

/** A store whose loadJobs answers from `stored` and counts its calls (and jobsPrunedBefore's as "pruned"). */
function fakeStore(
  stored: Map<string, { cursor: JobCursor | undefined; jobs: JobRecord[] }>,
  prunedBefore?: number,
) {
  const reads: string[] = [];
  const store: Pick<Store, "loadJobs" | "jobsPrunedBefore"> = {
    loadJobs(projectId) {
      reads.push(projectId);
      return stored.get(projectId) ?? { cursor: undefined, jobs: [] };
    },
    jobsPrunedBefore() {
      reads.push("pruned");
      return prunedBefore;
    },
  };
  return { store, reads };
}

describe("JobBook", () => {
  it("reads a project from the store once, then answers from memory", () => {
    const cursor: JobCursor = { projectId: "p1", failedCounts: { CREATE_SERVER_IMAGE: 3 } };
    const { store, reads } = fakeStore(new Map([["p1", { cursor, jobs: [record("p1", "j1")] }]]));
    const book = new JobBook(store);
    for (let i = 0; i < 3; i++) {
      const p1 = book.of("p1");
      assert.deepEqual(p1.cursor, cursor);
      assert.deepEqual([...p1.jobs.keys()], ["j1"]);
    }
    assert.deepEqual(book.of("p2"), { cursor: undefined, jobs: new Map() });
    assert.deepEqual(reads, ["p1", "p2"]);
  });

  it("applies a commit's cursor and changed records, and forgets pruned ones", () => {
    const { store, reads } = fakeStore(new Map([["p1", { cursor: undefined, jobs: [record("p1", "j1")] }]]));
    const book = new JobBook(store);
    book.of("p1");
    const cursor: JobCursor = { projectId: "p1", failedCounts: { CREATE_SERVER_IMAGE: 1 } };
    book.committed(cursor, [record("p1", "j1", "SUCCESS"), record("p1", "j2")]);
    assert.deepEqual(book.of("p1").cursor, cursor);
    assert.equal(book.of("p1").jobs.get("j1")?.status, "SUCCESS");
    assert.deepEqual([...book.of("p1").jobs.keys()], ["j1", "j2"]);
    book.forget(
      [
        { projectId: "p1", jobId: "j1" },
        { projectId: "p9", jobId: "j2" }, // another project's: p1's j2 stays
      ],
      T0,
    );
    assert.deepEqual([...book.of("p1").jobs.keys()], ["j2"]);
    assert.deepEqual(reads, ["p1", "pruned"]);
  });

  it("forgetBefore: the store's last cut-off, read once, raised by each prune and never lowered", () => {
    const { store, reads } = fakeStore(new Map(), 1_000);
    const book = new JobBook(store);
    assert.equal(book.forgetBefore(), 1_000);
    assert.equal(book.forgetBefore(), 1_000);
    book.forget([], 5_000);
    assert.equal(book.forgetBefore(), 5_000);
    book.forget([], 2_000); // a shorter retention after a reload does not bring pruned jobs back
    assert.equal(book.forgetBefore(), 5_000);
    assert.deepEqual(reads, ["pruned"]);
    assert.equal(new JobBook(fakeStore(new Map()).store).forgetBefore(), undefined, "never pruned");
  });

  it("leaves a project it has not read to the store: its first read sees the committed rows", () => {
    const { store, reads } = fakeStore(
      new Map([["p1", { cursor: undefined, jobs: [record("p1", "from-store")] }]]),
    );
    const book = new JobBook(store);
    book.committed({ projectId: "p1", failedCounts: {} }, [record("p1", "only-in-memory")]);
    assert.deepEqual([...book.of("p1").jobs.keys()], ["from-store"]);
    assert.deepEqual(reads, ["p1"]);
  });
});
