/**
 * Job observation (DESIGN §11): a pure function from what imagewatch remembers about a project's image
 * jobs and what one tick's job lists and look-ups returned to the next job records and the events to emit.
 * No IO, no clock: `now` comes in the input. The IO side (poller/watch-jobs.ts) first asks
 * {@link planJobFetches} which jobs need a ShowImageJob or a sub-job list, fetches them, then calls
 * {@link observeJobs}.
 *
 * Rules:
 * - The first tick of a project (no cursor) learns the FAILED history silently; active jobs are recorded
 *   and reported when they end (or get stuck).
 * - `image_job.failed`: once per job, when it is seen FAILED or one of its sub-jobs is
 *   FAILED/ABNORMAL/ROLLBACK/ABORTING; `image_job.succeeded`: once, when it ends SUCCESS without failures.
 * - `image_job.stuck`: WAITING/RUNNING longer than its type's threshold since `begin_time`; once, then at
 *   each further `repeatEvery` (slot n = ⌊(age − threshold) / repeatEvery⌋, 0 without reminders).
 * - A job belongs to the server one of its sub-jobs names (resource id = the server's id or `image_id`, or
 *   resource name = the server's name), else to the project alone (`server_id` ""). Only the shard owning
 *   that server (or, without one, the job id) emits its events; every replica keeps the records.
 * - Ids: job id, event type, job status (and the reminder slot of `stuck`), so replicas agree.
 * - A finished job whose record was pruned (`forgetBefore`, see `jobRetainedSince`) stays forgotten when a
 *   FAILED list shows it again: no record, no look-up, no event.
 */
import { toIsoOrNull } from "../lib/iso.js";
import { eventId } from "./event-id.js";
import {
  type ImageJob,
  type ImageJobDetail,
  type ImageSubJob,
  isJobActive,
  type JobFailure,
  type JobType,
  jobDurationSeconds,
  jobFailures,
  jobRetainedSince,
} from "./jobs.js";
import { ownsServer, type ShardAssignment } from "./sharding.js";
import type { DomainEvent, EventData, EventType } from "./types.js";

/** A resource a job's sub-job works on (`job_resource_info`). */
export interface JobResource {
  id: string;
  name: string;
}

/** Everything imagewatch remembers about one image job (persisted in the store). */
export interface JobRecord {
  projectId: string;
  jobId: string;
  jobType: string;
  status: string;
  beginTime: number | null;
  endTime: number | null;
  /** The server the job belongs to; "" when none is known (reported for the project alone). */
  serverId: string;
  /** The server's name, or the sub-job's resource name when no server matched; "" when unknown. */
  name: string;
  /** The resources its sub-jobs named, once they were read (correlation is retried against them). */
  resources: JobResource[];
  /** True once the sub-jobs were read (from ListImageSubJobs or ShowImageJob). */
  subJobsSeen: boolean;
  /** The failed sub-jobs, with their reasons. */
  failures: JobFailure[];
  /** True once the job's end was handled: reported, or learned silently (history, another shard's). */
  outcomeHandled: boolean;
  /** How many stuck events (first + reminders) were emitted; the next reminder is slot `stuckCount`. */
  stuckCount: number;
  /** When imagewatch first saw the job (ms). */
  firstSeenAt: number;
}

/** Per project: what the job lists looked like last (persisted with the records). */
export interface JobCursor {
  projectId: string;
  /** The FAILED list's `count` per job type at the last tick. */
  failedCounts: Record<string, number>;
}

/** What one tick's lists of one job type returned. */
export interface JobTypeLists {
  jobType: JobType;
  /** The WAITING and RUNNING jobs (every page). */
  active: readonly ImageJob[];
  /** The first FAILED page, or every FAILED page when the count moved. */
  failed: readonly ImageJob[];
  /** The FAILED list's `count` (undefined when the API sent none). */
  failedCount: number | undefined;
}

/** The look-ups a tick needs beyond the lists. */
export interface JobFetchPlan {
  /** ShowImageJob: known active jobs that left the active lists, and new FAILED jobs. */
  show: string[];
  /** ListImageSubJobs: active jobs whose sub-jobs were never read (for correlation). */
  subJobs: Array<{ jobId: string; jobType: JobType }>;
}

/** A server as correlation sees it. */
export interface JobServerRef {
  id: string;
  name: string;
  imageId: string;
}

/** The job a `status_changed` carries (DESIGN §11). */
export interface JobRef {
  job_id: string;
  job_type: string;
  status: string;
  error_code: string;
  error_message: string;
}

