/**
 * The fake Workspace image-server and image-job APIs and the IAM token API (API §1, §2, §4, §6):
 * routing, authentication, parameter checks and fault injection. Each request is decided at once (and counted), then the answer
 * is written, after any injected delay.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseAuthorization, verifySignature } from "../cloud/signer.js";
import type { Logger } from "../lib/logger.js";
import { JSON_TYPE, parseJsonBody, type Sleeper } from "./http-util.js";
import type { JobQuery } from "./jobs.js";
import {
  type FaultSpec,
  JOB_STATUSES,
  JOB_TYPES,
  type JobType,
  type SimRoute,
  SUB_JOB_STATUSES,
} from "./scenario.js";
import type { AuthKind, SimulatorState, TemporaryCredential } from "./state.js";
import { isoTime } from "./values.js";

/** Error codes the simulator answers with (documented in README.md). */
export const SIM_ERROR_CODES = {
  invalidParameter: "WKS.0001",
  serviceError: "WKS.0003",
  serverNotFound: "WKS.0004",
  jobNotFound: "WKS.0004",
  methodNotAllowed: "WKS.0005",
  noSuchApi: "APIGW.0101",
  badAuth: "APIGW.0301",
  signatureExpired: "APIGW.0303",
  throttled: "APIGW.0308",
  projectUnavailable: "APIGW.0310",
} as const;

/** A decided answer, written later (after delays). */
interface Reply {
  status: number;
  headers: Record<string, string>;
  /** Body text; empty for none. */
  body: string;
  /** Destroy the socket instead of answering. */
  reset?: boolean;
}

/** Dependencies of the API handler. */
export interface ApiHandlerDeps {
  state: SimulatorState;
  sleeper: Sleeper;
  logger: Logger;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { "Content-Type": JSON_TYPE, ...headers }, body: JSON.stringify(body) };
}

function wksError(status: number, code: string, msg: string): Reply {
  return json(status, { error_code: code, error_msg: msg });
}

function gatewayError(status: number, code: string, msg: string, requestId: string): Reply {
  return json(status, { error_code: code, error_msg: msg, request_id: requestId });
}

function iamError(status: number, title: string, message: string): Reply {
  return json(status, { error: { code: status, message, title } });
}

/** The default body of an injected error status on a route. */
function defaultFaultBody(route: SimRoute, status: number, requestId: string): unknown {
  if (route === "token") {
    const title = status === 401 ? "Unauthorized" : status >= 500 ? "Service Unavailable" : "Error";
    return { error: { code: status, message: "injected fault", title } };
  }
  if (status === 429) {
    return {
      error_code: SIM_ERROR_CODES.throttled,
      error_msg: "The throttling threshold has been reached",
      request_id: requestId,
    };
  }
  if (status === 401) {
    return {
      error_code: SIM_ERROR_CODES.badAuth,
      error_msg: "Incorrect IAM authentication information: injected fault",
      request_id: requestId,
    };
  }
  if (status === 404 && route === "job")
    return { error_code: SIM_ERROR_CODES.jobNotFound, error_msg: "The job does not exist" };
  if (status === 404)
    return { error_code: SIM_ERROR_CODES.serverNotFound, error_msg: "The image server does not exist" };
  if (status >= 500) return { error_code: SIM_ERROR_CODES.serviceError, error_msg: "Service unavailable" };
  return { error_code: SIM_ERROR_CODES.invalidParameter, error_msg: "Injected error" };
}

/** Turns a fault into the answer it forces, or undefined when it only delays the normal answer. */
function faultReply(fault: FaultSpec, route: SimRoute, requestId: string): Reply | undefined {
  const extra: Record<string, string> = { ...(fault.headers ?? {}) };
  if (fault.retryAfter !== undefined) extra["Retry-After"] = String(fault.retryAfter);
  if (fault.reset) return { status: 0, headers: {}, body: "", reset: true };
  if (fault.status !== undefined) {
    const body = fault.body ?? defaultFaultBody(route, fault.status, requestId);
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return { status: fault.status, headers: { "Content-Type": JSON_TYPE, ...extra }, body: text };
  }
  const isList = route === "list" || route === "jobs" || route === "sub_jobs";
  if (fault.malformedJson) {
    const text = isList ? '{"count": 1, "items": [{"id": "trunc' : '{"id": "trunc", "status": "BUIL';
    return {
      status: route === "token" ? 201 : 200,
      headers: { "Content-Type": JSON_TYPE, ...extra },
      body: text,
    };
  }
  if (fault.wrongShape) {
    if (isList) return json(200, { total: 1, servers: "none" }, extra);
    if (route === "token") return json(201, { token: {} }, extra);
    return json(200, { name: 42, state: "ok" }, extra);
  }
  return undefined;
}

