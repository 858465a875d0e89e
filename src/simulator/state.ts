/**
 * The simulator's in-memory world: projects, image servers and image jobs, their timelines, pending
 * faults, issued IAM tokens and request counters. No IO and no timers: the state is brought up to
 * date from the injected clock on every access, so a manual clock drives it deterministically.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Clock } from "../lib/clock.js";
import {
  type ApiJob,
  type ApiJobSummary,
  type ApiSubJob,
  applyJobStatus,
  compareJobs,
  createJob,
  derivedEndChange,
  derivedJobSpec,
  historyJobs,
  type JobQuery,
  type JobStatusChange,
  pageJobs,
  pageSubJobs,
  planDerivedJob,
  renderJob,
  setJobResource,
} from "./jobs.js";
import type {
  DerivedJobOutcome,
  FaultSpec,
  JobStatus,
  Scenario,
  ScenarioAgency,
  ScenarioCredentials,
  ScenarioJob,
  ScenarioMetadata,
  ScenarioServer,
  SimRoute,
  TimelineStep,
} from "./scenario.js";
import { derivedUuid, isoTime, parseApiTime, resolveTime } from "./values.js";

/** An image server as the API returns it. */
export type ApiServer = Record<string, unknown>;

/**
 * How a request authenticated: `temporary` is AK/SK signing with temporary keys the simulator issued
 * (metadata or agency) and their security token; `password` is the IAM token call; `rejected` means credentials were refused. */
export type AuthKind = "token" | "aksk" | "temporary" | "password" | "none" | "rejected";

/** Counters by route and by auth kind (control routes are not counted). */
export interface SimulatorCounts {
  total: number;
  byRoute: Record<SimRoute | "other", number>;
  byAuth: Record<AuthKind, number>;
}

/** One request the simulator answered (or reset). */
export interface RequestRecord {
  /** Clock time when it arrived (ms). */
  at: number;
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  route: SimRoute | "other";
  auth: AuthKind;
  /** HTTP status sent; 0 when the connection was reset. */
  status: number;
  requestId: string;
  /** The fault applied, if any. */
  fault?: FaultSpec;
  /** The access key a signed request named (so tests can tell which keys a client sent). */
  accessKey?: string;
}

/** Temporary credentials the simulator issued (metadata service or agency). */
export interface TemporaryCredential {
  accessKey: string;
  secretKey: string;
  securityToken: string;
  expiresAt: number;
  source: "metadata" | "agency";
}

/** What checking a temporary access key found. */
export type TemporaryCheck =
  | { kind: "ok"; credential: TemporaryCredential }
  | { kind: "expired" }
  | { kind: "unknown" };

/** Default lifetime of the metadata service's temporary credentials. */
export const DEFAULT_TEMPORARY_LIFETIME_MS = 3_600_000;

/** Filters of the list call. */
export interface ListFilter {
  serverName?: string;
  serverId?: string;
  enterpriseProjectId?: string;
}

/** A fault waiting for requests, with how many it still hits. */
export interface PendingFault {
  id: string;
  remaining: number;
  fault: FaultSpec;
}

/** The outcome of checking an X-Auth-Token. */
export type TokenCheck = "ok" | "unknown" | "expired" | "revoked";

/** An issued IAM token. */
export interface IssuedToken {
  token: string;
  issuedAt: number;
  expiresAt: number;
}

/** Default IAM token lifetime (API §4: valid 24 h). */
export const DEFAULT_TOKEN_LIFETIME_MS = 24 * 3_600_000;
const MAX_LOG = 1000;

interface ServerEntry {
  projectId: string;
  object: ApiServer;
  removed: boolean;
  /** The derived job of its current transitional status, while it runs. */
  job?: ApiJob;
}

interface PendingStep {
  atMs: number;
  seq: number;
  apply: () => void;
}

/** Options of `createSimulatorState`. */
export interface SimulatorStateOptions {
  scenario: Scenario;
  clock: Clock;
}