/** The settings job observation needs (durations in ms). */
export interface JobObserveConfig {
  /** Stuck threshold per job type; 0 or absent = never stuck. */
  stuck: Readonly<Record<string, number>>;
  /** Interval between stuck reminders; 0 = none. */
  repeatEvery: number;
  sharding: ShardAssignment;
  /**
   * Finished jobs whose {@link jobRetainedSince} is before this (ms) and that are not known are pruned
   * history: the cut-off of the latest job prune (`state.retention`). A FAILED list that shows them again
   * is ignored for them, so they come back neither as records nor as new failures. Absent: none is
   * forgotten.
   */
  forgetBefore?: number | undefined;
}

/** The input of {@link observeJobs}. */
export interface JobObserveInput {
  projectId: string;
  now: number;
  /** Stored cursor; undefined on the project's first tick. */
  cursor: JobCursor | undefined;
  known: ReadonlyMap<string, JobRecord>;
  lists: readonly JobTypeLists[];
  /** ShowImageJob answers; null = the job does not exist (404). */
  details: ReadonlyMap<string, ImageJobDetail | null>;
  subJobs: ReadonlyMap<string, readonly ImageSubJob[]>;
  /**
   * Every server known in the project (present or not), or a function giving them: it is called at
   * most once, and only when a job has to be attached to a server (building the list is a pass over
   * every server, wasted on the ticks where no job needs it).
   */
  servers: readonly JobServerRef[] | (() => readonly JobServerRef[]);
  config: JobObserveConfig;
}

/** The result of {@link observeJobs}. */
export interface JobObservation {
  /** Records that changed (to upsert). */
  records: JobRecord[];
  cursor: JobCursor;
  events: DomainEvent[];
  /** Every job this shard owns that is WAITING or RUNNING now. */
  active: Array<{ jobType: string; status: string }>;
  /** Jobs this shard owns seen ending in this tick (not the learned history). */
  finished: Array<{ jobType: string; status: string; durationSeconds: number | null }>;
  /**
   * Per server id: its latest job (by begin time), for `status_changed`. Built on first read from the
   * records as this tick left them (a pass over the project's whole job history).
   */
  readonly jobOfServer: ReadonlyMap<string, JobRef>;
}

/** Which jobs need a ShowImageJob or a sub-job list this tick. Pure. */
export function planJobFetches(
  known: ReadonlyMap<string, JobRecord>,
  cursor: JobCursor | undefined,
  lists: readonly JobTypeLists[],
  forgetBefore?: number,
): JobFetchPlan {
  const show = new Set<string>();
  const subJobs: JobFetchPlan["subJobs"] = [];
  const active = new Set<string>();
  for (const l of lists) {
    for (const job of l.active) {
      active.add(job.id);
      const rec = known.get(job.id);
      if (!rec?.subJobsSeen) subJobs.push({ jobId: job.id, jobType: l.jobType });
    }
  }
  for (const l of lists) {
    for (const job of l.failed) {
      if (active.has(job.id) || isForgotten(job, known, forgetBefore)) continue;
      const rec = known.get(job.id);
      // The first tick learns the history without a look-up per old job.
      if (rec ? !rec.outcomeHandled : cursor !== undefined) show.add(job.id);
    }
  }
  for (const rec of known.values()) {
    if (isJobActive(rec.status) && !active.has(rec.jobId)) show.add(rec.jobId);
  }
  return { show: [...show], subJobs };
}

/** Whether this shard owns the job: by its server, or by the job id when it has none (module comment). */
function ownsJob(rec: JobRecord, sharding: ShardAssignment): boolean {
  return ownsServer(rec.serverId !== "" ? rec.serverId : rec.jobId, sharding);
}

/** A listed job that is not known and aged out before `forgetBefore`: pruned history, left alone. */
function isForgotten(
  job: ImageJob,
  known: ReadonlyMap<string, JobRecord>,
  forgetBefore: number | undefined,
): boolean {
  if (forgetBefore === undefined || known.has(job.id)) return false;
  const since = jobRetainedSince(job);
  return since !== null && since < forgetBefore;
}

/** True when the FAILED list must be read past its first page: its count moved (or was never seen). */
export function failedCountMoved(cursor: JobCursor | undefined, jobType: string, count: number | undefined) {
  return count === undefined || cursor?.failedCounts[jobType] !== count;
}

/**
 * Folds one tick's job answers into the project's job records. Pure: inputs are not modified; equal
 * inputs give equal records, events and ids.
 */