type Route =
  | { route: "get"; projectId: string; serverId: string }
  | { route: "list"; projectId: string }
  | { route: "jobs"; projectId: string }
  | { route: "sub_jobs"; projectId: string }
  | { route: "job"; projectId: string; jobId: string }
  | { route: "token" }
  | { route: "metadata"; what: "token" | "securitykey" }
  | { route: "securitytokens" }
  | { route: "other"; reply: "not_found" | "method_not_allowed" | "iam_method_not_allowed" };

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function matchRoute(method: string, pathname: string): Route {
  const parts = pathname.split("/").filter((p) => p !== "");
  if (parts.length === 3 && parts[0] === "v3" && parts[1] === "auth" && parts[2] === "tokens") {
    return method === "POST" ? { route: "token" } : { route: "other", reply: "iam_method_not_allowed" };
  }
  const path = parts.join("/");
  if (path === "meta-data/latest/api/token") {
    return method === "PUT"
      ? { route: "metadata", what: "token" }
      : { route: "other", reply: "iam_method_not_allowed" };
  }
  if (path === "openstack/latest/securitykey") {
    return method === "GET"
      ? { route: "metadata", what: "securitykey" }
      : { route: "other", reply: "iam_method_not_allowed" };
  }
  if (path === "v3.0/OS-CREDENTIAL/securitytokens") {
    return method === "POST"
      ? { route: "securitytokens" }
      : { route: "other", reply: "iam_method_not_allowed" };
  }
  if ((parts.length === 3 || parts.length === 4) && parts[0] === "v1" && parts[2] === "image-servers") {
    if (method !== "GET") return { route: "other", reply: "method_not_allowed" };
    const projectId = decode(parts[1] as string);
    if (parts.length === 3) return { route: "list", projectId };
    return { route: "get", projectId, serverId: decode(parts[3] as string) };
  }
  if ((parts.length === 3 || parts.length === 4) && parts[0] === "v1" && parts[2] === "image-server-jobs") {
    if (method !== "GET") return { route: "other", reply: "method_not_allowed" };
    const projectId = decode(parts[1] as string);
    if (parts.length === 3) return { route: "jobs", projectId };
    return { route: "job", projectId, jobId: decode(parts[3] as string) };
  }
  if (parts.length === 3 && parts[0] === "v1" && parts[2] === "image-server-sub-jobs") {
    if (method !== "GET") return { route: "other", reply: "method_not_allowed" };
    return { route: "sub_jobs", projectId: decode(parts[1] as string) };
  }
  return { route: "other", reply: "not_found" };
}

/** The outcome of authenticating a request to the image-server routes. */
type AuthResult = { kind: AuthKind; error?: Reply };

