/**
 * The simulator's HTTP control interface under `/__sim/` (routes documented in README.md). It maps
 * JSON requests onto the same `SimulatorControl` API tests call directly. No authentication: the
 * simulator is a local test tool.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import * as z from "zod";
import { parseDuration } from "../lib/duration.js";
import { AppError, ConfigError } from "../lib/errors.js";
import { parseJsonBody, sendJson } from "./http-util.js";
import type { ApiJob, JobStatusChange } from "./jobs.js";
import {
  type DerivedJobOutcome,
  derivedJobOutcomeSchema,
  executeInfoSchema,
  type FaultSpec,
  JOB_STATUSES,
  type JobInput,
  type JobStatus,
  SUB_JOB_STATUSES,
} from "./scenario.js";
import type {
  ApiServer,
  IssuedToken,
  PendingFault,
  RequestRecord,
  SimulatorCounts,
  TemporaryCredential,
} from "./state.js";

/** A server to add: any API fields, `status: null` for none, plus an optional `timeline` and `removed`. */
export interface ServerInput {
  id?: string;
  name?: string;
  status?: string | null;
  removed?: boolean;
  /** Steps; `after` (a duration string or ms) counts from the moment the server is added. */
  timeline?: Array<{
    after: string | number;
    status?: string | null;
    remove?: boolean;
    restore?: boolean;
    fields?: Record<string, unknown>;
  }>;
  [field: string]: unknown;
}

/** The control API, shared by JS callers and the `/__sim/` routes. */
export interface SimulatorControl {
  /** Adds (or replaces) a server; creates the project if needed. Throws ConfigError on bad input. */
  addServer(projectId: string, server: ServerInput): ApiServer;
  /** Removes a server (404 and absent from lists from now on). */
  removeServer(projectId: string, serverId: string): boolean;
  /**
   * Sets the status (null removes the field) and moves update_time to now, or to `updateTime`. Derives
   * jobs as a timeline step does; `job` is the reason when this ends a job FAILED.
   */
  setStatus(
    projectId: string,
    serverId: string,
    status: string | null,
    options?: { updateTime?: number | string; job?: DerivedJobOutcome },
  ): ApiServer | undefined;
  /** Sets API fields (null removes one); `create_time`/`update_time` accept ms or `-5m`. */
  updateServer(projectId: string, serverId: string, fields: Record<string, unknown>): ApiServer | undefined;
  /** The server as the API would return it now. */
  getServer(projectId: string, serverId: string): ApiServer | undefined;
  /** A project's present servers in list order. */
  listServers(projectId: string): ApiServer[];
  /** Makes a project known (without servers). */
  addProject(projectId: string): void;
  /**
   * Adds (or replaces) a job; relative times and its timeline count from now; creates the project if
   * needed. Returns the job (as it will appear, when `after` delays it). Throws ConfigError on bad input.
   */
  addJob(projectId: string, job: JobInput): ApiJob;
  /** Sets a job's status now: sub-jobs follow (or take `subJobStatus`); SUCCESS/FAILED set `end_time`. */
  setJobStatus(
    projectId: string,
    jobId: string,
    status: JobStatus,
    change?: JobStatusChange,
  ): ApiJob | undefined;
  /** A job with its sub-jobs, as ShowImageJob answers. */
  getJob(projectId: string, jobId: string): ApiJob | undefined;
  /** Every job of a project (derived, explicit and historical), with sub-jobs, in list order. */
  listJobs(projectId: string): ApiJob[];
  /** Removes a job (404, absent from lists). */
  removeJob(projectId: string, jobId: string): boolean;
  /** Queues a fault for the next `count` matching requests; returns its id. Throws ConfigError on bad input. */
  injectFault(fault: FaultSpec): string;
  pendingFaults(): PendingFault[];
  clearFaults(): void;
  /** Issues a token as `POST /v3/auth/tokens` would (without counting a request). */
  issueToken(): IssuedToken;
  /** Revokes one token, or all; returns how many. */
  revokeTokens(token?: string): number;
  /** Lifetime of tokens issued from now on. */
  setTokenLifetime(ms: number): void;
  /** The metadata service's modes: `agency: false` = a node without an agency; `tokenApi: false` = no PUT token. */
  setMetadata(modes: { agency?: boolean; tokenApi?: boolean; lifetimeMs?: number }): void;
  /** Issues temporary credentials as the metadata service would (without counting a request). */
  issueTemporaryCredentials(lifetimeMs?: number): TemporaryCredential;
  /** Every temporary credential issued (metadata and agency), oldest first: what a client may hold. */
  temporaryCredentials(): TemporaryCredential[];
  counts(): SimulatorCounts;
  /** Recent requests (up to 1000), oldest first. Control requests are not recorded. */
  requests(): RequestRecord[];
  resetCounters(): void;
}