/**
 * Completes a server's API object: every field of API §1 in the API's order, generated where missing
 * (ids derived from `seed`, `create_time` an hour before `base`, `update_time` = `base`, status ACTIVE).
 * A `status` of null leaves the field out.
 */
export function completeServer(fields: Record<string, unknown>, seed: string, base: number): ApiServer {
  const id = typeof fields.id === "string" ? fields.id : derivedUuid(`${seed}/id`);
  const product = "workspace.appstream2.general.xlarge.4";
  const generated: ApiServer = {
    id,
    name: `image-server-${id.slice(0, 8)}`,
    description: "",
    image_ref: {
      id: derivedUuid(`${seed}/image`),
      image_type: "gold",
      spce_code: product,
      product_id: product,
    },
    server_group_id: derivedUuid(`${seed}/group`),
    app_group_id: derivedUuid(`${seed}/app-group`),
    server_id: derivedUuid(`${seed}/aps`),
    instance_id: derivedUuid(`${seed}/ecs`),
    image_id: "",
    status: "ACTIVE",
    authorize_accounts: [],
    create_time: isoTime(base - 3_600_000),
    update_time: isoTime(base),
    enterprise_project_id: "0",
  };
  const out: ApiServer = { ...generated };
  for (const [k, v] of Object.entries(fields)) {
    out[k] = k === "create_time" || k === "update_time" ? resolveTime(v, base) : v;
  }
  if (out.status === null) delete out.status;
  return out;
}

/** A server's place in the list: by create_time (unparseable last), then id. */
interface ListKey {
  time: number;
  id: string;
}

function listKeyOf(o: ApiServer): ListKey {
  const t = parseApiTime(o.create_time);
  return { time: Number.isNaN(t) ? Number.POSITIVE_INFINITY : t, id: String(o.id) };
}

function compareListKeys(a: ListKey, b: ListKey): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * A deep copy of a JSON-shaped value (plain objects, arrays, primitives), keys in their order; anything
 * else inside is copied by `structuredClone`. A list page copies 100 servers, and this is several times
 * cheaper than `structuredClone` of each.
 */
function copyJson(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJson);
  if (Object.getPrototypeOf(value) !== Object.prototype) return structuredClone(value);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) out[k] = copyJson((value as Record<string, unknown>)[k]);
  return out;
}

function matchesFault(fault: FaultSpec, req: FaultMatch): boolean {
  if (fault.route !== undefined && fault.route !== req.route) return false;
  if (fault.method !== undefined && fault.method.toUpperCase() !== req.method.toUpperCase()) return false;
  if (fault.projectId !== undefined && fault.projectId !== req.projectId) return false;
  if (fault.serverId !== undefined && fault.serverId !== req.serverId) return false;
  if (fault.jobId !== undefined && fault.jobId !== req.jobId) return false;
  return true;
}

/** What a fault is matched against. */
export interface FaultMatch {
  route: SimRoute;
  method: string;
  projectId?: string;
  serverId?: string;
  jobId?: string;
}