function authenticate(
  state: SimulatorState,
  req: IncomingMessage,
  body: Buffer,
  projectId: string | undefined,
  requestId: string,
): AuthResult {
  const badAuth = (why: string): AuthResult => ({
    kind: "rejected",
    error: gatewayError(
      401,
      SIM_ERROR_CODES.badAuth,
      `Incorrect IAM authentication information: ${why}`,
      requestId,
    ),
  });
  const token = req.headers["x-auth-token"];
  if (typeof token === "string" && token !== "") {
    const check = state.checkToken(token);
    return check === "ok" ? { kind: "token" } : badAuth(`token ${check}`);
  }
  if (req.headers.authorization !== undefined) {
    const creds = state.credentials;
    const named = parseAuthorization(String(req.headers.authorization))?.accessKey;
    const temp = named === undefined || named === creds.accessKey ? undefined : state.checkTemporary(named);
    if (temp?.kind === "expired") return badAuth("the temporary access key has expired");
    const verdict = verifySignature(
      { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers },
      body,
      (ak) =>
        ak === creds.accessKey
          ? creds.secretKey
          : temp?.kind === "ok"
            ? temp.credential.secretKey
            : undefined,
      state.now(),
    );
    if (!verdict.ok) {
      if (verdict.kind === "expired") {
        return {
          kind: "rejected",
          error: gatewayError(
            401,
            SIM_ERROR_CODES.signatureExpired,
            "Incorrect app authentication information: the signature expired (X-Sdk-Date is more than 15 minutes from the server time)",
            requestId,
          ),
        };
      }
      return badAuth(verdict.reason);
    }
    const signedProject = verdict.signedHeaders.includes("x-project-id")
      ? req.headers["x-project-id"]
      : undefined;
    if (signedProject !== undefined && projectId !== undefined && signedProject !== projectId)
      return badAuth("X-Project-Id does not match");
    if (temp?.kind === "ok") {
      // Temporary keys are valid only with their own security token, signed.
      if (
        req.headers["x-security-token"] !== temp.credential.securityToken ||
        !verdict.signedHeaders.includes("x-security-token")
      ) {
        return badAuth("security token invalid");
      }
      return { kind: "temporary" };
    }
    if (creds.securityToken !== undefined && req.headers["x-security-token"] !== creds.securityToken) {
      return badAuth("security token invalid");
    }
    return { kind: "aksk" };
  }
  return { ...badAuth("no X-Auth-Token or Authorization header"), kind: "none" };
}

function firstParam(params: URLSearchParams, name: string): string | undefined {
  const v = params.get(name);
  return v === null ? undefined : v;
}

const invalid = (msg: string): Reply =>
  wksError(400, SIM_ERROR_CODES.invalidParameter, `Invalid parameter: ${msg}`);

/** `offset` and `limit` of a list call, or the 400 answer for bad ones. */
function pageParams(params: URLSearchParams): { offset: number; limit: number } | Reply {
  const limitText = firstParam(params, "limit");
  const offsetText = firstParam(params, "offset");
  const limit = limitText === undefined ? 10 : /^\d+$/.test(limitText) ? Number(limitText) : Number.NaN;
  if (!(limit >= 1 && limit <= 100)) {
    return wksError(
      400,
      SIM_ERROR_CODES.invalidParameter,
      "Invalid parameter: limit must be an integer from 1 to 100",
    );
  }
  const offset = offsetText === undefined ? 0 : /^\d+$/.test(offsetText) ? Number(offsetText) : Number.NaN;
  if (!(offset >= 0 && Number.isSafeInteger(offset))) {
    return wksError(
      400,
      SIM_ERROR_CODES.invalidParameter,
      "Invalid parameter: offset must be a non-negative integer",
    );
  }
  return { offset, limit };
}

function serveList(state: SimulatorState, projectId: string, params: URLSearchParams): Reply {
  const page = pageParams(params);
  if ("status" in page) return page;
  const { offset, limit } = page;
  const filter: Parameters<SimulatorState["listServers"]>[1] = {};
  const serverName = firstParam(params, "server_name");
  const serverId = firstParam(params, "server_id");
  const eps = firstParam(params, "enterprise_project_id");
  if (serverName !== undefined && serverName !== "") filter.serverName = serverName;
  if (serverId !== undefined && serverId !== "") filter.serverId = serverId;
  if (eps !== undefined && eps !== "") filter.enterpriseProjectId = eps;
  return json(200, state.listPage(projectId, filter, offset, limit));
}