/** The reserved prefix of control routes. */
export const CONTROL_PREFIX = "/__sim/";

const statusBody = z.strictObject({
  status: z.string().nullable(),
  update_time: z.union([z.string(), z.number()]).optional(),
  job: derivedJobOutcomeSchema.optional(),
});
const jobStatusBody = z.strictObject({
  status: z.enum(JOB_STATUSES),
  sub_job_status: z.enum(SUB_JOB_STATUSES).optional(),
  job_execute_info: executeInfoSchema.optional(),
  end_time: z.union([z.string(), z.number()]).optional(),
});
const revokeBody = z.strictObject({ token: z.string().optional() }).optional();
const lifetimeBody = z.union([
  z.strictObject({ lifetimeMs: z.number().positive() }),
  z.strictObject({ lifetime: z.string() }),
]);
const metadataBody = z.strictObject({
  agency: z.boolean().optional(),
  tokenApi: z.boolean().optional(),
  lifetimeMs: z.number().positive().optional(),
});
const projectBody = z.strictObject({ id: z.string().min(1) });
const fieldsBody = z.record(z.string(), z.unknown());

function issuesOf(err: z.ZodError): Array<{ path: string; message: string }> {
  return err.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
}

class ControlInputError extends AppError {
  readonly issues: Array<{ path: string; message: string }>;
  constructor(message: string, issues: Array<{ path: string; message: string }> = []) {
    super("USAGE", message);
    this.issues = issues;
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new ControlInputError("invalid control request", issuesOf(r.error));
  return r.data;
}

/** A control answer: status and JSON body (undefined for none). */
interface ControlReply {
  status: number;
  body: unknown;
}

const reply = (status: number, body: unknown): ControlReply => ({ status, body });

/** Creates the `/__sim/` handler over a control API and a state snapshot function. */
export function createControlHandler(control: SimulatorControl, snapshot: () => unknown) {
  function dispatch(req: IncomingMessage, url: URL, rawBody: Buffer): ControlReply {
    const method = (req.method ?? "GET").toUpperCase();
    const parts = url.pathname
      .slice(CONTROL_PREFIX.length)
      .split("/")
      .filter((p) => p !== "")
      .map((p) => {
        try {
          return decodeURIComponent(p);
        } catch {
          return p;
        }
      });
    try {
      let body: unknown;
      try {
        body = parseJsonBody(rawBody);
      } catch {
        throw new ControlInputError("request body is not valid JSON");
      }
      const [a, b, c, d, e] = parts;
      const route = `${method} ${parts.length}:${a ?? ""}`;

      if (route === "GET 1:state") return reply(200, snapshot());
      if (route === "POST 1:projects") {
        const { id } = parse(projectBody, body);
        control.addProject(id);
        return reply(201, { id });
      }
      if (a === "projects" && b !== undefined && c === "servers") {
        if (method === "POST" && parts.length === 3) {
          return reply(201, control.addServer(b, (body ?? {}) as ServerInput));
        }
        if (method === "GET" && parts.length === 3) return reply(200, { items: control.listServers(b) });
        if (d !== undefined && parts.length === 4) {
          if (method === "GET") {
            const server = control.getServer(b, d);
            return server ? reply(200, server) : reply(404, { error: "no such server" });
          }
          if (method === "DELETE") {
            return control.removeServer(b, d)
              ? reply(204, undefined)
              : reply(404, { error: "no such server" });
          }
          if (method === "PATCH") {
            const server = control.updateServer(b, d, parse(fieldsBody, body));
            return server ? reply(200, server) : reply(404, { error: "no such server" });
          }
        }
        if (
          d !== undefined &&
          e === "status" &&
          parts.length === 5 &&
          (method === "PUT" || method === "POST")
        ) {
          const input = parse(statusBody, body);
          const server = control.setStatus(b, d, input.status, {
            ...(input.update_time === undefined ? {} : { updateTime: input.update_time }),
            ...(input.job === undefined ? {} : { job: input.job }),
          });
          return server ? reply(200, server) : reply(404, { error: "no such server" });
        }
      }
      if (a === "projects" && b !== undefined && c === "jobs") {
        if (method === "POST" && parts.length === 3) return reply(201, control.addJob(b, body as JobInput));
        if (method === "GET" && parts.length === 3) return reply(200, { items: control.listJobs(b) });
        if (d !== undefined && parts.length === 4) {
          if (method === "GET") {
            const job = control.getJob(b, d);
            return job ? reply(200, job) : reply(404, { error: "no such job" });
          }
          if (method === "DELETE") {
            return control.removeJob(b, d) ? reply(204, undefined) : reply(404, { error: "no such job" });
          }
        }
        if (
          d !== undefined &&
          e === "status" &&
          parts.length === 5 &&
          (method === "PUT" || method === "POST")
        ) {
          const input = parse(jobStatusBody, body);
          const change: JobStatusChange = {};
          if (input.sub_job_status !== undefined) change.subJobStatus = input.sub_job_status;
          if (input.job_execute_info !== undefined) change.executeInfo = input.job_execute_info;
          if (input.end_time !== undefined) change.endTime = input.end_time;
          const job = control.setJobStatus(b, d, input.status, change);
          return job ? reply(200, job) : reply(404, { error: "no such job" });
        }
      }
      if (route === "GET 1:faults") return reply(200, { faults: control.pendingFaults() });
      if (route === "POST 1:faults")
        return reply(201, { id: control.injectFault((body ?? {}) as FaultSpec) });
      if (route === "DELETE 1:faults") {
        control.clearFaults();
        return reply(204, undefined);
      }
      if (route === "POST 1:tokens" && parts.length === 1) {
        const t = control.issueToken();
        return reply(201, { token: t.token, expires_at: new Date(t.expiresAt).toISOString() });
      }
      if (method === "POST" && a === "tokens" && b === "revoke" && parts.length === 2) {
        const input = parse(revokeBody, body);
        return reply(200, { revoked: control.revokeTokens(input?.token) });
      }
      if ((method === "PUT" || method === "POST") && a === "token-lifetime" && parts.length === 1) {
        const input = parse(lifetimeBody, body);
        const ms = "lifetimeMs" in input ? input.lifetimeMs : parseDuration(input.lifetime);
        if (ms === undefined || ms <= 0) throw new ControlInputError("lifetime must be a positive duration");
        control.setTokenLifetime(ms);
        return reply(200, { lifetimeMs: ms });
      }
      if ((method === "PUT" || method === "POST") && a === "metadata" && parts.length === 1) {
        const input = parse(metadataBody, body);
        control.setMetadata(input);
        return reply(200, input);
      }
      if (route === "GET 1:counters") return reply(200, control.counts());
      if (method === "POST" && a === "counters" && b === "reset" && parts.length === 2) {
        control.resetCounters();
        return reply(204, undefined);
      }
      if (route === "GET 1:requests") {
        const all = control.requests();
        const limitText = url.searchParams.get("limit");
        const limit = limitText !== null && /^\d+$/.test(limitText) ? Number(limitText) : all.length;
        // The newest `limit` records, oldest first.
        return reply(200, { requests: all.slice(Math.max(0, all.length - limit)) });
      }
      return reply(404, { error: `no control route ${method} ${url.pathname}` });
    } catch (err) {
      if (err instanceof ControlInputError) return reply(400, { error: err.message, issues: err.issues });
      if (err instanceof ConfigError)
        return reply(400, { error: "invalid control request", issues: err.issues });
      return reply(500, { error: err instanceof Error ? err.message : String(err) });
    }
  }

  return function handleControl(req: IncomingMessage, res: ServerResponse, url: URL, rawBody: Buffer): void {
    const { status, body } = dispatch(req, url, rawBody);
    sendJson(res, status, body);
  };
}
