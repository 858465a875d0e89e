/**
 * Image jobs of the simulator (API §6, DESIGN §11): the API objects, building them from scenario
 * input, status changes, the rules that derive jobs from server status changes, and the job lists.
 * Pure: no clock and no IO; the state passes the moments in.
 */
import type {
  DerivedJobOutcome,
  ExecuteInfo,
  JobHistory,
  JobStatus,
  JobType,
  ScenarioJob,
  SubJobStatus,
} from "./scenario.js";
import { derivedJobId, derivedUuid, isoTime, parseApiTime, resolveTime } from "./values.js";

/** A sub-job as the API returns it. */
export interface ApiSubJob {
  id: string;
  job_type: JobType;
  job_resource_info: { resource_id: string; resource_name: string };
  begin_time: string;
  /** Absent until the sub-job ends. */
  end_time?: string;
  status: SubJobStatus;
  job_execute_info: ExecuteInfo;
  project_id: string;
  job_id: string;
}

/** A job as ShowImageJob returns it. */
export interface ApiJob {
  id: string;
  job_type: JobType;
  begin_time: string;
  /** Absent while the job is WAITING or RUNNING. */
  end_time?: string;
  status: JobStatus;
  sub_jobs_total: number;
  sub_jobs: ApiSubJob[];
}

/** A job as ListImageJobs returns it: no sub-jobs. */
export type ApiJobSummary = Omit<ApiJob, "sub_jobs">;

/** The filters of the two job lists; `jobId` only applies to sub-jobs. */
export interface JobQuery {
  jobType: JobType;
  status?: string;
  jobId?: string;
}

/** A status change of a job: what its sub-jobs become, and when it ended. */
export interface JobStatusChange {
  /** Status of every sub-job; default the job's status. */
  subJobStatus?: SubJobStatus;
  /** Replaces every sub-job's `job_execute_info`. */
  executeInfo?: ExecuteInfo;
  /** End time of a SUCCESS/FAILED job (ms, `-5m` or a string); default the change's moment. */
  endTime?: number | string;
}

const TERMINAL: ReadonlySet<string> = new Set(["SUCCESS", "FAILED"]);

/** The job type a transitional server status stands for. */
const JOB_OF_STATUS: Readonly<Record<string, JobType>> = {
  CREATING: "CREATE_SERVER",
  BUILDING: "CREATE_SERVER_IMAGE",
  DELETING: "DELETE_SERVER",
};
/** Statuses that end a derived job; other ones (null, unknown strings) let it run on. */
const STEADY: ReadonlySet<unknown> = new Set(["ACTIVE", "BUILT", "ERROR"]);

const asTime = (value: unknown, base: number): string => String(resolveTime(value, base));

/** Builds a job from scenario input; `base` is the moment it appears (relative times count from it). */
export function createJob(projectId: string, spec: ScenarioJob, seed: string, base: number): ApiJob {
  const id = spec.id ?? derivedJobId(seed);
  const begin = spec.begin_time === undefined ? isoTime(base) : asTime(spec.begin_time, base);
  const end =
    spec.end_time !== undefined
      ? asTime(spec.end_time, base)
      : TERMINAL.has(spec.status)
        ? isoTime(base)
        : undefined;
  const subJobs = spec.sub_jobs.map((s, i): ApiSubJob => {
    const subEnd = s.end_time === undefined ? end : asTime(s.end_time, base);
    return {
      id: s.id ?? derivedJobId(`${seed}/sub/${i}`),
      job_type: spec.job_type,
      job_resource_info: {
        resource_id: s.job_resource_info?.resource_id ?? "",
        resource_name: s.job_resource_info?.resource_name ?? "",
      },
      begin_time: s.begin_time === undefined ? begin : asTime(s.begin_time, base),
      ...(subEnd === undefined ? {} : { end_time: subEnd }),
      status: s.status ?? spec.status,
      job_execute_info: { ...s.job_execute_info },
      project_id: projectId,
      job_id: id,
    };
  });
  return {
    id,
    job_type: spec.job_type,
    begin_time: begin,
    ...(end === undefined ? {} : { end_time: end }),
    status: spec.status,
    sub_jobs_total: subJobs.length,
    sub_jobs: subJobs,
  };
}

/**
 * Sets a job's status at `atMs`: every sub-job follows (or takes `subJobStatus`); SUCCESS and FAILED set
 * `end_time`, WAITING and RUNNING drop it.
 */
export function applyJobStatus(
  job: ApiJob,
  status: JobStatus,
  atMs: number,
  change: JobStatusChange = {},
): void {
  job.status = status;
  const end = TERMINAL.has(status)
    ? change.endTime === undefined
      ? isoTime(atMs)
      : asTime(change.endTime, atMs)
    : undefined;
  if (end === undefined) delete job.end_time;
  else job.end_time = end;
  for (const sub of job.sub_jobs) {
    sub.status = change.subJobStatus ?? status;
    if (end === undefined) delete sub.end_time;
    else sub.end_time = end;
    if (change.executeInfo) sub.job_execute_info = { ...change.executeInfo };
  }
}

/** The job type a server status implies (CREATING, BUILDING, DELETING), if any. */
export function derivedJobType(status: unknown): JobType | undefined {
  return typeof status === "string" ? JOB_OF_STATUS[status] : undefined;
}

/**
 * What a server's new state does to its derived job (DESIGN §11): `end` it (FAILED at ERROR, and for a
 * create or build whose server disappeared; SUCCESS otherwise) and/or `start` one of a new type. A null
 * or unknown status changes nothing.
 */