export function observeJobs(input: JobObserveInput): JobObservation {
  const { projectId, now, config } = input;
  const firstTick = input.cursor === undefined;
  // The records as this tick leaves them: the changed ones over the known ones (a copy of every known
  // record per tick would cost more than the rest of a quiet tick once the history is long).
  const changed = new Map<string, JobRecord>();
  const current = (jobId: string): JobRecord | undefined => changed.get(jobId) ?? input.known.get(jobId);
  const touched = new Set<string>();
  const set = (rec: JobRecord) => {
    changed.set(rec.jobId, rec);
    touched.add(rec.jobId);
  };
  const fromList = (job: ImageJob): JobRecord => {
    const prev = current(job.id);
    return {
      ...(prev ?? newRecord(projectId, job, now)),
      jobType: job.jobType,
      status: job.status,
      beginTime: job.beginTime ?? prev?.beginTime ?? null,
      endTime: job.endTime ?? prev?.endTime ?? null,
    };
  };

  const failedCounts: Record<string, number> = { ...input.cursor?.failedCounts };
  for (const l of input.lists) {
    for (const job of l.active) set(fromList(job));
    for (const job of l.failed) if (!isForgotten(job, input.known, config.forgetBefore)) set(fromList(job));
    if (l.failedCount !== undefined) failedCounts[l.jobType] = l.failedCount;
  }
  for (const [jobId, subs] of input.subJobs) {
    const rec = current(jobId);
    if (rec) set(withSubJobs(rec, subs));
  }
  for (const [jobId, detail] of input.details) {
    const rec = current(jobId);
    if (detail === null) {
      // Gone from the API before we saw its end: nothing to report.
      if (rec)
        set({ ...rec, status: isJobActive(rec.status) ? "UNKNOWN" : rec.status, outcomeHandled: true });
      continue;
    }
    const base = rec ?? newRecord(projectId, detail, now);
    set(
      withSubJobs(
        {
          ...base,
          jobType: detail.jobType,
          status: detail.status,
          beginTime: detail.beginTime ?? base.beginTime,
          endTime: detail.endTime ?? base.endTime,
        },
        detail.subJobs,
      ),
    );
  }

  const events: DomainEvent[] = [];
  const finished: JobObservation["finished"] = [];
  const records: JobRecord[] = [];
  let servers: readonly JobServerRef[] | undefined;
  const serversOnce = (): readonly JobServerRef[] => {
    if (servers === undefined)
      servers = typeof input.servers === "function" ? input.servers() : input.servers;
    return servers;
  };
  for (const jobId of touched) {
    const before = input.known.get(jobId);
    let rec = correlate(current(jobId) as JobRecord, serversOnce);
    const owned = ownsJob(rec, config.sharding);
    const emit = (type: EventType, discriminator: string, extra: Partial<EventData>) => {
      if (owned) events.push(jobEvent(type, rec, now, discriminator, extra));
    };

    if (!rec.outcomeHandled) {
      const active = isJobActive(rec.status);
      const failing = rec.status === "FAILED" || rec.failures.length > 0;
      if (firstTick && !active) {
        rec = { ...rec, outcomeHandled: true }; // history: learned, not reported
      } else if (failing) {
        rec = { ...rec, outcomeHandled: true };
        emit("image_job.failed", "", {});
        if (!active && owned) finished.push(finishedOf(rec));
      } else if (!active) {
        rec = { ...rec, outcomeHandled: true };
        if (rec.status === "SUCCESS") {
          emit("image_job.succeeded", "", {});
          if (owned) finished.push(finishedOf(rec));
        }
      }
    }

    const threshold = config.stuck[rec.jobType] ?? 0;
    if (isJobActive(rec.status) && rec.beginTime !== null && threshold > 0) {
      const age = now - rec.beginTime;
      if (age > threshold) {
        const slot = config.repeatEvery > 0 ? Math.floor((age - threshold) / config.repeatEvery) : 0;
        if (rec.stuckCount === 0 || (config.repeatEvery > 0 && slot >= rec.stuckCount)) {
          rec = { ...rec, stuckCount: slot + 1 };
          emit("image_job.stuck", `:n:${slot}`, {
            stuck_threshold_seconds: threshold / 1000,
            stuck_seconds: Math.max(0, age / 1000),
          });
        }
      }
    }
    changed.set(jobId, rec);
    if (!before || JSON.stringify(before) !== JSON.stringify(rec)) records.push(rec);
  }

  /**
   * Calls `fn` with every record after this tick, in the order a copy of `known` updated in place would
   * hold them (a callback, not a generator: the `active` pass runs every tick over the whole history).
   */
  const eachRecord = (fn: (rec: JobRecord) => void) => {
    for (const [jobId, rec] of input.known) fn(changed.get(jobId) ?? rec);
    for (const [jobId, rec] of changed) if (!input.known.has(jobId)) fn(rec);
  };
  const active: JobObservation["active"] = [];
  eachRecord((rec) => {
    if (!isJobActive(rec.status)) return;
    if (ownsJob(rec, config.sharding)) active.push({ jobType: rec.jobType, status: rec.status });
  });
  let jobOfServer: ReadonlyMap<string, JobRef> | undefined;
  return {
    records,
    cursor: { projectId, failedCounts },
    events,
    active,
    finished,
    // Only a tick where a server's status changed asks; most ticks never pay the pass. It reads `known`
    // then: a prune in between only drops jobs older than the retention.
    get jobOfServer() {
      jobOfServer ??= latestJobOfServer(eachRecord);
      return jobOfServer;
    },
  };
}

