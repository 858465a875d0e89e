/**
 * Simulator scenarios: what the fake Workspace/IAM API holds and how it changes over time
 * (DESIGN §3). A scenario is YAML on disk, validated strictly, and normalised to ms offsets.
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import * as z from "zod";
import { parseDuration } from "../lib/duration.js";
import { ConfigError, type ConfigIssue, formatIssuePath } from "../lib/errors.js";

/** The credentials the simulator accepts: AK/SK signing and the IAM password flow. */
export interface ScenarioCredentials {
  accessKey: string;
  secretKey: string;
  /** When set, AK/SK requests must carry this X-Security-Token (temporary credentials). */
  securityToken?: string;
  domain: string;
  username: string;
  password: string;
}

/**
 * The routes faults and counters distinguish: `get`/`list` image servers, `token`, and the job APIs
 * `jobs` (ListImageJobs), `job` (ShowImageJob) and `sub_jobs` (ListImageSubJobs), the metadata service
 * (`metadata`: session token and security key) and IAM's `securitytokens` (assume an agency).
 */
export type SimRoute = "get" | "list" | "token" | "jobs" | "job" | "sub_jobs" | "metadata" | "securitytokens";

/** Image job types (API §6). */
export const JOB_TYPES = ["CREATE_SERVER", "CREATE_SERVER_IMAGE", "DELETE_SERVER"] as const;
/** An image job type. */
export type JobType = (typeof JOB_TYPES)[number];
/** Job statuses (API §6). */
export const JOB_STATUSES = ["WAITING", "RUNNING", "SUCCESS", "FAILED"] as const;
/** A job status. */
export type JobStatus = (typeof JOB_STATUSES)[number];
/** Sub-job statuses: the job statuses plus ABNORMAL, ROLLBACK and ABORTING. */
export const SUB_JOB_STATUSES = [...JOB_STATUSES, "ABNORMAL", "ROLLBACK", "ABORTING"] as const;
/** A sub-job status. */
export type SubJobStatus = (typeof SUB_JOB_STATUSES)[number];

/** Why a sub-job failed, as the API's `job_execute_info`. */
export interface ExecuteInfo {
  error_code?: string;
  error_message?: string;
}

/**
 * A fault for the next `count` requests that match `route`/`method`/`projectId`/`serverId` (all optional).
 * The effects combine: `delayMs` first, then `reset`, or a `status` answer, or `malformedJson`, or
 * `wrongShape`; `bodyDelayMs` stalls whatever body is sent. A fault with only delays delays the normal
 * answer.
 */
export interface FaultSpec {
  route?: SimRoute;
  method?: string;
  projectId?: string;
  serverId?: string;
  /** Matches ShowImageJob of this job id. */
  jobId?: string;
  /** How many matching requests it hits; default 1. */
  count?: number;
  /** Answer with this HTTP status and `body` (default: a WKS/APIGW body fitting the status). */
  status?: number;
  /** The answer's body: an object (sent as JSON) or a string (sent as is). */
  body?: unknown;
  /** Extra response headers, e.g. `{"Retry-After": "2"}`. */
  headers?: Record<string, string>;
  /** Shorthand for a `Retry-After` header (seconds or an HTTP date). */
  retryAfter?: number | string;
  /** Wait this long (real time) before sending the headers. */
  delayMs?: number;
  /** Send the headers, then wait this long before sending the body. */
  bodyDelayMs?: number;
  /** 200 with a truncated JSON body. */
  malformedJson?: boolean;
  /** Destroy the socket without answering. */
  reset?: boolean;
  /** 200 with a well-formed JSON body missing the required fields. */
  wrongShape?: boolean;
}

/** One timeline step of a server: fires `afterMs` after the simulator (or the server) started. */
export interface TimelineStep {
  afterMs: number;
  /** New status; `null` removes the field (a server without status). The string "null" is kept as is. */
  status?: string | null;
  /** The server disappears (404, absent from lists). */
  remove?: boolean;
  /** A removed server comes back. */
  restore?: boolean;
  /** Other API fields to set (e.g. `image_id` when a build finishes). */
  fields?: Record<string, unknown>;
  /** When this step ends a derived job: the failure reason and sub-job status (default FAILED). */
  job?: DerivedJobOutcome;
}

/** The outcome a server timeline step gives the job it ends (DESIGN §11). */
export interface DerivedJobOutcome extends ExecuteInfo {
  sub_job_status?: SubJobStatus;
}

/** A sub-job of a scenario job; ids, times, job_type, project_id and job_id are filled in. */
export interface ScenarioSubJob {
  id?: string;
  /** Default: follows the job's status. */
  status?: SubJobStatus;
  begin_time?: string | number;
  end_time?: string | number;
  job_resource_info?: { resource_id?: string; resource_name?: string };
  job_execute_info?: ExecuteInfo;
}