export function planDerivedJob(
  current: JobType | undefined,
  status: unknown,
  removed: boolean,
): { end?: "SUCCESS" | "FAILED"; start?: JobType } {
  const wanted = removed ? undefined : derivedJobType(status);
  if (current !== undefined && current === wanted) return {};
  const plan: { end?: "SUCCESS" | "FAILED"; start?: JobType } = {};
  if (current !== undefined && (removed || wanted !== undefined || STEADY.has(status))) {
    const failed = status === "ERROR" || (removed && current !== "DELETE_SERVER");
    plan.end = failed ? "FAILED" : "SUCCESS";
  }
  if (wanted !== undefined && (current === undefined || plan.end !== undefined)) plan.start = wanted;
  return plan;
}

/** The end of a derived job: the step's reason and sub-job status go with FAILED only. */
export function derivedEndChange(end: "SUCCESS" | "FAILED", outcome?: DerivedJobOutcome): JobStatusChange {
  if (end === "SUCCESS") return {};
  const { sub_job_status, ...info } = outcome ?? {};
  return { subJobStatus: sub_job_status ?? "FAILED", executeInfo: info };
}

/**
 * Points a derived job's sub-jobs at its server: the server id (for a build, the produced `image_id`
 * once it is set) and the server name.
 */
export function setJobResource(job: ApiJob, server: Record<string, unknown>): void {
  const imageId = server.image_id;
  const resourceId =
    job.job_type === "CREATE_SERVER_IMAGE" && typeof imageId === "string" && imageId !== ""
      ? imageId
      : String(server.id);
  for (const sub of job.sub_jobs) {
    sub.job_resource_info = { resource_id: resourceId, resource_name: String(server.name ?? "") };
  }
}

/** The spec of a derived job: RUNNING from `beginMs`, one sub-job (resource set by `setJobResource`). */
export function derivedJobSpec(jobType: JobType, beginMs: number): ScenarioJob {
  return { job_type: jobType, status: "RUNNING", begin_time: beginMs, sub_jobs: [{}], timeline: [] };
}

/** The FAILED jobs of a `history:` entry, ended before `startedAt`, newest first. */
export function historyJobs(
  projectId: string,
  history: JobHistory,
  seed: string,
  startedAt: number,
): ApiJob[] {
  const info: ExecuteInfo = {
    error_code: history.error_code ?? "WKS.0003",
    error_message: history.error_message ?? "image job failed",
  };
  return Array.from({ length: history.failed }, (_, i) => {
    const begin = startedAt - (i + 1) * history.everyMs;
    const spec: ScenarioJob = {
      job_type: history.job_type,
      status: "FAILED",
      begin_time: begin,
      end_time: begin + history.everyMs / 2,
      sub_jobs: [
        {
          job_resource_info: {
            resource_id: derivedUuid(`${seed}/${i}/resource`),
            resource_name: `retired-image-server-${i + 1}`,
          },
          job_execute_info: info,
        },
      ],
      timeline: [],
    };
    return createJob(projectId, spec, `${seed}/${i}`, startedAt);
  });
}

/** List order: newest `begin_time` first, then id (the API documents no order). */
export function compareJobs(a: ApiJob, b: ApiJob): number {
  const ta = parseApiTime(a.begin_time);
  const tb = parseApiTime(b.begin_time);
  const ka = Number.isNaN(ta) ? Number.NEGATIVE_INFINITY : ta;
  const kb = Number.isNaN(tb) ? Number.NEGATIVE_INFINITY : tb;
  if (ka !== kb) return ka > kb ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** A copy of a job with its fields in the API's order. */
export function renderJob(job: ApiJob): ApiJob {
  return { ...renderSummary(job), sub_jobs: job.sub_jobs.map(renderSubJob) };
}

/** A job without its sub-jobs, as ListImageJobs answers. */
export function renderSummary(job: ApiJob): ApiJobSummary {
  return {
    id: job.id,
    job_type: job.job_type,
    begin_time: job.begin_time,
    ...(job.end_time === undefined ? {} : { end_time: job.end_time }),
    status: job.status,
    sub_jobs_total: job.sub_jobs.length,
  };
}

function renderSubJob(sub: ApiSubJob): ApiSubJob {
  return {
    id: sub.id,
    job_type: sub.job_type,
    job_resource_info: { ...sub.job_resource_info },
    begin_time: sub.begin_time,
    ...(sub.end_time === undefined ? {} : { end_time: sub.end_time }),
    status: sub.status,
    job_execute_info: { ...sub.job_execute_info },
    project_id: sub.project_id,
    job_id: sub.job_id,
  };
}

/** One page of ListImageJobs over `jobs` (in list order): the total count and that page. */
export function pageJobs(
  jobs: readonly ApiJob[],
  query: JobQuery,
  offset: number,
  limit: number,
): { count: number; items: ApiJobSummary[] } {
  const all = jobs.filter(
    (j) => j.job_type === query.jobType && (query.status === undefined || j.status === query.status),
  );
  return { count: all.length, items: all.slice(offset, offset + limit).map(renderSummary) };
}

/** One page of ListImageSubJobs over the sub-jobs of `jobs` (in list order). */
export function pageSubJobs(
  jobs: readonly ApiJob[],
  query: JobQuery,
  offset: number,
  limit: number,
): { count: number; items: ApiSubJob[] } {
  const all = jobs
    .filter((j) => query.jobId === undefined || j.id === query.jobId)
    .flatMap((j) => j.sub_jobs)
    .filter((s) => s.job_type === query.jobType && (query.status === undefined || s.status === query.status));
  return { count: all.length, items: all.slice(offset, offset + limit).map(renderSubJob) };
}