/**
 * Per server id: its latest job by begin time (first seen, without one); of two that began together, the
 * greater job id (the order the store lists them in, so a restart does not change the answer).
 */
function latestJobOfServer(eachRecord: (fn: (rec: JobRecord) => void) => void): Map<string, JobRef> {
  const jobOfServer = new Map<string, JobRef>();
  const latest = new Map<string, { begin: number; rec: JobRecord }>();
  eachRecord((rec) => {
    if (rec.serverId === "") return;
    const begin = rec.beginTime ?? rec.firstSeenAt;
    const seen = latest.get(rec.serverId);
    if (seen === undefined || seen.begin < begin || (seen.begin === begin && seen.rec.jobId < rec.jobId))
      latest.set(rec.serverId, { begin, rec });
  });
  for (const [serverId, { rec }] of latest) jobOfServer.set(serverId, jobRefOf(rec));
  return jobOfServer;
}

/** The `job` a `status_changed` carries: the job, and its first failure's reason. */
export function jobRefOf(rec: JobRecord): JobRef {
  const f = rec.failures[0];
  return {
    job_id: rec.jobId,
    job_type: rec.jobType,
    status: rec.status,
    error_code: f?.error_code ?? "",
    error_message: f?.error_message ?? "",
  };
}

/** The JSON shape of a job in the API and in events (DESIGN §4, §11), without `event_id`. */
export function jobView(rec: JobRecord, now: number) {
  return {
    project_id: rec.projectId,
    job_id: rec.jobId,
    job_type: rec.jobType,
    status: rec.status,
    begin_time: toIsoOrNull(rec.beginTime),
    end_time: toIsoOrNull(rec.endTime),
    duration_seconds: jobDurationSeconds(rec, isJobActive(rec.status) ? now : undefined),
    server_id: rec.serverId,
    name: rec.name,
    failures: rec.failures,
  };
}

function newRecord(projectId: string, job: ImageJob, now: number): JobRecord {
  return {
    projectId,
    jobId: job.id,
    jobType: job.jobType,
    status: job.status,
    beginTime: job.beginTime,
    endTime: job.endTime,
    serverId: "",
    name: "",
    resources: [],
    subJobsSeen: false,
    failures: [],
    outcomeHandled: false,
    stuckCount: 0,
    firstSeenAt: now,
  };
}

function withSubJobs(rec: JobRecord, subs: readonly ImageSubJob[]): JobRecord {
  return {
    ...rec,
    subJobsSeen: true,
    resources: subs.map((s) => ({ id: s.resourceId, name: s.resourceName })),
    failures: jobFailures({ subJobs: [...subs] }),
  };
}

/** Attaches the job to the first server one of its resources names (kept once found). */
function correlate(rec: JobRecord, serversOf: () => readonly JobServerRef[]): JobRecord {
  if (rec.serverId !== "") return rec;
  for (const r of rec.resources) {
    const server = serversOf().find(
      (s) =>
        (r.id !== "" && (s.id === r.id || (s.imageId !== "" && s.imageId === r.id))) ||
        (r.name !== "" && s.name === r.name),
    );
    if (server) return { ...rec, serverId: server.id, name: server.name };
  }
  const name = rec.resources.find((r) => r.name !== "")?.name ?? "";
  return name === rec.name ? rec : { ...rec, name };
}

function finishedOf(rec: JobRecord): JobObservation["finished"][number] {
  return { jobType: rec.jobType, status: rec.status, durationSeconds: jobDurationSeconds(rec) };
}

function jobEvent(
  type: EventType,
  rec: JobRecord,
  now: number,
  discriminator: string,
  extra: Partial<EventData>,
): DomainEvent {
  const id = eventId({
    type,
    projectId: rec.projectId,
    serverId: "",
    previousStatus: null,
    status: rec.status,
    updateTime: null,
    discriminator: `job:${rec.jobId}${discriminator}`,
  });
  const data: EventData = { event_id: id, ...jobView(rec, now), ...extra };
  return { id, type, occurredAt: now, projectId: rec.projectId, serverId: rec.serverId, data };
}
