/**
 * The simulator's HTTP control interface under `/__sim/` (routes documented in README.md). It maps
 * JSON requests onto the same `SimulatorControl` API tests call directly. No authentication: the
 * simulator is a local test tool.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { AppError, ConfigError } from "../lib/errors.js";
import { parseDuration } from "../lib/duration.js";
import { parseJsonBody, sendJson } from "./http-util.js";
import type { FaultSpec } from "./scenario.js";
import type {
  ApiServer,
  IssuedToken,
  PendingFault,
  RequestRecord,
  SimulatorCounts,
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
  /** Sets the status (null removes the field) and moves update_time to now, or to `updateTime`. */
  setStatus(
    projectId: string,
    serverId: string,
    status: string | null,
    options?: { updateTime?: number | string },
  ): ApiServer | undefined;
  /** Sets API fields (null removes one); `create_time`/`update_time` accept ms or `-5m`. */
  updateServer(projectId: string, serverId: string, fields: Record<string, unknown>): ApiServer | undefined;
  /** The server as the API would return it now. */
  getServer(projectId: string, serverId: string): ApiServer | undefined;
  /** A project's present servers in list order. */
  listServers(projectId: string): ApiServer[];
  /** Makes a project known (without servers). */
  addProject(projectId: string): void;
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
});
const revokeBody = z.strictObject({ token: z.string().optional() }).optional();
const lifetimeBody = z.union([
  z.strictObject({ lifetimeMs: z.number().positive() }),
  z.strictObject({ lifetime: z.string() }),
]);
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

/** Creates the `/__sim/` handler over a control API and a state snapshot function. */
export function createControlHandler(control: SimulatorControl, snapshot: () => unknown) {
  return function handleControl(req: IncomingMessage, res: ServerResponse, url: URL, rawBody: Buffer): void {
    const method = (req.method ?? "GET").toUpperCase();
    const parts = url.pathname
      .slice(CONTROL_PREFIX.length)
      .split("/")
      .filter((p) => p !== "")
      .map((p) => decodeURIComponent(p));
    try {
      let body: unknown;
      try {
        body = parseJsonBody(rawBody);
      } catch {
        throw new ControlInputError("request body is not valid JSON");
      }
      const [a, b, c, d, e] = parts;
      const route = `${method} ${parts.length}:${a ?? ""}`;

      if (route === "GET 1:state") return sendJson(res, 200, snapshot());
      if (route === "POST 1:projects") {
        const { id } = parse(projectBody, body);
        control.addProject(id);
        return sendJson(res, 201, { id });
      }
      if (a === "projects" && b !== undefined && c === "servers") {
        if (method === "POST" && parts.length === 3) {
          return sendJson(res, 201, control.addServer(b, (body ?? {}) as ServerInput));
        }
        if (method === "GET" && parts.length === 3) return sendJson(res, 200, { items: control.listServers(b) });
        if (d !== undefined && parts.length === 4) {
          if (method === "GET") {
            const server = control.getServer(b, d);
            return server ? sendJson(res, 200, server) : sendJson(res, 404, { error: "no such server" });
          }
          if (method === "DELETE") {
            return control.removeServer(b, d)
              ? sendJson(res, 204, undefined)
              : sendJson(res, 404, { error: "no such server" });
          }
          if (method === "PATCH") {
            const server = control.updateServer(b, d, parse(fieldsBody, body));
            return server ? sendJson(res, 200, server) : sendJson(res, 404, { error: "no such server" });
          }
        }
        if (d !== undefined && e === "status" && parts.length === 5 && (method === "PUT" || method === "POST")) {
          const input = parse(statusBody, body);
          const server = control.setStatus(
            b,
            d,
            input.status,
            input.update_time === undefined ? {} : { updateTime: input.update_time },
          );
          return server ? sendJson(res, 200, server) : sendJson(res, 404, { error: "no such server" });
        }
      }
      if (route === "GET 1:faults") return sendJson(res, 200, { faults: control.pendingFaults() });
      if (route === "POST 1:faults") return sendJson(res, 201, { id: control.injectFault((body ?? {}) as FaultSpec) });
      if (route === "DELETE 1:faults") {
        control.clearFaults();
        return sendJson(res, 204, undefined);
      }
      if (route === "POST 1:tokens" && parts.length === 1) {
        const t = control.issueToken();
        return sendJson(res, 201, { token: t.token, expires_at: new Date(t.expiresAt).toISOString() });
      }
      if (method === "POST" && a === "tokens" && b === "revoke" && parts.length === 2) {
        const input = parse(revokeBody, body);
        return sendJson(res, 200, { revoked: control.revokeTokens(input?.token) });
      }
      if ((method === "PUT" || method === "POST") && a === "token-lifetime" && parts.length === 1) {
        const input = parse(lifetimeBody, body);
        const ms = "lifetimeMs" in input ? input.lifetimeMs : parseDuration(input.lifetime);
        if (ms === undefined || ms <= 0) throw new ControlInputError("lifetime must be a positive duration");
        control.setTokenLifetime(ms);
        return sendJson(res, 200, { lifetimeMs: ms });
      }
      if (route === "GET 1:counters") return sendJson(res, 200, control.counts());
      if (method === "POST" && a === "counters" && b === "reset" && parts.length === 2) {
        control.resetCounters();
        return sendJson(res, 204, undefined);
      }
      if (route === "GET 1:requests") {
        const all = control.requests();
        const limit = Number(url.searchParams.get("limit") ?? all.length);
        return sendJson(res, 200, { requests: Number.isFinite(limit) && limit >= 0 ? all.slice(-limit || all.length) : all });
      }
      return sendJson(res, 404, { error: `no control route ${method} ${url.pathname}` });
    } catch (err) {
      if (err instanceof ControlInputError) return sendJson(res, 400, { error: err.message, issues: err.issues });
      if (err instanceof ConfigError) return sendJson(res, 400, { error: "invalid control request", issues: err.issues });
      return sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
    }
  };
}
