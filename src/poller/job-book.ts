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
}

export class JobBook {
  readonly #store: Pick<Store, "loadJobs" | "jobsPrunedBefore">;
  readonly #byProject = new Map<string, Entry>();
  /** null: not read from the store yet. */
  #prunedBefore: number | undefined | null = null;

  constructor(store: Pick<Store, "loadJobs" | "jobsPrunedBefore">) {
    this.#store = store;
  }

  /**
   * The cut-off of the latest job prune (undefined before the first): an unknown finished job that aged
   * out before it was pruned (or never seen), and must not come back as new. Read from the store once.
   */
  forgetBefore(): number | undefined {
    if (this.#prunedBefore === null) this.#prunedBefore = this.#store.jobsPrunedBefore();
    return this.#prunedBefore;
  }

  /** The project's records and cursor; read from the store the first time (may throw STORE_ERROR). */
  of(projectId: string): ProjectJobs {
    let entry = this.#byProject.get(projectId);
    if (entry === undefined) {
      const stored = this.#store.loadJobs(projectId);
      entry = { cursor: stored.cursor, jobs: new Map(stored.jobs.map((j) => [j.jobId, j])) };
      this.#byProject.set(projectId, entry);
    }
    return entry;
  }

  /** What a commit wrote: the project's new cursor and the records that changed. */
  committed(cursor: JobCursor, records: readonly JobRecord[]): void {
    const entry = this.#byProject.get(cursor.projectId);
    // Not read yet: the next tick reads the committed rows from the store.
    if (entry === undefined) return;
    entry.cursor = cursor;
    for (const r of records) entry.jobs.set(r.jobId, r);
  }

  /** Records the store deleted (pruned) with the cut-off they were pruned at. */
  forget(keys: ReadonlyArray<{ projectId: string; jobId: string }>, before: number): void {
    for (const k of keys) this.#byProject.get(k.projectId)?.jobs.delete(k.jobId);
    const known = this.forgetBefore();
    this.#prunedBefore = known === undefined ? before : Math.max(known, before);
  }
}
