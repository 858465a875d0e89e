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

/** A store answering from `stored` (and `prunedBefore` for every project), noting what was read. */
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
    jobsPrunedBefore(projectId) {
      reads.push(`cut-off ${projectId}`);
      return prunedBefore;
    },
  };
  return { store, reads };
}

describe("JobBook", () => {
  it("reads a project from the store once, then answers from memory", () => {
    const cursor: JobCursor = { projectId: "p1", failedCounts: { CREATE_SERVER_IMAGE: 3 } };
    const { store, reads } = fakeStore(new Map([["p1", { cursor, jobs: [record("p1", "j1")] }]]), 1_000);
    const book = new JobBook(store);
    for (let i = 0; i < 3; i++) {
      const p1 = book.of("p1");
      assert.deepEqual(p1.cursor, cursor);
      assert.deepEqual([...p1.jobs.keys()], ["j1"]);
      assert.equal(book.forgetBefore("p1"), 1_000);
    }
    const p2 = book.of("p2");
    assert.equal(p2.cursor, undefined);
    assert.equal(p2.jobs.size, 0);
    assert.deepEqual(reads, ["p1", "cut-off p1", "p2", "cut-off p2"]);
  });

  it("applies a commit's cursor and changed records, and forgets pruned ones", () => {
    const { store, reads } = fakeStore(new Map([["p1", { cursor: undefined, jobs: [record("p1", "j1")] }]]));
    const book = new JobBook(store);
    book.of("p1");
    const cursor: JobCursor = { projectId: "p1", failedCounts: { CREATE_SERVER_IMAGE: 1 } };
    book.committed(cursor, [record("p1", "j1", "SUCCESS"), record("p1", "j2")], T0);
    assert.deepEqual(book.of("p1").cursor, cursor);
    assert.equal(book.of("p1").jobs.get("j1")?.status, "SUCCESS");
    assert.deepEqual([...book.of("p1").jobs.keys()], ["j1", "j2"]);
    book.forget("p1", ["j1"], T0);
    assert.deepEqual([...book.of("p1").jobs.keys()], ["j2"]);
    assert.deepEqual(reads, ["p1", "cut-off p1"]);
  });

  it("forgetBefore: per project, the store's last cut-off, raised by each prune and never lowered", () => {
    const book = new JobBook(fakeStore(new Map(), 1_000).store);
    assert.equal(book.forgetBefore("p1"), 1_000);
    book.forget("p1", [], 5_000);
    assert.equal(book.forgetBefore("p1"), 5_000);
    book.forget("p1", [], 2_000); // a shorter retention after a reload does not bring pruned jobs back
    assert.equal(book.forgetBefore("p1"), 5_000);
    assert.equal(book.forgetBefore("p2"), 1_000, "another project keeps its own");
    assert.equal(new JobBook(fakeStore(new Map()).store).forgetBefore("p1"), undefined, "never pruned");
  });

  it("pruneCutoffs: the prune's cut-off, never past a project's latest job tick; none for a project without one", () => {
    const book = new JobBook(fakeStore(new Map()).store);
    book.of("p1");
    book.of("p2");
    const day = 86_400_000;
    assert.deepEqual(book.pruneCutoffs(T0), new Map(), "read, but no job tick committed yet");
    book.committed({ projectId: "p2", failedCounts: {} }, [], T0 - 20 * day);
    book.committed({ projectId: "p2", failedCounts: {} }, [], T0 - 2 * day);
    // p2's job lists have failed for two days: a failure from then may still come; keep what ended since.
    assert.deepEqual(book.pruneCutoffs(T0 - 14 * day), new Map([["p2", T0 - 14 * day]]));
    assert.deepEqual(book.pruneCutoffs(T0), new Map([["p2", T0 - 2 * day]]), "capped at the last job tick");
    book.committed({ projectId: "p2", failedCounts: {} }, [], T0 - 20 * day); // a slow tick committing late
    assert.deepEqual(book.pruneCutoffs(T0), new Map([["p2", T0 - 2 * day]]), "the cap never goes back");
  });

  it("keep: drops the projects not kept; one watched again is read from the store again and not pruned yet", () => {
    const { store, reads } = fakeStore(new Map([["p1", { cursor: undefined, jobs: [record("p1", "j1")] }]]));
    const book = new JobBook(store);
    book.of("p1");
    book.of("p2");
    book.committed({ projectId: "p1", failedCounts: {} }, [record("p1", "only-in-memory")], T0);
    book.committed({ projectId: "p2", failedCounts: {} }, [], T0);
    book.keep(new Set(["p2"]));
    assert.deepEqual([...book.pruneCutoffs(T0).keys()], ["p2"]);
    assert.deepEqual([...book.of("p1").jobs.keys()], ["j1"], "read from the store again");
    assert.deepEqual(book.pruneCutoffs(T0), new Map([["p2", T0]]), "p1 waits for a job tick again");
    assert.deepEqual(reads, ["p1", "cut-off p1", "p2", "cut-off p2", "p1", "cut-off p1"]);
  });

  it("leaves a project it has not read to the store: its first read sees the committed rows", () => {
    const { store, reads } = fakeStore(
      new Map([["p1", { cursor: undefined, jobs: [record("p1", "from-store")] }]]),
    );
    const book = new JobBook(store);
    book.committed({ projectId: "p1", failedCounts: {} }, [record("p1", "only-in-memory")], T0);
    assert.deepEqual([...book.of("p1").jobs.keys()], ["from-store"]);
    assert.deepEqual(reads, ["p1", "cut-off p1"]);
  });
});