/** A status step of a job's timeline, `afterMs` after the simulator (or the job) started. */
export interface JobStep {
  afterMs: number;
  status: JobStatus;
  /** Status of every sub-job; default: the job's (FAILED for FAILED, and so on). */
  sub_job_status?: SubJobStatus;
  /** Set on every sub-job. */
  job_execute_info?: ExecuteInfo;
}

/** An explicit job of a scenario (or of `addJob`). */
export interface ScenarioJob {
  /** 18 digits; derived from the scenario when missing. */
  id?: string;
  job_type: JobType;
  status: JobStatus;
  /** The job appears this long after the start (default: at once); `begin_time` defaults to then. */
  afterMs?: number;
  /** `-10m` (relative), ms since epoch, or a string kept verbatim. */
  begin_time?: string | number;
  /** Default: the moment the job reaches SUCCESS or FAILED; absent while it is WAITING or RUNNING. */
  end_time?: string | number;
  sub_jobs: ScenarioSubJob[];
  timeline: JobStep[];
}

/** `history:` of a project: this many FAILED jobs that ended before the start, one sub-job each. */
export interface JobHistory {
  failed: number;
  job_type: JobType;
  /** Reason on each sub-job; default WKS.0003 / "image job failed". */
  error_code?: string;
  error_message?: string;
  /** Spacing of their begin times, counting back from the start; default 1h. */
  everyMs: number;
}

/** A server of a scenario: its API fields (any, generated when missing) and its timeline. */
export interface ScenarioServer {
  /** API fields as given; `status: null` means "no status field". */
  fields: Record<string, unknown>;
  /** True when the server starts removed (it may be restored by its timeline). */
  removed?: boolean;
  timeline: TimelineStep[];
}

/** A project and its image servers. */
export interface ScenarioProject {
  id: string;
  servers: ScenarioServer[];
  /** Explicit jobs. */
  jobs: ScenarioJob[];
  /** Historical FAILED jobs. */
  history: JobHistory[];
  /** Whether server timelines derive jobs (default true). */
  deriveJobs: boolean;
}

/** A fault injected once the simulator clock reaches `afterMs`. */
export interface ScheduledFault {
  afterMs: number;
  fault: FaultSpec;
}

/** A validated, normalised scenario. */
export interface Scenario {
  credentials: ScenarioCredentials;
  projects: ScenarioProject[];
  faults: ScheduledFault[];
  /** Lifetime of issued IAM tokens; default 24 h. */
  tokenLifetimeMs?: number;
  /** The metadata service of the node the simulator stands for. */
  metadata: ScenarioMetadata;
  /** The agencies `securitytokens` may assume. */
  agencies: ScenarioAgency[];
  /** Lifetime of the temporary credentials of the metadata service; default 1 h. */
  temporaryLifetimeMs?: number;
}

/** The metadata service: `agency: false` is a node without an agency; `tokenApi: false` has no PUT token. */
export interface ScenarioMetadata {
  agency: boolean;
  tokenApi: boolean;
}

/** An agency that may be assumed: the domain that owns it and its name. */
export interface ScenarioAgency {
  domainName: string;
  agencyName: string;
}

/** The agency the demo credentials may assume when a scenario names none. */
export const DEFAULT_AGENCY_NAME = "imagewatch";

/** The demo credentials, used when no scenario is given. */
export const DEFAULT_CREDENTIALS: ScenarioCredentials = {
  accessKey: "DEMOACCESSKEY0000001",
  secretKey: "demo-secret-key-0000000000000000000000000",
  domain: "demo",
  username: "demo",
  password: "demo-password",
};

/** A scenario with the demo credentials and no projects. */
export function emptyScenario(): Scenario {
  return {
    credentials: { ...DEFAULT_CREDENTIALS },
    projects: [],
    faults: [],
    metadata: { agency: true, tokenApi: true },
    agencies: [{ domainName: DEFAULT_CREDENTIALS.domain, agencyName: DEFAULT_AGENCY_NAME }],
  };
}

/** A duration: a string such as `20s`, or a number of milliseconds. */
const durationSchema = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === "number") return v;
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `not a duration: ${JSON.stringify(v)} (e.g. 500ms, 20s, 5m)` });
    return z.NEVER;
  }
  return ms;
});

const routeSchema = z.enum(["get", "list", "token", "jobs", "job", "sub_jobs", "metadata", "securitytokens"]);

