/**
 * One target's image-job watch (DESIGN §11), the IO half of domain/observe-jobs: per job type, the
 * WAITING and RUNNING lists and the first FAILED page, all at once (every FAILED page only when its
 * `count` moved),
 * then the look-ups the plan asks for (ShowImageJob, ListImageSubJobs), then the pure observation. Its
 * result is committed by pollTarget with the rest of the tick.
 */
import type { CloudClient } from "../cloud/client.js";
import { CloudError, toPollError } from "../cloud/errors.js";
import type { Config, TargetConfig } from "../config/types.js";
import type { ImageJob, ImageJobDetail, ImageSubJob } from "../domain/jobs.js";
import { JOB_TYPES } from "../domain/jobs.js";
import {
  failedCountMoved,
  type JobObservation,
  type JobServerRef,
  type JobTypeLists,
  observeJobs,
  planJobFetches,
} from "../domain/observe-jobs.js";
import { settleAll, settleLimit } from "../lib/concurrency.js";
import type { Logger } from "../lib/logger.js";
import type { JobBook } from "./job-book.js";

/** Jobs per page of the job lists (the API's maximum). */
const JOB_PAGE = 100;
/** Sub-job lists and job look-ups in flight at once in one tick (as many as list pages). */
const JOB_DETAIL_CONCURRENCY = 4;

/** What watching jobs needs (a subset of pollTarget's deps). */
export interface JobWatchDeps {
  cloud: CloudClient;
  /** The projects' job records and cursors (read from the store once, kept up to date by commits). */
  jobBook: JobBook;
  logger: Logger;
  signal?: AbortSignal | undefined;
}

/**
 * Per target: the config under which its job API answered 403. Job watching stays paused while that
 * config is current (a reload swaps in new config and target objects, which ends the pause).
 */
const pauses = new WeakMap<TargetConfig, Readonly<Config>>();

/** The observation of fetched jobs, given the servers a job may belong to (asked only if needed). */
export type ObserveFetchedJobs = (servers: () => readonly JobServerRef[]) => JobObservation;

/**
 * Fetches one target's jobs once (everything the observation needs but the servers, so it can run while
 * the servers are listed) and gives the observation to finish with. Undefined when it does not watch
 * (jobs: false, paused after a 403, or a job request failed: then nothing is committed and the next tick
 * tries again).
 */
export async function fetchJobs(
  target: TargetConfig,
  config: Readonly<Config>,
  now: number,
  deps: JobWatchDeps,
): Promise<ObserveFetchedJobs | undefined> {
  if (!target.jobs || pauses.get(target) === config) return undefined;
  const { projectId } = target;
  const opts = { signal: deps.signal };
  try {
    const { cursor, jobs: known } = deps.jobBook.of(projectId);
    // The nine lists at once (in JOB_TYPES order in the result): one after another they put nine round
    // trips between a server's new status and its commit, which a webhook then waits for.
    const lists: JobTypeLists[] = await settleAll(
      JOB_TYPES.map(async (jobType): Promise<JobTypeLists> => {
        const waitingJobs = deps.cloud.listAllImageJobs(projectId, { jobType, status: "WAITING" }, opts);
        const runningJobs = deps.cloud.listAllImageJobs(projectId, { jobType, status: "RUNNING" }, opts);
        const firstFailed = deps.cloud.listImageJobs(
          projectId,
          { jobType, status: "FAILED", offset: 0, limit: JOB_PAGE },
          opts,
        );
        await settleAll<unknown>([waitingJobs, runningJobs, firstFailed]);
        const [waiting, running, first] = [await waitingJobs, await runningJobs, await firstFailed];
        const more = first.count === undefined || first.count > first.items.length;
        const failed: readonly ImageJob[] =
          more && failedCountMoved(cursor, jobType, first.count)
            ? await deps.cloud.listAllImageJobs(projectId, { jobType, status: "FAILED" }, opts)
            : first.items;
        return { jobType, active: [...waiting, ...running], failed, failedCount: first.count };
      }),
    );
    // Finished jobs that aged out before the project's last prune have no record; listed again, they stay
    // forgotten (not now − retention: a job that failed while the daemon was stopped is still reported).
    // Read at each use: a prune may have run while this tick waited for the cloud.
    const plan = planJobFetches(known, cursor, lists, deps.jobBook.forgetBefore(projectId));
    // A few at a time, not one after another: builds that start or end together would otherwise put one
    // round trip each between their servers' new status and its commit. The maps keep the plan's order.
    const subJobLists = await settleLimit(plan.subJobs, JOB_DETAIL_CONCURRENCY, ({ jobId, jobType }) =>
      deps.cloud.listImageSubJobs(projectId, { jobType, jobId }, opts),
    );
    const subJobs = new Map<string, readonly ImageSubJob[]>(
      plan.subJobs.map(({ jobId }, i) => [jobId, subJobLists[i] as readonly ImageSubJob[]]),
    );
    const shown = await settleLimit(plan.show, JOB_DETAIL_CONCURRENCY, (jobId) =>
      deps.cloud.showImageJob(projectId, jobId, opts),
    );
    const details = new Map<string, ImageJobDetail | null>(
      plan.show.map((jobId, i) => {
        const r = shown[i];
        return [jobId, r?.kind === "ok" ? r.job : null];
      }),
    );
    return (servers) =>
      observeJobs({
        projectId,
        now,
        cursor,
        known,
        lists,
        details,
        subJobs,
        servers,
        config: {
          stuck: config.jobs.stuck,
          repeatEvery: config.stuck.repeatEvery,
          sharding: config.sharding,
          forgetBefore: deps.jobBook.forgetBefore(projectId),
        },
      });
  } catch (err) {
    if (deps.signal?.aborted) return undefined;
    const e = toPollError(err);
    if (err instanceof CloudError && err.httpStatus === 403) {
      // Counted by poll_requests_total{outcome="auth"}; logged once per config.
      pauses.set(target, config);
      deps.logger.warn(
        { projectId, httpStatus: 403, errorCode: e.error_code, requestId: e.request_id },
        "no permission on the image job API: job watching paused for this target until the next reload",
      );
      return undefined;
    }
    deps.logger.warn(
      {
        projectId,
        kind: e.kind,
        httpStatus: e.http_status,
        errorCode: e.error_code,
        requestId: e.request_id,
      },
      "job watch failed",
    );
    return undefined;
  }
}