/** ListImageJobs and ListImageSubJobs: `job_type` required, `status` one of the route's statuses. */
function serveJobList(
  state: SimulatorState,
  route: "jobs" | "sub_jobs",
  projectId: string,
  params: URLSearchParams,
): Reply {
  const jobType = firstParam(params, "job_type");
  if (jobType === undefined || jobType === "") return invalid("job_type is required");
  if (!(JOB_TYPES as readonly string[]).includes(jobType)) {
    return invalid(`job_type must be one of ${JOB_TYPES.join(", ")}`);
  }
  const statuses: readonly string[] = route === "jobs" ? JOB_STATUSES : SUB_JOB_STATUSES;
  const status = firstParam(params, "status");
  if (status !== undefined && status !== "" && !statuses.includes(status)) {
    return invalid(`status must be one of ${statuses.join(", ")}`);
  }
  const page = pageParams(params);
  if ("status" in page) return page;
  const query: JobQuery = { jobType: jobType as JobType };
  if (status !== undefined && status !== "") query.status = status;
  if (route === "jobs") return json(200, state.jobsPage(projectId, query, page.offset, page.limit));
  const jobId = firstParam(params, "job_id");
  if (jobId !== undefined && jobId !== "") query.jobId = jobId;
  return json(200, state.subJobsPage(projectId, query, page.offset, page.limit));
}

type ProjectScope = { name?: unknown; id?: unknown } | undefined;

/** Checks a password-identity body against the scenario's credentials. */
function checkPassword(
  state: SimulatorState,
  body: Buffer,
): { ok: true; scope: ProjectScope } | { ok: false; reply: Reply } {
  let parsed: unknown;
  try {
    parsed = parseJsonBody(body);
  } catch {
    return { ok: false, reply: iamError(400, "Bad Request", "The request body is not valid JSON.") };
  }
  const auth = (parsed as { auth?: Record<string, unknown> } | undefined)?.auth;
  const identity = auth?.identity as
    | { methods?: unknown; password?: { user?: Record<string, unknown> } }
    | undefined;
  const user = identity?.password?.user;
  if (!identity || !Array.isArray(identity.methods) || !identity.methods.includes("password") || !user) {
    return {
      ok: false,
      reply: iamError(400, "Bad Request", "The request you have made requires a password identity."),
    };
  }
  const creds = state.credentials;
  const domain = (user.domain as { name?: unknown } | undefined)?.name;
  if (user.name !== creds.username || user.password !== creds.password || domain !== creds.domain) {
    return { ok: false, reply: iamError(401, "Unauthorized", "The username or password is wrong.") };
  }
  return { ok: true, scope: (auth?.scope as { project?: ProjectScope } | undefined)?.project };
}

/** Issues a token and builds IAM's 201 answer (token in X-Subject-Token). */
function tokenReply(state: SimulatorState, scope: ProjectScope): Reply {
  const creds = state.credentials;
  const issued = state.issueToken();
  const projectId = typeof scope?.id === "string" ? scope.id : (state.projectIds()[0] ?? "");
  const iamTime = (ms: number) => isoTime(ms).replace(/Z$/, "000Z");
  const tokenBody = {
    token: {
      expires_at: iamTime(issued.expiresAt),
      issued_at: iamTime(issued.issuedAt),
      methods: ["password"],
      user: {
        domain: { id: `domain-${creds.domain}`, name: creds.domain },
        id: `user-${creds.username}`,
        name: creds.username,
        password_expires_at: "",
      },
      project: {
        id: projectId,
        name: typeof scope?.name === "string" ? scope.name : "",
        domain: { id: `domain-${creds.domain}`, name: creds.domain },
      },
      roles: [{ id: "0", name: "op_gated_workspace" }],
      catalog: [],
    },
  };
  return json(201, tokenBody, { "X-Subject-Token": issued.token });
}

/** The 401 body of the metadata service on a node without an agency (the API notes §7). */
export const NO_AGENCY_BODY = "Please configure Cloud Service Agency first";

/** The answer of IAM and the metadata service: `{credential: {access, secret, securitytoken, expires_at}}`. */
function credentialBody(c: TemporaryCredential): unknown {
  return {
    credential: {
      access: c.accessKey,
      secret: c.secretKey,
      securitytoken: c.securityToken,
      expires_at: isoTime(c.expiresAt).replace(/Z$/, "000Z"),
    },
  };
}

