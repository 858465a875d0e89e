/**
 * Each project's image-job records and cursor in memory, as `ServerStates` holds the servers: read from
 * the store on the project's first job tick, then kept equal to it by applying what each commit wrote
 * and what pruning deleted. A tick used to read every record of its project from SQLite again, a cost
 * that grew with the job history for as long as the daemon ran (41,000 records: ~340 ms a tick).
 */
import type { JobCursor, JobRecord } from "../domain/observe-jobs.js";
import type { Store } from "../store/types.js";

/** One project's jobs as a tick reads them (live: do not keep across ticks). */
export interface ProjectJobs {
  /** Undefined before the project's first job tick. */
  cursor: JobCursor | undefined;
  jobs: ReadonlyMap<string, JobRecord>;
}

interface Entry {
  cursor: JobCursor | undefined;
  jobs: Map<string, JobRecord>;
  /** The cut-off of the project's latest job prune (undefined before the first). */
  prunedBefore: number | undefined;
  /** When the latest job tick of this project that committed in this process ran (ms); undefined: none. */
  watchedAt: number | undefined;
}

export class JobBook {
  readonly #store: Pick<Store, "loadJobs" | "jobsPrunedBefore">;
  readonly #byProject = new Map<string, Entry>();

  constructor(store: Pick<Store, "loadJobs" | "jobsPrunedBefore">) {
    this.#store = store;
  }

  /** The project's records and cursor; read from the store the first time (may throw STORE_ERROR). */
  of(projectId: string): ProjectJobs {
    return this.#entry(projectId);
  }

  /**
   * The cut-off of the project's latest job prune (undefined before the first): an unknown finished job
   * that aged out before it was pruned (or never seen) and must not come back as new. Read it where it
   * is used, not once per tick: a prune may run while the tick waits for the cloud.
   */
  forgetBefore(projectId: string): number | undefined {
    return this.#entry(projectId).prunedBefore;
  }

  /** What the commit of a job tick that ran at `now` wrote: the project's new cursor, the changed records. */
  committed(cursor: JobCursor, records: readonly JobRecord[], now: number): void {
    const entry = this.#byProject.get(cursor.projectId);
    // Not read yet: the next tick reads the committed rows from the store.
    if (entry === undefined) return;
    entry.cursor = cursor;
    for (const r of records) entry.jobs.set(r.jobId, r);
    entry.watchedAt = Math.max(entry.watchedAt ?? now, now);
  }

  /**
   * Per project, the cut-off a prune at `before` may use: `before`, but never past the project's latest
   * job tick that committed in this process. A job that ended after that tick may not have been listed
   * yet (the job lists have failed since, or the daemon was stopped), and a cut-off past it would hide
   * that failure for good. Projects without such a tick are left out: none of their records may go yet.
   */
  pruneCutoffs(before: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const [projectId, e] of this.#byProject) {
      if (e.watchedAt !== undefined) out.set(projectId, Math.min(before, e.watchedAt));
    }
    return out;
  }

  /**
   * Drops every project not in `projectIds` (after a reload: the projects whose jobs are still watched).
   * Watched again later, a project is read from the store again, and waits for a job tick that answers
   * before it is pruned again.
   */
  keep(projectIds: ReadonlySet<string>): void {
    for (const projectId of [...this.#byProject.keys()]) {
      if (!projectIds.has(projectId)) this.#byProject.delete(projectId);
    }
  }

  /** Records the store deleted (pruned) from the project, with the cut-off they were pruned at. */
  forget(projectId: string, jobIds: readonly string[], before: number): void {
    const entry = this.#entry(projectId);
    for (const id of jobIds) entry.jobs.delete(id);
    entry.prunedBefore = entry.prunedBefore === undefined ? before : Math.max(entry.prunedBefore, before);
  }

  #entry(projectId: string): Entry {
    let entry = this.#byProject.get(projectId);
    if (entry === undefined) {
      const stored = this.#store.loadJobs(projectId);
      entry = {
        cursor: stored.cursor,
        jobs: new Map(stored.jobs.map((j) => [j.jobId, j])),
        prunedBefore: this.#store.jobsPrunedBefore(projectId),
        watchedAt: undefined,
      };
      this.#byProject.set(projectId, entry);
    }
    return entry;
  }
}
