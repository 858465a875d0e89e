/**
 * A faithful local fake of the Workspace image-server and image-job APIs, the IAM token and
 * securitytokens APIs and the ECS metadata service (the API notes), driven by a scenario, an injected clock and a control interface (JS API and `/__sim/`
 * routes). See README.md.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Clock, systemClock } from "../lib/clock.js";
import { ConfigError } from "../lib/errors.js";
import { createSilentLogger, type Logger } from "../lib/logger.js";
import { createApiHandler, newRequestId } from "./api.js";
import { CONTROL_PREFIX, createControlHandler, type ServerInput, type SimulatorControl } from "./control.js";
import { createSleeper, readBody, sendJson } from "./http-util.js";
import {
  emptyScenario,
  type FaultSpec,
  faultSpecSchema,
  jobInputSchema,
  type Scenario,
  serverInputSchema,
  toScenarioJob,
  toScenarioServer,
  zodIssues,
} from "./scenario.js";
import { createSimulatorState } from "./state.js";

export { NO_AGENCY_BODY, SIM_ERROR_CODES } from "./api.js";
export type { ServerInput, SimulatorControl } from "./control.js";
export type { ApiJob, ApiJobSummary, ApiSubJob, JobStatusChange } from "./jobs.js";
export {
  DEFAULT_CREDENTIALS,
  type DerivedJobOutcome,
  type ExecuteInfo,
  emptyScenario,
  type FaultSpec,
  JOB_STATUSES,
  JOB_TYPES,
  type JobInput,
  type JobStatus,
  type JobType,
  loadScenario,
  normaliseScenario,
  parseScenario,
  type Scenario,
  type ScenarioCredentials,
  type SimRoute,
  SUB_JOB_STATUSES,
  type SubJobStatus,
} from "./scenario.js";
export type {
  ApiServer,
  AuthKind,
  IssuedToken,
  PendingFault,
  RequestRecord,
  SimulatorCounts,
  TemporaryCredential,
} from "./state.js";
export { DEFAULT_TEMPORARY_LIFETIME_MS, DEFAULT_TOKEN_LIFETIME_MS } from "./state.js";

/** Options of `createSimulator`. */
export interface SimulatorOptions {
  /** What it serves and accepts; default: the demo credentials and no projects. */
  scenario?: Scenario;
  /** Drives timelines, token expiry and signature dates; default the system clock. */
  clock?: Clock;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Listen port; default 0 (any free port). */
  port?: number;
  logger?: Logger;
}

/** A running (or startable) simulator. */
export interface Simulator extends SimulatorControl {
  /** Starts listening; resolves with the base URL (`http://127.0.0.1:PORT`) and the port. */
  start(): Promise<{ url: string; port: number }>;
  /** Stops listening, cuts injected delays short and closes every connection. */
  stop(): Promise<void>;
  /** The base URL once started ("" before). */
  readonly url: string;
  /** Clock time the timelines count from (when the simulator was created). */
  readonly startedAt: number;
}

/**
 * Creates a simulator. Timelines and scheduled faults count from the clock's time at creation; state is
 * brought up to date from the clock on each request, so a manual clock needs no timers.
 */