/** The metadata service: `PUT` a session token, `GET` the security key with it. */
function serveMetadata(state: SimulatorState, req: IncomingMessage, what: "token" | "securitykey"): Reply {
  const modes = state.metadataModes();
  const text = (status: number, body: string): Reply => ({
    status,
    headers: { "Content-Type": "text/plain" },
    body,
  });
  if (what === "token") {
    if (!modes.tokenApi) return text(404, "Not Found");
    const ttl = Number(req.headers["x-metadata-token-ttl-seconds"]);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) {
      return text(400, "X-Metadata-Token-Ttl-Seconds must be from 1 to 21600");
    }
    return text(200, state.issueMetadataSession(ttl));
  }
  if (modes.tokenApi) {
    const token = req.headers["x-metadata-token"];
    if (typeof token !== "string" || !state.checkMetadataSession(token)) return text(401, "Unauthorized");
  }
  if (!modes.agency) return json(401, { error_msg: NO_AGENCY_BODY });
  return json(200, credentialBody(state.issueTemporary("metadata")));
}

/** IAM `securitytokens` with `assume_role`: an agency of the scenario, for 900–86400 s. */
function serveSecurityTokens(state: SimulatorState, body: Buffer): Reply {
  let parsed: unknown;
  try {
    parsed = parseJsonBody(body);
  } catch {
    return iamError(400, "Bad Request", "The request body is not valid JSON.");
  }
  const identity = (parsed as { auth?: { identity?: Record<string, unknown> } } | undefined)?.auth?.identity;
  const role = identity?.assume_role as Record<string, unknown> | undefined;
  const methods = identity?.methods;
  if (!Array.isArray(methods) || !methods.includes("assume_role") || typeof role !== "object" || !role) {
    return iamError(400, "Bad Request", "The request you have made requires an assume_role identity.");
  }
  const seconds = role.duration_seconds ?? 900;
  if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 900 || seconds > 86400) {
    return iamError(400, "Bad Request", "duration_seconds must be from 900 to 86400.");
  }
  const known = state
    .agencies()
    .some((a) => a.domainName === role.domain_name && a.agencyName === role.agency_name);
  if (!known) return iamError(403, "Forbidden", "The agency does not exist or may not be assumed.");
  return json(201, credentialBody(state.issueTemporary("agency", seconds * 1000)));
}