/** Schema of a fault (shared with the control interface). */
export const faultSpecSchema = z.strictObject({
  route: routeSchema.optional(),
  method: z.string().min(1).optional(),
  projectId: z.string().min(1).optional(),
  serverId: z.string().min(1).optional(),
  jobId: z.string().min(1).optional(),
  count: z.number().int().positive().optional(),
  status: z.number().int().min(100).max(599).optional(),
  body: z.unknown().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  retryAfter: z.union([z.number().nonnegative(), z.string().min(1)]).optional(),
  delayMs: z.number().nonnegative().optional(),
  bodyDelayMs: z.number().nonnegative().optional(),
  malformedJson: z.boolean().optional(),
  reset: z.boolean().optional(),
  wrongShape: z.boolean().optional(),
});

/** Schema of `job_execute_info` (shared with the control interface). */
export const executeInfoSchema = z.strictObject({
  error_code: z.string().optional(),
  error_message: z.string().optional(),
});
const timeSchema = z.union([z.string().min(1), z.number()]);
const jobStatusSchema = z.enum(JOB_STATUSES);
const subJobStatusSchema = z.enum(SUB_JOB_STATUSES);

/** Schema of a server step's `job:` (shared with the control interface). */
export const derivedJobOutcomeSchema = executeInfoSchema.extend({
  sub_job_status: subJobStatusSchema.optional(),
});

const timelineStepSchema = z.strictObject({
  after: durationSchema,
  status: z.string().nullable().optional(),
  remove: z.boolean().optional(),
  restore: z.boolean().optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
  job: derivedJobOutcomeSchema.optional(),
});

const subJobSchema = z.strictObject({
  id: z.string().min(1).optional(),
  status: subJobStatusSchema.optional(),
  begin_time: timeSchema.optional(),
  end_time: timeSchema.optional(),
  job_resource_info: z
    .strictObject({ resource_id: z.string().optional(), resource_name: z.string().optional() })
    .optional(),
  job_execute_info: executeInfoSchema.optional(),
});

/** Schema of a job step: a new job status, optionally the sub-jobs' status and failure reason. */
export const jobStepSchema = z.strictObject({
  after: durationSchema,
  status: jobStatusSchema,
  sub_job_status: subJobStatusSchema.optional(),
  job_execute_info: executeInfoSchema.optional(),
});

/** Schema of an explicit job (scenario `jobs:` and the control interface). */
export const jobInputSchema = z.strictObject({
  id: z
    .string()
    .regex(/^\d{1,30}$/, "a job id is a string of digits")
    .optional(),
  job_type: z.enum(JOB_TYPES),
  status: jobStatusSchema.default("RUNNING"),
  after: durationSchema.optional(),
  begin_time: timeSchema.optional(),
  end_time: timeSchema.optional(),
  sub_jobs: z.array(subJobSchema).optional(),
  timeline: z.array(jobStepSchema).optional(),
});

/** A job as `addJob` and `POST /__sim/projects/{p}/jobs` take it (the scenario's `jobs:` entries). */
export type JobInput = z.input<typeof jobInputSchema>;

const historySchema = z.strictObject({
  failed: z.number().int().positive().max(100_000),
  job_type: z.enum(JOB_TYPES),
  error_code: z.string().optional(),
  error_message: z.string().optional(),
  every: durationSchema.optional(),
});

/** Schema of a server: any API field, plus `timeline` and `removed`. */
export const serverInputSchema = z.looseObject({
  id: z.string().min(1).optional(),
  name: z.string().optional(),
  status: z.string().nullable().optional(),
  removed: z.boolean().optional(),
  timeline: z.array(timelineStepSchema).optional(),
});

const scenarioSchema = z.strictObject({
  credentials: z.strictObject({
    accessKey: z.string().min(1),
    secretKey: z.string().min(1),
    securityToken: z.string().min(1).optional(),
    domain: z.string().min(1),
    username: z.string().min(1),
    password: z.string().min(1),
  }),
  projects: z
    .array(
      z.strictObject({
        id: z.string().min(1),
        servers: z.array(serverInputSchema).optional(),
        jobs: z.array(jobInputSchema).optional(),
        history: z.union([historySchema, z.array(historySchema)]).optional(),
        deriveJobs: z.boolean().optional(),
      }),
    )
    .optional(),
  faults: z.array(faultSpecSchema.extend({ after: durationSchema })).optional(),
  tokenLifetime: durationSchema.optional(),
  metadata: z.strictObject({ agency: z.boolean().optional(), tokenApi: z.boolean().optional() }).optional(),
  agencies: z
    .array(z.strictObject({ domainName: z.string().min(1), agencyName: z.string().min(1) }))
    .optional(),
  temporaryCredentialLifetime: durationSchema.optional(),
});

type TimelineStepInput = z.output<typeof timelineStepSchema>;

