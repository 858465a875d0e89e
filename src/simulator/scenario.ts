/**
 * Simulator scenarios: what the fake Workspace/IAM API holds and how it changes over time
 * (DESIGN.md §3). A scenario is YAML on disk, validated strictly, and normalised to ms offsets.
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { z } from "zod";
import { parseDuration } from "../lib/duration.js";
import { ConfigError, type ConfigIssue } from "../lib/errors.js";

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

/** The routes faults and counters distinguish. */
export type SimRoute = "get" | "list" | "token";

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
}

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
  return { credentials: { ...DEFAULT_CREDENTIALS }, projects: [], faults: [] };
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

const routeSchema = z.enum(["get", "list", "token"]);

/** Schema of a fault (shared with the control interface). */
export const faultSpecSchema = z.strictObject({
  route: routeSchema.optional(),
  method: z.string().min(1).optional(),
  projectId: z.string().min(1).optional(),
  serverId: z.string().min(1).optional(),
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

const timelineStepSchema = z.strictObject({
  after: durationSchema,
  status: z.string().nullable().optional(),
  remove: z.boolean().optional(),
  restore: z.boolean().optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
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
    .array(z.strictObject({ id: z.string().min(1), servers: z.array(serverInputSchema).optional() }))
    .optional(),
  faults: z.array(faultSpecSchema.extend({ after: durationSchema })).optional(),
  tokenLifetime: durationSchema.optional(),
});

type TimelineStepInput = z.output<typeof timelineStepSchema>;

function toStep(input: TimelineStepInput): TimelineStep {
  const step: TimelineStep = { afterMs: input.after };
  if (input.status !== undefined) step.status = input.status;
  if (input.remove) step.remove = true;
  if (input.restore) step.restore = true;
  if (input.fields) step.fields = input.fields;
  return step;
}

/** Normalises one validated server input (scenario file or control API). */
export function toScenarioServer(input: z.output<typeof serverInputSchema>): ScenarioServer {
  const { timeline, removed, ...fields } = input;
  const server: ScenarioServer = { fields, timeline: (timeline ?? []).map(toStep) };
  if (removed) server.removed = true;
  return server;
}

/** Formats a zod issue path the way config errors do: `projects[0].servers[1].timeline[0].after`. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
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
    return { id: p.id, servers };
  });
  if (issues.length > 0) throw new ConfigError(issues);
  const scenario: Scenario = {
    credentials: { ...input.credentials },
    projects,
    faults: (input.faults ?? []).map(({ after, ...fault }) => ({ afterMs: after, fault })),
  };
  if (input.tokenLifetime !== undefined) scenario.tokenLifetimeMs = input.tokenLifetime;
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