function queryRecord(params: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of params) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** Creates the handler of every non-control request. */
export function createApiHandler(deps: ApiHandlerDeps) {
  const { state, sleeper, logger } = deps;

  function decide(
    req: IncomingMessage,
    url: URL,
    body: Buffer,
    requestId: string,
  ): { reply: Reply; route: SimRoute | "other"; auth: AuthKind; fault?: FaultSpec } {
    const method = (req.method ?? "GET").toUpperCase();
    const match = matchRoute(method, url.pathname);
    if (match.route === "other") {
      if (match.reply === "iam_method_not_allowed") {
        return {
          reply: iamError(405, "Method Not Allowed", "The method is not allowed."),
          route: "other",
          auth: "none",
        };
      }
      if (match.reply === "method_not_allowed") {
        return {
          reply: wksError(405, SIM_ERROR_CODES.methodNotAllowed, `Method ${method} not allowed`),
          route: "other",
          auth: "none",
        };
      }
      return {
        reply: gatewayError(
          404,
          SIM_ERROR_CODES.noSuchApi,
          "The API does not exist or has not been published in the environment",
          requestId,
        ),
        route: "other",
        auth: "none",
      };
    }

    if (match.route === "token") {
      const check = checkPassword(state, body);
      const fault = state.takeFault({ route: "token", method });
      const forced = fault ? faultReply(fault, "token", requestId) : undefined;
      return {
        // A forced answer issues no token, even for the right password.
        reply: forced ?? (check.ok ? tokenReply(state, check.scope) : check.reply),
        route: "token",
        auth: check.ok ? "password" : "rejected",
        ...(fault ? { fault } : {}),
      };
    }

    if (match.route === "metadata" || match.route === "securitytokens") {
      const route = match.route;
      const authResult =
        route === "securitytokens"
          ? authenticate(state, req, body, undefined, requestId)
          : { kind: "none" as const };
      const fault = state.takeFault({ route, method });
      const forced = fault ? faultReply(fault, route, requestId) : undefined;
      const withFault = fault ? { fault } : {};
      if (forced) return { reply: forced, route, auth: authResult.kind, ...withFault };
      if ("error" in authResult && authResult.error)
        return { reply: authResult.error, route, auth: authResult.kind, ...withFault };
      const reply =
        match.route === "metadata" ? serveMetadata(state, req, match.what) : serveSecurityTokens(state, body);
      return { reply, route, auth: authResult.kind, ...withFault };
    }

    const { projectId } = match;
    const serverId = match.route === "get" ? match.serverId : undefined;
    const jobId = match.route === "job" ? match.jobId : undefined;
    const authResult = authenticate(state, req, body, projectId, requestId);
    // A fault takes its hit whatever the credentials, so "the next N requests" stays exact.
    const fault = state.takeFault({
      route: match.route,
      method,
      projectId,
      ...(serverId ? { serverId } : {}),
      ...(jobId ? { jobId } : {}),
    });
    const forced = fault ? faultReply(fault, match.route, requestId) : undefined;
    const withFault = fault ? { fault } : {};
    if (forced) return { reply: forced, route: match.route, auth: authResult.kind, ...withFault };
    if (authResult.error)
      return { reply: authResult.error, route: match.route, auth: authResult.kind, ...withFault };
    if (!state.hasProject(projectId)) {
      return {
        reply: gatewayError(403, SIM_ERROR_CODES.projectUnavailable, "The project is unavailable", requestId),
        route: match.route,
        auth: authResult.kind,
        ...withFault,
      };
    }
    if (match.route === "list") {
      return {
        reply: serveList(state, projectId, url.searchParams),
        route: "list",
        auth: authResult.kind,
        ...withFault,
      };
    }
    if (match.route === "jobs" || match.route === "sub_jobs") {
      return {
        reply: serveJobList(state, match.route, projectId, url.searchParams),
        route: match.route,
        auth: authResult.kind,
        ...withFault,
      };
    }
    if (match.route === "job") {
      const job = state.getJob(projectId, match.jobId);
      const reply = job
        ? json(200, job)
        : wksError(404, SIM_ERROR_CODES.jobNotFound, `The job ${match.jobId} does not exist`);
      return { reply, route: "job", auth: authResult.kind, ...withFault };
    }
    const server = state.getServer(projectId, match.serverId);
    const reply = server
      ? json(200, server)
      : wksError(404, SIM_ERROR_CODES.serverNotFound, `The image server ${match.serverId} does not exist`);
    return { reply, route: "get", auth: authResult.kind, ...withFault };
  }

  return async function handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: Buffer,
    requestId: string,
  ): Promise<void> {
    const at = state.now();
    const decided = decide(req, url, body, requestId);
    const { reply, fault } = decided;
    const signedBy =
      typeof req.headers.authorization === "string"
        ? parseAuthorization(req.headers.authorization)?.accessKey
        : undefined;
    state.record({
      at,
      method: (req.method ?? "GET").toUpperCase(),
      path: url.pathname,
      query: queryRecord(url.searchParams),
      route: decided.route,
      auth: decided.auth,
      status: reply.reset ? 0 : reply.status,
      requestId,
      ...(fault ? { fault } : {}),
      ...(signedBy === undefined ? {} : { accessKey: signedBy }),
    });
    logger.debug(
      {
        method: req.method,
        path: url.pathname,
        route: decided.route,
        auth: decided.auth,
        status: reply.status,
        requestId,
      },
      "simulator request",
    );

    if (fault?.delayMs && !(await sleeper.sleep(fault.delayMs))) return;
    if (reply.reset) {
      req.socket.destroy();
      return;
    }
    if (res.destroyed) return;
    const headers = { ...reply.headers, "Content-Length": String(Buffer.byteLength(reply.body)) };
    if (fault?.bodyDelayMs) {
      res.writeHead(reply.status, headers);
      res.flushHeaders();
      if (!(await sleeper.sleep(fault.bodyDelayMs))) return;
      if (!res.destroyed) res.end(reply.body);
      return;
    }
    res.writeHead(reply.status, headers);
    res.end(reply.body);
  };
}

/** A fresh X-Request-Id: 32 hex characters, as Huawei's gateway sends. */
export function newRequestId(): string {
  return randomBytes(16).toString("hex");
}