/** The simulator's world; every read first applies the timeline steps and faults that are due. */
export interface SimulatorState {
  readonly startedAt: number;
  readonly credentials: ScenarioCredentials;
  now(): number;
  /** Applies every due timeline step and scheduled fault. Called by every other method. */
  advance(): void;
  hasProject(projectId: string): boolean;
  projectIds(): string[];
  getServer(projectId: string, serverId: string): ApiServer | undefined;
  /** Servers of a project (present ones only), filtered, in list order. */
  listServers(projectId: string, filter?: ListFilter): ApiServer[];
  /** One page of the list, as the list API answers it: the total count and copies of that page only. */
  listPage(
    projectId: string,
    filter: ListFilter,
    offset: number,
    limit: number,
  ): { count: number; items: ApiServer[] };
  /** Adds (or replaces) a server; its timeline counts from now. Creates the project if needed. */
  addServer(projectId: string, server: ScenarioServer): ApiServer;
  /** Removes a server (404 from now on); false when it was not there. */
  removeServer(projectId: string, serverId: string): boolean;
  /**
   * Sets a status (null removes the field) and moves update_time to now or to `updateTime`; derives
   * jobs as a timeline step does (`job`: the reason when it ends one FAILED).
   */
  setStatus(
    projectId: string,
    serverId: string,
    status: string | null,
    updateTime?: number | string,
    job?: DerivedJobOutcome,
  ): ApiServer | undefined;
  /** Sets API fields of a server (a null value removes the field). */
  updateServer(projectId: string, serverId: string, fields: Record<string, unknown>): ApiServer | undefined;
  addProject(projectId: string): void;
  /** A job with its sub-jobs, as ShowImageJob answers. */
  getJob(projectId: string, jobId: string): ApiJob | undefined;
  /** Every job of a project, with sub-jobs, in list order. */
  listJobs(projectId: string): ApiJob[];
  /** One page of ListImageJobs: the total count and that page. */
  jobsPage(
    projectId: string,
    query: JobQuery,
    offset: number,
    limit: number,
  ): { count: number; items: ApiJobSummary[] };
  /** One page of ListImageSubJobs. */
  subJobsPage(
    projectId: string,
    query: JobQuery,
    offset: number,
    limit: number,
  ): { count: number; items: ApiSubJob[] };
  /** Adds (or replaces) a job; its timeline and relative times count from now. Creates the project if needed. */
  addJob(projectId: string, job: ScenarioJob): ApiJob;
  /** Sets a job's status now (sub-jobs follow; SUCCESS/FAILED set end_time). */
  setJobStatus(
    projectId: string,
    jobId: string,
    status: JobStatus,
    change?: JobStatusChange,
  ): ApiJob | undefined;
  /** Removes a job; false when it was not there. */
  removeJob(projectId: string, jobId: string): boolean;
  injectFault(fault: FaultSpec): string;
  pendingFaults(): PendingFault[];
  clearFaults(): void;
  /** Takes one hit of the first pending fault matching the request, if any. */
  takeFault(req: FaultMatch): FaultSpec | undefined;
  issueToken(): IssuedToken;
  checkToken(token: string): TokenCheck;
  /** Revokes one token, or all when none is given; returns how many were revoked. */
  revokeTokens(token?: string): number;
  tokenLifetimeMs(): number;
  setTokenLifetime(ms: number): void;
  /** Issues temporary credentials living `lifetimeMs` (default: the metadata lifetime). */
  issueTemporary(source: TemporaryCredential["source"], lifetimeMs?: number): TemporaryCredential;
  /** Every temporary credential issued (and not yet forgotten), oldest first. */
  temporaryCredentials(): TemporaryCredential[];
  /** Looks a temporary access key up: valid, expired (it was issued) or unknown. */
  checkTemporary(accessKey: string): TemporaryCheck;
  /** Issues a metadata session token valid `ttlSeconds`. */
  issueMetadataSession(ttlSeconds: number): string;
  /** True when `token` is a metadata session token still valid. */
  checkMetadataSession(token: string): boolean;
  /** The metadata service's modes (agency attached, token API present), current. */
  metadataModes(): ScenarioMetadata;
  setMetadataModes(modes: Partial<ScenarioMetadata>): void;
  /** The agencies `securitytokens` may assume. */
  agencies(): ScenarioAgency[];
  temporaryLifetimeMs(): number;
  setTemporaryLifetime(ms: number): void;
  record(entry: RequestRecord): void;
  counts(): SimulatorCounts;
  requests(): RequestRecord[];
  resetCounters(): void;
}

function zeroCounts(): SimulatorCounts {
  return {
    total: 0,
    byRoute: {
      get: 0,
      list: 0,
      token: 0,
      jobs: 0,
      job: 0,
      sub_jobs: 0,
      metadata: 0,
      securitytokens: 0,
      other: 0,
    },
    byAuth: { token: 0, aksk: 0, temporary: 0, password: 0, none: 0, rejected: 0 },
  };
}

