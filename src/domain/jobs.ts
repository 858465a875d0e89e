/**
 * Image jobs (API §6, DESIGN §11): the typed job and sub-job models the cloud client returns, and
 * small pure helpers over them. Statuses outside the documented ones are kept as the API sent them.
 */

/** The job types of the Workspace image-job API; a job list requires one. */
export type JobType = "CREATE_SERVER" | "CREATE_SERVER_IMAGE" | "DELETE_SERVER";

/** Every job type, in the API's order. */
export const JOB_TYPES: readonly JobType[] = ["CREATE_SERVER", "CREATE_SERVER_IMAGE", "DELETE_SERVER"];

/** The documented job statuses. */
export type KnownJobStatus = "WAITING" | "RUNNING" | "SUCCESS" | "FAILED";

/** A job status: a documented one, or any other string kept as it came (`UNKNOWN` when none). */
export type JobStatus = KnownJobStatus | (string & {});

/** The documented sub-job statuses: the job's, and ABNORMAL, ROLLBACK (rolling back) and ABORTING. */
export type KnownSubJobStatus = KnownJobStatus | "ABNORMAL" | "ROLLBACK" | "ABORTING";

/** A sub-job status: a documented one, or any other string kept as it came (`UNKNOWN` when none). */
export type SubJobStatus = KnownSubJobStatus | (string & {});

/** One image job as the job lists return it (no sub-jobs). Times are ms since epoch. */
export interface ImageJob {
  /** The job id (an 18-digit string). */
  id: string;
  /** The API's `job_type`; a documented JobType unless the API sent something else. */
  jobType: JobType | (string & {});
  status: JobStatus;
  beginTime: number | null;
  /** Null while the job runs (or when the API sent none). */
  endTime: number | null;
  subJobsTotal: number;
  /** The API object as it came. */
  raw: Record<string, unknown>;
}

/** One sub-job: the resource it works on and, when it failed, why (`job_execute_info`). */
export interface ImageSubJob {
  id: string;
  jobType: JobType | (string & {});
  status: SubJobStatus;
  /** `job_resource_info.resource_id`: the new server's id, or the produced image's id for a build. */
  resourceId: string;
  /** `job_resource_info.resource_name`: the server's name. */
  resourceName: string;
  beginTime: number | null;
  endTime: number | null;
  /** `job_execute_info.error_code`; empty when none. */
  errorCode: string;
  /** `job_execute_info.error_message`; empty when none. */
  errorMessage: string;
  /** The job this sub-job belongs to. */
  jobId: string;
  /** The API object as it came. */
  raw: Record<string, unknown>;
}

/** A job as ShowImageJob returns it: with its sub-jobs. */
export type ImageJobDetail = ImageJob & { subJobs: ImageSubJob[] };

/** One failed sub-job, as the `failures` of `image_job.*` events carry it (DESIGN §11). */
export interface JobFailure {
  sub_job_id: string;
  status: string;
  error_code: string;
  error_message: string;
  resource_id: string;
  resource_name: string;
}

const ACTIVE: ReadonlySet<string> = new Set(["WAITING", "RUNNING"]);
const FAILED_SUB_JOB: ReadonlySet<string> = new Set(["FAILED", "ABNORMAL", "ROLLBACK", "ABORTING"]);

/** True for a job that has not ended: WAITING or RUNNING. */
export function isJobActive(status: JobStatus): boolean {
  return ACTIVE.has(status);
}

/**
 * When a job's record starts to age for `state.retention`: its end, or its begin when the API gave no
 * end. Null while the job is active, and for a job without a begin time: neither is ever pruned. The
 * store's `pruneJobs` applies the same rule in SQL; {@link observeJobs} uses it to leave pruned jobs
 * forgotten when a FAILED list shows them again.
 */
export function jobRetainedSince(job: Pick<ImageJob, "status" | "beginTime" | "endTime">): number | null {
  if (isJobActive(job.status) || job.beginTime === null) return null;
  return job.endTime ?? job.beginTime;
}

/** The sub-jobs of a job that failed or are failing (FAILED, ABNORMAL, ROLLBACK, ABORTING), in order. */
export function jobFailures(detail: Pick<ImageJobDetail, "subJobs">): JobFailure[] {
  return detail.subJobs
    .filter((s) => FAILED_SUB_JOB.has(s.status))
    .map((s) => ({
      sub_job_id: s.id,
      status: s.status,
      error_code: s.errorCode,
      error_message: s.errorMessage,
      resource_id: s.resourceId,
      resource_name: s.resourceName,
    }));
}

/**
 * Seconds from `beginTime` to `endTime`, or to `nowMs` for a job without an end; null without a begin
 * time (or without either end). Never negative.
 */
export function jobDurationSeconds(
  job: Pick<ImageJob, "beginTime" | "endTime">,
  nowMs?: number,
): number | null {
  const end = job.endTime ?? nowMs ?? null;
  if (job.beginTime === null || end === null) return null;
  return Math.max(0, (end - job.beginTime) / 1000);
}
