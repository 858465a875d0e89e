import type { CloudClient } from "../cloud/client.js";
import type { Config, TargetConfig } from "../config/types.js";
import {
  type ImageJob,
  JOB_TYPES,
  type JobFailure,
  jobDurationSeconds,
  jobFailures,
} from "../domain/jobs.js";
import { systemClock } from "../lib/clock.js";
import { formatHumanDuration, parseDuration } from "../lib/duration.js";
import { ExitCode, UsageError } from "../lib/errors.js";
import { toIsoOrNull } from "../lib/iso.js";
import { loadCommandConfig } from "./config-file.js";
import { type Command, type CommandContext, parseCommandArgs, writeLine } from "./context.js";
import { askClouds, describeCallFailure, renderColumns } from "./output.js";

const USAGE = `Usage: imagewatch jobs [-c FILE] [--failed] [--since 24h] [--json]

Asks the cloud API now for the image jobs (create, build, delete) of every configured target that
began within --since, and prints them newest first; a failed job is printed with the error code and
message of its failed sub-jobs. Sends nothing and stores nothing.

Options:
  -c, --config FILE   config file (default: $IMAGEWATCH_CONFIG, then config/imagewatch.yaml)
      --failed        only FAILED jobs
      --since DUR     only jobs that began this long ago or later (default 24h)
      --json          print a JSON array instead of a table
  -h, --help          show this help

Exit status: 0 every call succeeded, 1 a call failed, 78 invalid config, 2 usage error.`;

/** One printed job (the shape of `/api/v1/jobs`, without a server: `name` is the sub-job's resource). */
export interface JobRow {
  project_id: string;
  job_id: string;
  job_type: string;
  status: string;
  begin_time: string | null;
  end_time: string | null;
  duration_seconds: number | null;
  /** The resource name its sub-jobs name (the server's name), "" when none. */
  name: string;
  failures: JobFailure[];
}

/** What listing the jobs found: rows newest first, and the calls that failed. */
export interface JobsResult {
  rows: JobRow[];
  failures: Array<{ projectId: string; error: unknown }>;
}

/**
 * Lists every target's jobs of every type (only FAILED ones with `failedOnly`) that began at or after
 * `since`, and reads each failed one with ShowImageJob for its reasons. Never throws for a failed call.
 */
export async function listJobsNow(
  config: Readonly<Config>,
  deps: {
    /** The client of a target's cloud. */
    cloudFor: (target: TargetConfig) => CloudClient;
    now: number;
    since: number;
    failedOnly: boolean;
    signal?: AbortSignal;
  },
): Promise<JobsResult> {
  const { signal } = deps;
  const result: JobsResult = { rows: [], failures: [] };
  const from = deps.now - deps.since;
  for (const target of config.targets) {
    const { projectId } = target;
    try {
      const cloud = deps.cloudFor(target);
      for (const jobType of JOB_TYPES) {
        const filter = deps.failedOnly ? { jobType, status: "FAILED" } : { jobType };
        const jobs = await cloud.listAllImageJobs(projectId, filter, { signal });
        for (const job of jobs) {
          if ((job.beginTime ?? job.endTime ?? deps.now) < from) continue;
          result.rows.push(await rowOf(cloud, projectId, job, deps.now, signal));
        }
      }
    } catch (error) {
      result.failures.push({ projectId, error });
    }
  }
  result.rows.sort(
    (a, b) => (b.begin_time ?? "").localeCompare(a.begin_time ?? "") || b.job_id.localeCompare(a.job_id),
  );
  return result;
}

async function rowOf(
  cloud: CloudClient,
  projectId: string,
  job: ImageJob,
  now: number,
  signal: AbortSignal | undefined,
): Promise<JobRow> {
  let failures: JobFailure[] = [];
  let name = "";
  if (job.status === "FAILED") {
    const detail = await cloud.showImageJob(projectId, job.id, { signal });
    if (detail.kind === "ok") {
      failures = jobFailures(detail.job);
      name = detail.job.subJobs.find((s) => s.resourceName !== "")?.resourceName ?? "";
    }
  }
  const active = job.status === "WAITING" || job.status === "RUNNING";
  return {
    project_id: projectId,
    job_id: job.id,
    job_type: job.jobType,
    status: job.status,
    begin_time: toIsoOrNull(job.beginTime),
    end_time: toIsoOrNull(job.endTime),
    duration_seconds: jobDurationSeconds(job, active ? now : undefined),
    name,
    failures,
  };
}

/** The reason of a failed job: its failed sub-jobs' `error_code error_message`, joined. */
function reasonOf(row: JobRow): string {
  const reasons = row.failures
    .map((f) => [f.error_code, f.error_message].filter((x) => x !== "").join(" "))
    .filter((r) => r !== "");
  return reasons.length > 0 ? reasons.join("; ") : "-";
}

/** Renders rows as a column-aligned table (a PROJECT column when rows span several projects). */
export function renderJobsTable(rows: readonly JobRow[]): string {
  const multiProject = new Set(rows.map((r) => r.project_id)).size > 1;
  const header = [
    ...(multiProject ? ["PROJECT"] : []),
    "JOB ID",
    "TYPE",
    "STATUS",
    "BEGIN",
    "DURATION",
    "RESOURCE",
    "REASON",
  ];
  const lines = rows.map((r) => [
    ...(multiProject ? [r.project_id] : []),
    r.job_id,
    r.job_type,
    r.status,
    r.begin_time ?? "-",
    r.duration_seconds === null ? "-" : formatHumanDuration(r.duration_seconds * 1000),
    r.name === "" ? "-" : r.name,
    reasonOf(r),
  ]);
  return renderColumns(header, lines);
}

function describeJobsFailure(f: JobsResult["failures"][number]): string {
  return describeCallFailure(`project ${f.projectId} (jobs)`, f.error);
}

/** The `jobs` command. */
export const jobsCommand: Command = {
  name: "jobs",
  summary: "ask the API for image jobs now; failed ones with their reasons",
  usage: USAGE,
  async run(ctx: CommandContext): Promise<number> {
    const { values } = parseCommandArgs("jobs", ctx.args, {
      config: { type: "string", short: "c" },
      failed: { type: "boolean" },
      since: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      writeLine(ctx.stdout, USAGE);
      return ExitCode.ok;
    }
    const since = parseDuration(values.since ?? "24h");
    if (since === undefined || since <= 0) {
      throw new UsageError("--since: must be a duration such as 1h or 7d (see: imagewatch jobs --help)");
    }
    const loaded = loadCommandConfig(ctx, values.config);
    if (typeof loaded === "number") return loaded;
    const { config } = loaded;

    const { result, aborted } = await askClouds(ctx, config, (cloudFor, signal) =>
      listJobsNow(config, {
        cloudFor,
        now: systemClock.now(),
        since,
        failedOnly: values.failed ?? false,
        signal,
      }),
    );
    const failed = result.failures.length > 0 || aborted;
    if (values.json) writeLine(ctx.stdout, JSON.stringify(result.rows, null, 2));
    else if (result.rows.length > 0) writeLine(ctx.stdout, renderJobsTable(result.rows));
    else if (!failed) writeLine(ctx.stderr, values.failed ? "no failed image jobs" : "no image jobs");
    for (const f of result.failures) writeLine(ctx.stderr, describeJobsFailure(f));
    return failed ? ExitCode.failure : ExitCode.ok;
  },
};