/** Builds the world of a scenario; timelines count from the clock's time now. */
export function createSimulatorState(options: SimulatorStateOptions): SimulatorState {
  const { clock, scenario } = options;
  const startedAt = clock.now();
  const projects = new Map<string, Map<string, ServerEntry>>();
  const jobs = new Map<string, Map<string, ApiJob>>();
  /**
   * Each project's entries (removed ones too) in list order, kept until a sort key or the set of entries
   * may have changed. Sorting 10,000 servers by their parsed create_time for every page of a listing made
   * a 100-page listing cost the simulator most of a second; removal, status and name changes leave the
   * order as it is (they are checked when a page is read).
   */
  const listOrder = new Map<string, ServerEntry[]>();
  /** Projects whose server timelines derive no jobs. */
  const noDerivedJobs = new Set<string>();
  /** How many jobs were derived per project/server, and added per project: seeds of stable ids. */
  const jobSeeds = new Map<string, number>();
  const pending: PendingStep[] = [];
  let seq = 0;
  let faults: PendingFault[] = [];
  const tokens = new Map<string, { issuedAt: number; expiresAt: number; revoked: boolean }>();
  let lifetimeMs = scenario.tokenLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS;
  const temporary = new Map<string, TemporaryCredential>();
  const sessions = new Map<string, number>();
  let metadataModes: ScenarioMetadata = { ...(scenario.metadata ?? { agency: true, tokenApi: true }) };
  let temporaryLifetime = scenario.temporaryLifetimeMs ?? DEFAULT_TEMPORARY_LIFETIME_MS;
  let counts = zeroCounts();
  let log: RequestRecord[] = [];

  function schedule(atMs: number, apply: () => void): void {
    const step: PendingStep = { atMs, seq: seq++, apply };
    // Keep `pending` sorted by time, then insertion order, so steps fire in a stable order.
    let i = pending.length;
    while (i > 0 && (pending[i - 1] as PendingStep).atMs > atMs) i--;
    pending.splice(i, 0, step);
  }

  function projectMap(projectId: string): Map<string, ServerEntry> {
    let map = projects.get(projectId);
    if (!map) {
      map = new Map();
      projects.set(projectId, map);
      jobs.set(projectId, new Map());
    }
    return map;
  }

  function jobMap(projectId: string): Map<string, ApiJob> {
    projectMap(projectId);
    return jobs.get(projectId) as Map<string, ApiJob>;
  }

  function nextSeed(key: string): string {
    const n = jobSeeds.get(key) ?? 0;
    jobSeeds.set(key, n + 1);
    return `${key}/${n}`;
  }

  /** Ends and starts the server's derived job after a change at `atMs` (DESIGN §11). */
  function followServer(entry: ServerEntry, atMs: number, outcome?: DerivedJobOutcome): void {
    if (noDerivedJobs.has(entry.projectId)) return;
    const current = entry.job;
    if (current) setJobResource(current, entry.object);
    const plan = planDerivedJob(current?.job_type, entry.object.status, entry.removed);
    if (current && plan.end) {
      applyJobStatus(current, plan.end, atMs, derivedEndChange(plan.end, outcome));
      delete entry.job;
    }
    if (plan.start) {
      const seed = nextSeed(`${entry.projectId}/${String(entry.object.id)}/job`);
      const job = createJob(entry.projectId, derivedJobSpec(plan.start, atMs), seed, atMs);
      setJobResource(job, entry.object);
      jobMap(entry.projectId).set(job.id, job);
      entry.job = job;
    }
  }

  function insertJob(projectId: string, spec: ScenarioJob, seed: string, base: number): ApiJob | undefined {
    const map = jobMap(projectId);
    const appear = (at: number): ApiJob => {
      const job = createJob(projectId, spec, seed, at);
      map.set(job.id, job);
      for (const step of spec.timeline) {
        const stepAt = base + step.afterMs;
        // A replaced job has a new object: steps of the old one must not touch it.
        schedule(stepAt, () => {
          if (map.get(job.id) !== job) return;
          const change: JobStatusChange = {};
          if (step.sub_job_status !== undefined) change.subJobStatus = step.sub_job_status;
          if (step.job_execute_info !== undefined) change.executeInfo = step.job_execute_info;
          applyJobStatus(job, step.status, stepAt, change);
        });
      }
      return job;
    };
    if (!spec.afterMs) return appear(base);
    const at = base + spec.afterMs;
    schedule(at, () => appear(at));
    return undefined;
  }

  function applyStep(entry: ServerEntry, step: TimelineStep, atMs: number): void {
    let changed = false;
    if (step.status !== undefined) {
      if (step.status === null) delete entry.object.status;
      else entry.object.status = step.status;
      changed = true;
    }
    if (step.fields) {
      for (const [k, v] of Object.entries(step.fields)) {
        if (v === null) delete entry.object[k];
        else entry.object[k] = v;
      }
      changed = true;
      listOrder.delete(entry.projectId);
    }
    if (step.restore) entry.removed = false;
    if (step.remove) entry.removed = true;
    if (changed && !(step.fields && "update_time" in step.fields)) entry.object.update_time = isoTime(atMs);
    followServer(entry, atMs, step.job);
  }

  function insertServer(projectId: string, server: ScenarioServer, seed: string, base: number): ApiServer {
    const object = completeServer(server.fields, seed, base);
    const entry: ServerEntry = { projectId, object, removed: server.removed ?? false };
    const map = projectMap(projectId);
    const id = String(object.id);
    map.set(id, entry);
    listOrder.delete(projectId);
    // A transitional status at the start has run since its update_time (not after the start).
    const since = parseApiTime(object.update_time);
    followServer(entry, Number.isFinite(since) && since <= base ? since : base);
    for (const step of server.timeline) {
      const atMs = base + step.afterMs;
      // A replaced or re-added server has a new entry: steps of the old one must not touch it.
      schedule(atMs, () => {
        if (map.get(id) === entry) applyStep(entry, step, atMs);
      });
    }
    return object;
  }

  for (const project of scenario.projects) {
    projectMap(project.id);
    if (!project.deriveJobs) noDerivedJobs.add(project.id);
    project.history.forEach((history, index) => {
      for (const job of historyJobs(project.id, history, `${project.id}/history/${index}`, startedAt)) {
        jobMap(project.id).set(job.id, job);
      }
    });
    project.jobs.forEach((job, index) => {
      insertJob(project.id, job, `${project.id}/jobs/${index}`, startedAt);
    });
    project.servers.forEach((server, index) => {
      insertServer(project.id, server, `${project.id}/${index}`, startedAt);
    });
  }
  for (const scheduled of scenario.faults) {
    schedule(startedAt + scheduled.afterMs, () => {
      faults.push({ id: randomUUID(), remaining: scheduled.fault.count ?? 1, fault: { ...scheduled.fault } });
    });
  }

  function advance(): void {
    const now = clock.now();
    while (pending.length > 0 && (pending[0] as PendingStep).atMs <= now) {
      (pending.shift() as PendingStep).apply();
    }
  }

  function entryOf(projectId: string, serverId: string): ServerEntry | undefined {
    advance();
    const entry = projects.get(projectId)?.get(serverId);
    return entry && !entry.removed ? entry : undefined;
  }

  const copy = (o: ApiServer): ApiServer => copyJson(o) as ApiServer;

  /** A project's jobs in list order (not copied). */
  function sortedJobs(projectId: string): ApiJob[] {
    advance();
    return [...(jobs.get(projectId)?.values() ?? [])].sort(compareJobs);
  }

  /** The project's entries in list order: create_time, then id, ties in insertion order. */
  function ordered(projectId: string): ServerEntry[] {
    let order = listOrder.get(projectId);
    if (order) return order;
    // Each key is computed once, not per comparison; the sort is stable, so ties keep insertion order.
    const keyed = [...(projects.get(projectId)?.values() ?? [])].map((entry) => ({
      entry,
      key: listKeyOf(entry.object),
    }));
    keyed.sort((a, b) => compareListKeys(a.key, b.key));
    order = keyed.map((k) => k.entry);
    listOrder.set(projectId, order);
    return order;
  }

  /** The present servers of a project matching the filter, in list order (not copied). */
  function matching(projectId: string, filter: ListFilter): ApiServer[] {
    advance();
    const out: ApiServer[] = [];
    for (const entry of ordered(projectId)) {
      if (entry.removed) continue;
      const o = entry.object;
      if (filter.serverName !== undefined && !String(o.name ?? "").includes(filter.serverName)) continue;
      if (filter.serverId !== undefined && o.id !== filter.serverId) continue;
      if (
        filter.enterpriseProjectId !== undefined &&
        o.enterprise_project_id !== filter.enterpriseProjectId
      ) {
        continue;
      }
      out.push(o);
    }
    return out;
  }

  return {
    startedAt,
    credentials: scenario.credentials,
    now: () => clock.now(),
    advance,
    hasProject: (projectId) => projects.has(projectId),
    projectIds: () => [...projects.keys()],
    getServer(projectId, serverId) {
      const entry = entryOf(projectId, serverId);
      return entry ? copy(entry.object) : undefined;
    },
    listServers(projectId, filter = {}) {
      return matching(projectId, filter).map(copy);
    },
    listPage(projectId, filter, offset, limit) {
      // Copy only the page: copying the whole project per page made a 10,000-server listing O(n²).
      const all = matching(projectId, filter);
      return { count: all.length, items: all.slice(offset, offset + limit).map(copy) };
    },
    addServer(projectId, server) {
      advance();
      const now = clock.now();
      const seed = typeof server.fields.id === "string" ? `${projectId}/${server.fields.id}` : randomUUID();
      return copy(insertServer(projectId, server, seed, now));
    },
    removeServer(projectId, serverId) {
      const entry = entryOf(projectId, serverId);
      if (!entry) return false;
      entry.removed = true;
      followServer(entry, clock.now());
      return true;
    },
    setStatus(projectId, serverId, status, updateTime, job) {
      const entry = entryOf(projectId, serverId);
      if (!entry) return undefined;
      if (status === null) delete entry.object.status;
      else entry.object.status = status;
      entry.object.update_time =
        updateTime === undefined ? isoTime(clock.now()) : resolveTime(updateTime, clock.now());
      followServer(entry, clock.now(), job);
      return copy(entry.object);
    },
    updateServer(projectId, serverId, fields) {
      const entry = entryOf(projectId, serverId);
      if (!entry) return undefined;
      listOrder.delete(projectId);
      for (const [k, v] of Object.entries(fields)) {
        if (k === "id") continue;
        if (v === null) delete entry.object[k];
        else entry.object[k] = k === "create_time" || k === "update_time" ? resolveTime(v, clock.now()) : v;
      }
      followServer(entry, clock.now());
      return copy(entry.object);
    },
    addProject(projectId) {
      projectMap(projectId);
    },
    getJob(projectId, jobId) {
      advance();
      const job = jobs.get(projectId)?.get(jobId);
      return job ? renderJob(job) : undefined;
    },
    listJobs: (projectId) => sortedJobs(projectId).map(renderJob),
    jobsPage: (projectId, query, offset, limit) => pageJobs(sortedJobs(projectId), query, offset, limit),
    subJobsPage: (projectId, query, offset, limit) =>
      pageSubJobs(sortedJobs(projectId), query, offset, limit),
    addJob(projectId, spec) {
      advance();
      const seed = spec.id === undefined ? nextSeed(`${projectId}/added`) : `${projectId}/${spec.id}`;
      const job = insertJob(projectId, spec, seed, clock.now());
      return job
        ? renderJob(job)
        : renderJob(createJob(projectId, spec, seed, clock.now() + (spec.afterMs ?? 0)));
    },
    setJobStatus(projectId, jobId, status, change) {
      advance();
      const job = jobs.get(projectId)?.get(jobId);
      if (!job) return undefined;
      applyJobStatus(job, status, clock.now(), change);
      return renderJob(job);
    },
    removeJob(projectId, jobId) {
      advance();
      return jobs.get(projectId)?.delete(jobId) ?? false;
    },
    injectFault(fault) {
      const id = randomUUID();
      faults.push({ id, remaining: fault.count ?? 1, fault: { ...fault } });
      return id;
    },
    pendingFaults() {
      advance();
      return faults.map((f) => ({ ...f, fault: { ...f.fault } }));
    },
    clearFaults() {
      advance();
      faults = [];
    },
    takeFault(req) {
      advance();
      const found = faults.find((f) => matchesFault(f.fault, req));
      if (!found) return undefined;
      found.remaining -= 1;
      if (found.remaining <= 0) faults = faults.filter((f) => f !== found);
      return { ...found.fault };
    },
    issueToken() {
      const now = clock.now();
      for (const [t, info] of tokens) if (info.expiresAt <= now || info.revoked) tokens.delete(t);
      const token = `MII${randomBytes(96).toString("base64url")}`;
      const issued = { token, issuedAt: now, expiresAt: now + lifetimeMs };
      tokens.set(token, { issuedAt: issued.issuedAt, expiresAt: issued.expiresAt, revoked: false });
      return issued;
    },
    checkToken(token) {
      const info = tokens.get(token);
      if (!info) return "unknown";
      if (info.revoked) return "revoked";
      return clock.now() >= info.expiresAt ? "expired" : "ok";
    },
    revokeTokens(token) {
      let n = 0;
      for (const [t, info] of tokens) {
        if ((token === undefined || t === token) && !info.revoked) {
          info.revoked = true;
          n++;
        }
      }
      return n;
    },
    tokenLifetimeMs: () => lifetimeMs,
    setTokenLifetime(ms) {
      lifetimeMs = ms;
    },
    issueTemporary(source, ms = temporaryLifetime) {
      const now = clock.now();
      // Expired keys are kept a day, so a late use is told "expired", not "unknown".
      for (const [ak, c] of temporary) if (c.expiresAt + 86_400_000 <= now) temporary.delete(ak);
      const credential: TemporaryCredential = {
        accessKey: `TMP${randomBytes(12).toString("hex").toUpperCase()}`,
        secretKey: randomBytes(30).toString("base64url"),
        securityToken: `gQ${randomBytes(120).toString("base64url")}`,
        expiresAt: now + ms,
        source,
      };
      temporary.set(credential.accessKey, credential);
      return { ...credential };
    },
    temporaryCredentials: () => [...temporary.values()].map((c) => ({ ...c })),
    checkTemporary(accessKey) {
      const c = temporary.get(accessKey);
      if (!c) return { kind: "unknown" };
      return clock.now() >= c.expiresAt ? { kind: "expired" } : { kind: "ok", credential: { ...c } };
    },
    issueMetadataSession(ttlSeconds) {
      const now = clock.now();
      for (const [t, exp] of sessions) if (exp <= now) sessions.delete(t);
      const token = `MDS${randomBytes(24).toString("base64url")}`;
      sessions.set(token, now + ttlSeconds * 1000);
      return token;
    },
    checkMetadataSession(token) {
      const exp = sessions.get(token);
      return exp !== undefined && clock.now() < exp;
    },
    metadataModes: () => ({ ...metadataModes }),
    setMetadataModes(modes) {
      metadataModes = { ...metadataModes, ...modes };
    },
    agencies: () => (scenario.agencies ?? []).map((a) => ({ ...a })),
    temporaryLifetimeMs: () => temporaryLifetime,
    setTemporaryLifetime(ms) {
      temporaryLifetime = ms;
    },
    record(entry) {
      counts.total += 1;
      counts.byRoute[entry.route] += 1;
      counts.byAuth[entry.auth] += 1;
      log.push(entry);
      if (log.length > MAX_LOG) log = log.slice(-MAX_LOG);
    },
    counts: () => structuredClone(counts),
    requests: () => log.map((r) => ({ ...r })),
    resetCounters() {
      counts = zeroCounts();
      log = [];
    },
  };
}