function toStep(input: TimelineStepInput): TimelineStep {
  const step: TimelineStep = { afterMs: input.after };
  if (input.status !== undefined) step.status = input.status;
  if (input.remove) step.remove = true;
  if (input.restore) step.restore = true;
  if (input.fields) step.fields = input.fields;
  if (input.job) step.job = input.job;
  return step;
}

/** Normalises one validated job input (scenario file or control API). */
export function toScenarioJob(input: z.output<typeof jobInputSchema>): ScenarioJob {
  const { after, timeline, sub_jobs, ...rest } = input;
  const job: ScenarioJob = {
    ...rest,
    sub_jobs: sub_jobs ?? [],
    timeline: (timeline ?? []).map(({ after: stepAfter, ...step }) => ({ afterMs: stepAfter, ...step })),
  };
  if (after !== undefined) job.afterMs = after;
  return job;
}

/** Normalises one validated server input (scenario file or control API). */
export function toScenarioServer(input: z.output<typeof serverInputSchema>): ScenarioServer {
  const { timeline, removed, ...fields } = input;
  const server: ScenarioServer = { fields, timeline: (timeline ?? []).map(toStep) };
  if (removed) server.removed = true;
  return server;
}

/** Converts a zod error to config issues, every problem with its path. */
export function zodIssues(error: z.ZodError, prefix = ""): ConfigIssue[] {
  return error.issues.map((issue) => {
    const path = formatIssuePath(issue.path);
    return { path: prefix && path ? `${prefix}.${path}` : prefix || path, message: issue.message };
  });
}

/**
 * Validates a scenario given as plain data (YAML already parsed, or built in a test) and normalises it.
 * Throws ConfigError listing every problem with its path.
 */
export function normaliseScenario(data: unknown): Scenario {
  const result = scenarioSchema.safeParse(data);
  if (!result.success) throw new ConfigError(zodIssues(result.error));
  const input = result.data;
  const issues: ConfigIssue[] = [];
  const seenProjects = new Set<string>();
  const projects: ScenarioProject[] = (input.projects ?? []).map((p, pi) => {
    if (seenProjects.has(p.id))
      issues.push({ path: `projects[${pi}].id`, message: `duplicate project ${p.id}` });
    seenProjects.add(p.id);
    const ids = new Set<string>();
    const servers = (p.servers ?? []).map((s, si) => {
      if (s.id !== undefined) {
        if (ids.has(s.id))
          issues.push({ path: `projects[${pi}].servers[${si}].id`, message: `duplicate server ${s.id}` });
        ids.add(s.id);
      }
      return toScenarioServer(s);
    });
    const jobIds = new Set<string>();
    const jobs = (p.jobs ?? []).map((j, ji) => {
      if (j.id !== undefined) {
        if (jobIds.has(j.id))
          issues.push({ path: `projects[${pi}].jobs[${ji}].id`, message: `duplicate job ${j.id}` });
        jobIds.add(j.id);
      }
      return toScenarioJob(j);
    });
    const history = (p.history === undefined ? [] : Array.isArray(p.history) ? p.history : [p.history]).map(
      ({ every, ...h }) => ({ ...h, everyMs: every ?? 3_600_000 }),
    );
    return { id: p.id, servers, jobs, history, deriveJobs: p.deriveJobs ?? true };
  });
  if (issues.length > 0) throw new ConfigError(issues);
  const scenario: Scenario = {
    credentials: { ...input.credentials },
    projects,
    faults: (input.faults ?? []).map(({ after, ...fault }) => ({ afterMs: after, fault })),
    metadata: { agency: input.metadata?.agency ?? true, tokenApi: input.metadata?.tokenApi ?? true },
    agencies: input.agencies ?? [{ domainName: input.credentials.domain, agencyName: DEFAULT_AGENCY_NAME }],
  };
  if (input.tokenLifetime !== undefined) scenario.tokenLifetimeMs = input.tokenLifetime;
  if (input.temporaryCredentialLifetime !== undefined)
    scenario.temporaryLifetimeMs = input.temporaryCredentialLifetime;
  return scenario;
}

/** Parses and validates scenario YAML. Throws ConfigError (with line and column for YAML errors). */
export function parseScenario(text: string): Scenario {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const message = (e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
        return { path: pos ? `line ${pos.line}, column ${pos.col}` : "", message };
      }),
    );
  }
  return normaliseScenario(doc.toJS());
}

/** Reads and parses a scenario file; a missing or unreadable file is a ConfigError too. */
export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ConfigError([{ path, message: `cannot read scenario file (${reason})` }], { cause: err });
  }
  try {
    return parseScenario(text);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ConfigError(
        err.issues.map((i) => ({ path: i.path ? `${path}: ${i.path}` : path, message: i.message })),
        { cause: err },
      );
    }
    throw err;
  }
}