export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const clock = options.clock ?? systemClock;
  const logger = (options.logger ?? createSilentLogger()).child({ component: "simulator" });
  const state = createSimulatorState({ scenario: options.scenario ?? emptyScenario(), clock });
  const sleeper = createSleeper();
  const handleApi = createApiHandler({ state, sleeper, logger });
  let server: Server | undefined;
  let url = "";

  const control: SimulatorControl = {
    addServer(projectId, input: ServerInput) {
      const parsed = serverInputSchema.safeParse(input);
      if (!parsed.success) throw new ConfigError(zodIssues(parsed.error, "server"));
      return state.addServer(projectId, toScenarioServer(parsed.data));
    },
    removeServer: (projectId, serverId) => state.removeServer(projectId, serverId),
    setStatus: (projectId, serverId, status, opts = {}) =>
      state.setStatus(projectId, serverId, status, opts.updateTime, opts.job),
    updateServer: (projectId, serverId, fields) => state.updateServer(projectId, serverId, fields),
    getServer: (projectId, serverId) => state.getServer(projectId, serverId),
    listServers: (projectId) => state.listServers(projectId),
    addProject: (projectId) => state.addProject(projectId),
    addJob(projectId, input) {
      const parsed = jobInputSchema.safeParse(input);
      if (!parsed.success) throw new ConfigError(zodIssues(parsed.error, "job"));
      return state.addJob(projectId, toScenarioJob(parsed.data));
    },
    setJobStatus: (projectId, jobId, status, change) => state.setJobStatus(projectId, jobId, status, change),
    getJob: (projectId, jobId) => state.getJob(projectId, jobId),
    listJobs: (projectId) => state.listJobs(projectId),
    removeJob: (projectId, jobId) => state.removeJob(projectId, jobId),
    injectFault(fault: FaultSpec) {
      const parsed = faultSpecSchema.safeParse(fault);
      if (!parsed.success) throw new ConfigError(zodIssues(parsed.error, "fault"));
      return state.injectFault(parsed.data);
    },
    pendingFaults: () => state.pendingFaults(),
    clearFaults: () => state.clearFaults(),
    issueToken: () => state.issueToken(),
    revokeTokens: (token) => state.revokeTokens(token),
    setTokenLifetime(ms) {
      if (!(ms > 0)) throw new ConfigError([{ path: "lifetimeMs", message: "must be positive" }]);
      state.setTokenLifetime(ms);
    },
    setMetadata({ lifetimeMs, ...modes }) {
      if (lifetimeMs !== undefined) {
        if (!(lifetimeMs > 0)) throw new ConfigError([{ path: "lifetimeMs", message: "must be positive" }]);
        state.setTemporaryLifetime(lifetimeMs);
      }
      state.setMetadataModes(modes);
    },
    issueTemporaryCredentials: (lifetimeMs) => state.issueTemporary("metadata", lifetimeMs),
    temporaryCredentials: () => state.temporaryCredentials(),
    counts: () => state.counts(),
    requests: () => state.requests(),
    resetCounters: () => state.resetCounters(),
  };

  const handleControl = createControlHandler(control, () => ({
    startedAt: new Date(state.startedAt).toISOString(),
    now: new Date(state.now()).toISOString(),
    tokenLifetimeMs: state.tokenLifetimeMs(),
    metadata: { ...state.metadataModes(), lifetimeMs: state.temporaryLifetimeMs() },
    projects: state
      .projectIds()
      .map((id) => ({ id, servers: state.listServers(id), jobs: state.listJobs(id) })),
    faults: state.pendingFaults(),
  }));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = newRequestId();
    res.setHeader("X-Request-Id", requestId);
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? "/", "http://simulator.invalid");
    if (url.pathname.startsWith(CONTROL_PREFIX)) {
      handleControl(req, res, url, body);
      return;
    }
    await handleApi(req, res, url, body, requestId);
  }

  return {
    ...control,
    get url() {
      return url;
    },
    startedAt: state.startedAt,
    start() {
      if (server) return Promise.reject(new Error("simulator already started"));
      const srv = createServer((req, res) => {
        handle(req, res).catch((err: unknown) => {
          logger.error({ err }, "simulator request failed");
          sendJson(res, 500, { error_code: "WKS.0003", error_msg: "simulator internal error" });
        });
      });
      server = srv;
      return new Promise((resolve, reject) => {
        srv.once("error", (err) => {
          server = undefined;
          reject(err);
        });
        srv.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
          srv.removeAllListeners("error");
          srv.on("error", (err) => logger.error({ err }, "simulator server error"));
          const addr = srv.address() as AddressInfo;
          const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
          url = `http://${host}:${addr.port}`;
          logger.info({ url }, "simulator listening");
          resolve({ url, port: addr.port });
        });
      });
    },
    async stop() {
      const srv = server;
      if (!srv) return;
      server = undefined;
      sleeper.cancelAll();
      await new Promise<void>((resolve) => {
        srv.close(() => resolve());
        srv.closeAllConnections();
      });
    },
  };
}
