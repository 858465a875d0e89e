/**
 * The zod schema of the configuration file (DESIGN §2): strict objects, every default from
 * `defaults.ts`, durations parsed to milliseconds, and the checks that span several keys. Its output is
 * the resolved `Config`; `toConfigIssues()` turns zod's issues into `{path, message}` pairs whose messages
 * never quote a value (a value may be a secret).
 */
import * as z from "zod";
import { AUTH_KINDS, authKindOf } from "../cloud/auth/kinds.js";
import { EVENT_NAMES, type EventName } from "../domain/types.js";
import { CONFIG_CREDENTIAL_KEYS } from "../lib/credential-fields.js";
import { parseDuration } from "../lib/duration.js";
import { type ConfigIssue, formatIssuePath } from "../lib/errors.js";
import { WEBHOOK_FORMATS, webhookFormat, webhookSecretProblem } from "../notify/formats/index.js";
import { CONFIG_DEFAULTS, defaultEndpoint, defaultIamEndpoint } from "./defaults.js";
import type {
  AlertmanagerConfig,
  AuthConfig,
  CloudConfig,
  Config,
  JobsConfig,
  ScheduleConfig,
  StuckConfig,
  TargetConfig,
  WebhookConfig,
} from "./types.js";
import { DEFAULT_CLOUD } from "./types.js";

/** What the schema needs from outside the file: the environment, for `sharding.index: auto`. */
export interface SchemaContext {
  env: Readonly<Record<string, string | undefined>>;
}

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export const LOG_FORMATS = ["json", "pretty"] as const;

export const DURATION_MESSAGE = "must be a duration such as 30s, 5m, 1h";
const STATUS_NAME = /^[A-Z][A-Z0-9_]*$/;
const SAFE_ID = /^[A-Za-z0-9_.-]+$/;
const WEBHOOK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const REGION = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers imagewatch sets itself: a static header must not replace them (signing would break). */
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "webhook-id",
  "webhook-timestamp",
  "webhook-signature",
]);

/** A duration string (or a bare 0) parsed to milliseconds, at least `minMs`. */
function duration(minMs = 0) {
  return z.any().transform((value, ctx): number => {
    const ms = typeof value === "string" ? parseDuration(value) : value === 0 ? 0 : undefined;
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: DURATION_MESSAGE });
      return z.NEVER;
    }
    if (ms < minMs) {
      ctx.addIssue({
        code: "custom",
        message: minMs <= 1 ? "must be longer than 0s" : `must be at least ${minMs}ms`,
      });
      return z.NEVER;
    }
    return ms;
  });
}

/** A retry block's check: backoff starts at minDelay and doubles up to maxDelay. */
function minDelayWithinMax(r: { minDelay: number; maxDelay: number }, ctx: z.RefinementCtx): void {
  if (r.minDelay > r.maxDelay) {
    ctx.addIssue({ code: "custom", path: ["minDelay"], message: "must not be longer than maxDelay" });
  }
}

/** A non-empty string. */
const text = () => z.string().min(1);

/** A scalar written as text: numbers and booleans become their string form ("" means not set). */
function scalarText(what: string) {
  return z.any().transform((v, ctx): string | undefined => {
    if (typeof v === "string") return v === "" ? undefined : v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    ctx.addIssue({ code: "custom", message: `must be ${what}` });
    return z.NEVER;
  });
}

/** An optional string where "" (e.g. `${VAR:-}`) means "not set". */
const optionalText = () =>
  z
    .string()
    .optional()
    .transform((v) => (v === "" ? undefined : v));

/** An absolute http(s) URL; `stripSlash` drops trailing slashes (endpoints are joined with paths). */
function httpUrl(stripSlash: boolean) {
  return z.string().transform((value, ctx): string => {
    const v = value.trim();
    let url: URL | undefined;
    try {
      url = new URL(v);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
      ctx.addIssue({ code: "custom", message: "must be http(s) URL" });
      return z.NEVER;
    }
    return stripSlash ? v.replace(/\/+$/, "") : v;
  });
}

/** Removes keys whose value is undefined, so optional keys are absent rather than `undefined`. */
function compact<T extends object>(obj: T): T {
  for (const key of Object.keys(obj) as (keyof T)[]) {
    if (obj[key] === undefined) delete obj[key];
  }
  return obj;
}

/** `cloud.auth`: one of the registered kinds (cloud/auth/kinds.ts), told apart by `kind`. */
type AuthKindSchema = (typeof AUTH_KINDS)[number]["schema"];
const authSchema = z
  .discriminatedUnion("kind", AUTH_KINDS.map((m) => m.schema) as [AuthKindSchema, ...AuthKindSchema[]])
  .transform((a): AuthConfig => compact({ ...a }));

const cloudSchema = z
  .strictObject({
    region: optionalText().refine(
      (r) => r === undefined || REGION.test(r),
      "must be a region id such as cn-north-4",
    ),
    endpoint: httpUrl(true).optional(),
    iamEndpoint: httpUrl(true).optional(),
    auth: authSchema,
    requestTimeout: duration(1).prefault(CONFIG_DEFAULTS.cloud.requestTimeout),
    maxRequestsPerSecond: z.number().positive().prefault(CONFIG_DEFAULTS.cloud.maxRequestsPerSecond),
    retry: z
      .strictObject({
        attempts: z.int().min(1).prefault(CONFIG_DEFAULTS.cloud.retry.attempts),
        minDelay: duration().prefault(CONFIG_DEFAULTS.cloud.retry.minDelay),
        maxDelay: duration().prefault(CONFIG_DEFAULTS.cloud.retry.maxDelay),
      })
      .superRefine(minDelayWithinMax)
      .prefault({}),
    caFile: optionalText(),
  })
  .transform((c, ctx): CloudConfig => {
    const { region } = c;
    // password auth scopes its token to the region's project, so it needs the region itself.
    if (region === undefined && authKindOf(c.auth).needsRegion) {
      ctx.addIssue({ code: "custom", path: ["region"], message: `required for auth kind ${c.auth.kind}` });
    }
    let endpoint = c.endpoint;
    if (endpoint === undefined) {
      if (region === undefined) {
        ctx.addIssue({ code: "custom", path: ["region"], message: "required unless cloud.endpoint is set" });
      } else {
        endpoint = defaultEndpoint(region);
        if (endpoint === undefined) {
          ctx.addIssue({
            code: "custom",
            path: ["endpoint"],
            message: `required: no known endpoint for region ${region}, set cloud.endpoint`,
          });
        }
      }
    }
    // aksk and token never call IAM; without a region the IAM endpoint is unused, so the API
    // endpoint stands in to keep the field always set.
    const iamEndpoint = c.iamEndpoint ?? (region !== undefined ? defaultIamEndpoint(region) : endpoint);
    if (endpoint === undefined || iamEndpoint === undefined) return z.NEVER;
    return compact({
      region,
      endpoint,
      iamEndpoint,
      auth: c.auth,
      requestTimeout: c.requestTimeout,
      maxRequestsPerSecond: c.maxRequestsPerSecond,
      retry: c.retry,
      caFile: c.caFile,
    });
  });

const idSchema = (what: string) =>
  text().refine((v) => SAFE_ID.test(v), `must be ${what} (letters, digits, '.', '-' and '_')`);

const targetSchema = z
  .strictObject({
    projectId: idSchema("a project id"),
    serverIds: z.array(idSchema("a server id")).prefault(CONFIG_DEFAULTS.target.serverIds),
    discover: z.boolean().prefault(CONFIG_DEFAULTS.target.discover),
    serverName: optionalText(),
    enterpriseProjectId: scalarText('a string such as "0"').optional(),
    jobs: z.boolean().prefault(CONFIG_DEFAULTS.target.jobs),
    cloud: optionalText(),
  })
  .transform((t, ctx): TargetConfig => {
    if (t.serverIds.length === 0 && !t.discover) {
      ctx.addIssue({ code: "custom", message: "needs serverIds or discover: true" });
      return z.NEVER;
    }
    if (t.serverIds.length > 0 && t.discover) {
      ctx.addIssue({
        code: "custom",
        path: ["serverIds"],
        message: "not allowed with discover: true (discover watches every server the list returns)",
      });
      return z.NEVER;
    }
    return compact({
      projectId: t.projectId,
      serverIds: [...new Set(t.serverIds)],
      discover: t.discover,
      serverName: t.serverName,
      enterpriseProjectId: t.enterpriseProjectId,
      jobs: t.jobs,
      cloud: t.cloud,
    });
  });

/** `jobs:`: the stuck threshold of each job type (0 = never stuck). */
const jobsSchema = z
  .strictObject({
    stuck: z
      .strictObject({
        CREATE_SERVER: duration().prefault(CONFIG_DEFAULTS.jobs.stuck.CREATE_SERVER),
        CREATE_SERVER_IMAGE: duration().prefault(CONFIG_DEFAULTS.jobs.stuck.CREATE_SERVER_IMAGE),
        DELETE_SERVER: duration().prefault(CONFIG_DEFAULTS.jobs.stuck.DELETE_SERVER),
      })
      .prefault({}),
  })
  .transform((j): JobsConfig => j);

/** `clouds:`: more named clouds, each shaped like `cloud` (which is the one named "default"). */
const cloudsSchema = z.record(z.string(), cloudSchema).superRefine((clouds, ctx) => {
  for (const name of Object.keys(clouds)) {
    if (name === DEFAULT_CLOUD) {
      ctx.addIssue({ code: "custom", path: [name], message: "is the name of `cloud:`; give it there" });
    } else if (!WEBHOOK_NAME.test(name)) {
      ctx.addIssue({
        code: "custom",
        path: [name],
        message: "must be letters, digits, '.', '-' or '_' (at most 64)",
      });
    }
  }
});

const scheduleSchema = z
  .strictObject({
    // At least a second: the API quotas are per minute, and a sub-second cadence would only burn them.
    interval: duration(1000).prefault(CONFIG_DEFAULTS.schedule.interval),
    steadyInterval: duration(1000).prefault(CONFIG_DEFAULTS.schedule.steadyInterval),
    concurrency: z.int().min(1).prefault(CONFIG_DEFAULTS.schedule.concurrency),
  })
  .transform((s): ScheduleConfig => s);

const stuckSchema = z.record(z.string(), z.unknown()).transform((raw, ctx): StuckConfig => {
  const thresholds: Record<string, number> = {};
  for (const [status, value] of Object.entries(CONFIG_DEFAULTS.stuck.thresholds)) {
    thresholds[status] = parseDuration(value) as number;
  }
  let repeatEvery = parseDuration(CONFIG_DEFAULTS.stuck.repeatEvery) as number;
  let ok = true;
  for (const [key, value] of Object.entries(raw)) {
    const ms = typeof value === "string" ? parseDuration(value) : value === 0 ? 0 : undefined;
    if (key !== "repeatEvery" && !STATUS_NAME.test(key)) {
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: "unknown key: give a status name in capitals (e.g. BUILDING) or repeatEvery",
      });
      ok = false;
    } else if (ms === undefined) {
      ctx.addIssue({ code: "custom", path: [key], message: DURATION_MESSAGE });
      ok = false;
    } else if (key === "repeatEvery") {
      repeatEvery = ms;
    } else if (ms === 0) {
      // 0 turns stuck detection off for that status (a default included).
      delete thresholds[key];
    } else {
      thresholds[key] = ms;
    }
  }
  return ok ? { thresholds, repeatEvery } : z.NEVER;
});

/** The most events one digest may carry (`webhooks[].group.max`). */
const MAX_DIGEST_EVENTS = 1000;

const rateLimitObject = z.strictObject({ count: z.int().min(1), per: duration(1) });

/**
 * `webhooks[].rateLimit`: `{count, per}`, or false for no limit (a YAML null reads as "not given", so it
 * cannot say "none"). Not a zod union, which would report "invalid value" instead of the field at fault.
 */
const rateLimitSchema = z.any().transform((value, ctx): { count: number; per: number } | null => {
  if (value === false) return null;
  const parsed = rateLimitObject.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, input: value });
  return z.NEVER;
});

const webhookSchema = z
  .strictObject({
    name: text().refine((n) => WEBHOOK_NAME.test(n), "must be letters, digits, '.', '-' or '_' (at most 64)"),
    url: httpUrl(false),
    format: z.enum(WEBHOOK_FORMATS).prefault(CONFIG_DEFAULTS.webhook.format),
    secret: text().optional(),
    events: z
      .array(z.enum(EVENT_NAMES))
      .min(1)
      .prefault([...CONFIG_DEFAULTS.webhook.events]),
    statuses: z
      .array(text().refine((s) => STATUS_NAME.test(s), "must be a status name in capitals such as BUILT"))
      .prefault([...CONFIG_DEFAULTS.webhook.statuses]),
    headers: z.record(z.string(), scalarText("a string")).prefault({ ...CONFIG_DEFAULTS.webhook.headers }),
    timeout: duration(1).prefault(CONFIG_DEFAULTS.webhook.timeout),
    retry: z
      .strictObject({
        minDelay: duration().prefault(CONFIG_DEFAULTS.webhook.retry.minDelay),
        maxDelay: duration().prefault(CONFIG_DEFAULTS.webhook.retry.maxDelay),
      })
      .superRefine(minDelayWithinMax)
      .prefault({}),
    maxAge: duration(1).prefault(CONFIG_DEFAULTS.webhook.maxAge),
    group: z
      .strictObject({
        wait: duration().optional(),
        max: z.int().min(1).max(MAX_DIGEST_EVENTS).optional(),
      })
      .optional(),
    rateLimit: rateLimitSchema.optional(),
  })
  .transform((w, ctx): WebhookConfig => {
    let ok = true;
    const format = webhookFormat(w.format);
    const group = { ...format.defaults.group, ...compact({ ...w.group }) };
    if (format.buildDigest === undefined && group.max > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["group", "max"],
        message: `must be 1 for format ${w.format} (one event per request)`,
      });
      ok = false;
    }
    const secretProblem = webhookSecretProblem(w.format, w.secret);
    if (secretProblem !== undefined) {
      ctx.addIssue({ code: "custom", path: ["secret"], message: secretProblem });
      ok = false;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(w.headers)) {
      if (value !== undefined) headers[name] = value;
      if (!HEADER_NAME.test(name)) {
        ctx.addIssue({ code: "custom", path: ["headers", name], message: "not a valid header name" });
        ok = false;
      } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
        ctx.addIssue({
          code: "custom",
          path: ["headers", name],
          message: "is set by imagewatch and cannot be overridden",
        });
        ok = false;
      }
    }
    if (!ok) return z.NEVER;
    return compact({
      name: w.name,
      url: w.url,
      format: w.format,
      secret: w.secret,
      events: [...new Set<EventName>(w.events)],
      statuses: [...new Set(w.statuses)],
      headers,
      timeout: w.timeout,
      retry: w.retry,
      maxAge: w.maxAge,
      group,
      rateLimit: w.rateLimit === undefined ? format.defaults.rateLimit : w.rateLimit,
    });
  });

const webhooksSchema = z.array(webhookSchema).superRefine((hooks, ctx) => {
  const seen = new Set<string>();
  hooks.forEach((h, i) => {
    if (seen.has(h.name)) {
      ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate webhook name ${h.name}` });
    }
    seen.add(h.name);
  });
});

/** `alertmanagers[]` (DESIGN §13): an Alertmanager to push alerts to, as Prometheus does. */
const alertmanagerSchema = z
  .strictObject({
    name: text().refine((n) => WEBHOOK_NAME.test(n), "must be letters, digits, '.', '-' or '_' (at most 64)"),
    url: httpUrl(true),
    resendEvery: duration(1000).prefault(CONFIG_DEFAULTS.alertmanager.resendEvery),
    timeout: duration(1).prefault(CONFIG_DEFAULTS.alertmanager.timeout),
    labels: z.record(z.string(), scalarText("a string")).prefault({}),
    headers: z.record(z.string(), scalarText("a string")).prefault({}),
  })
  .transform((a, ctx): AlertmanagerConfig => {
    let ok = true;
    const labels: Record<string, string> = {};
    for (const [name, value] of Object.entries(a.labels)) {
      if (!LABEL_NAME.test(name)) {
        ctx.addIssue({ code: "custom", path: ["labels", name], message: "not a valid label name" });
        ok = false;
      } else if (value !== undefined) labels[name] = value;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(a.headers)) {
      if (!HEADER_NAME.test(name)) {
        ctx.addIssue({ code: "custom", path: ["headers", name], message: "not a valid header name" });
        ok = false;
      } else if (value !== undefined) headers[name] = value;
    }
    if (!ok) return z.NEVER;
    return { name: a.name, url: a.url, resendEvery: a.resendEvery, timeout: a.timeout, labels, headers };
  });

const alertmanagersSchema = z.array(alertmanagerSchema).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((a, i) => {
    if (seen.has(a.name)) {
      ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate alertmanager name ${a.name}` });
    }
    seen.add(a.name);
  });
});

const LISTEN = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]*)):(\d{1,5})$/;

const serverSchema = z
  .strictObject({
    listen: z.string().prefault(CONFIG_DEFAULTS.server.listen),
    bearerToken: text().optional(),
    externalURL: optionalText().pipe(z.union([z.undefined(), httpUrl(true)])),
    tls: z.strictObject({ certFile: text(), keyFile: text(), clientCAFile: optionalText() }).optional(),
  })
  .transform((s, ctx): Config["server"] => {
    const m = LISTEN.exec(s.listen.trim());
    const port = m ? Number(m[3]) : Number.NaN;
    if (!m || port > 65535) {
      ctx.addIssue({ code: "custom", path: ["listen"], message: "must be host:port, such as 0.0.0.0:9478" });
      return z.NEVER;
    }
    const host = m[1] ?? (m[2] || CONFIG_DEFAULTS.server.host);
    const tls = s.tls ? compact({ ...s.tls }) : undefined;
    return compact({
      listen: s.listen.trim(),
      host,
      port,
      bearerToken: s.bearerToken,
      externalURL: s.externalURL,
      tls,
    });
  });

function shardingSchema(context: SchemaContext) {
  return z
    .strictObject({
      count: z.int().min(1).prefault(CONFIG_DEFAULTS.sharding.count),
      index: z
        .any()
        .transform((v, ctx): number | "auto" => {
          if (v === "auto" || (Number.isInteger(v) && v >= 0)) return v;
          ctx.addIssue({ code: "custom", message: "must be a whole number from 0, or auto" });
          return z.NEVER;
        })
        .prefault(CONFIG_DEFAULTS.sharding.index),
    })
    .transform((s, ctx): Config["sharding"] => {
      let index: number;
      if (s.index === "auto") {
        const hostname = context.env.HOSTNAME;
        const m = hostname === undefined ? null : /(\d+)$/.exec(hostname);
        if (!m) {
          ctx.addIssue({
            code: "custom",
            path: ["index"],
            message:
              hostname === undefined
                ? "auto needs HOSTNAME ending in a number, but HOSTNAME is not set"
                : `auto needs HOSTNAME ending in a number, got ${hostname}`,
          });
          return z.NEVER;
        }
        index = Number(m[1]);
      } else {
        index = s.index;
      }
      if (index >= s.count) {
        ctx.addIssue({
          code: "custom",
          path: ["index"],
          message: `must be less than sharding.count (${s.count}), got ${index}`,
        });
        return z.NEVER;
      }
      return { count: s.count, index };
    });
}

/** Builds the schema of the whole file; its output is the resolved `Config` (not yet frozen). */
export function createConfigSchema(context: SchemaContext) {
  return z
    .strictObject({
      cloud: cloudSchema,
      clouds: cloudsSchema.prefault({}),
      targets: z.array(targetSchema).min(1),
      schedule: scheduleSchema.prefault({}),
      stuck: stuckSchema.prefault({}),
      jobs: jobsSchema.prefault({}),
      alerts: z
        .strictObject({
          pollFailureThreshold: z.int().min(1).prefault(CONFIG_DEFAULTS.alerts.pollFailureThreshold),
        })
        .prefault({}),
      webhooks: webhooksSchema.prefault([]),
      alertmanagers: alertmanagersSchema.prefault([]),
      server: serverSchema.prefault({}),
      state: z
        .strictObject({
          path: text().prefault(CONFIG_DEFAULTS.state.path),
          retention: duration(1).prefault(CONFIG_DEFAULTS.state.retention),
        })
        .prefault({}),
      log: z
        .strictObject({
          level: z.enum(LOG_LEVELS).prefault(CONFIG_DEFAULTS.log.level),
          format: z.enum(LOG_FORMATS).prefault(CONFIG_DEFAULTS.log.format),
        })
        .prefault({}),
      sharding: shardingSchema(context).prefault({}),
    })
    .transform((c, ctx): Config => {
      const clouds: Record<string, CloudConfig> = { [DEFAULT_CLOUD]: c.cloud, ...c.clouds };
      c.targets.forEach((t, i) => {
        if (t.cloud !== undefined && !Object.hasOwn(clouds, t.cloud)) {
          const known = Object.keys(clouds).join(", ");
          ctx.addIssue({
            code: "custom",
            path: ["targets", i, "cloud"],
            message: `unknown cloud ${t.cloud} (known: ${known})`,
          });
        }
      });
      // Formats link to the status page (DESIGN §6): each webhook carries the base URL it links to.
      const base = c.server.externalURL;
      const webhooks = base === undefined ? c.webhooks : c.webhooks.map((w) => ({ ...w, externalURL: base }));
      return { ...c, clouds, webhooks };
    });
}

const TYPE_NAMES: Record<string, string> = {
  object: "a mapping",
  record: "a mapping",
  array: "a list",
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
};

/** Turns zod issues into config issues. Messages are ours and never include the offending value. */
export function toConfigIssues(issues: readonly z.core.$ZodIssue[]): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const path = formatIssuePath(issue.path);
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys)
          out.push({ path: formatIssuePath([...issue.path, key]), message: "unknown key" });
        break;
      case "invalid_type": {
        const absent = issue.input === undefined;
        const last = issue.path[issue.path.length - 1];
        const isSecret =
          typeof last === "string" && (CONFIG_CREDENTIAL_KEYS as readonly string[]).includes(last);
        const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
        const message = absent
          ? isSecret
            ? `required (or ${String(last)}File)`
            : "required"
          : issue.expected === "int" && typeof issue.input === "number"
            ? "must be a whole number"
            : issue.expected === "string" &&
                (typeof issue.input === "number" || typeof issue.input === "boolean")
              ? "must be a string (quote it in YAML)"
              : `must be ${expected}`;
        out.push({ path, message });
        break;
      }
      case "invalid_union": {
        const u = issue as z.core.$ZodIssueInvalidUnion & { discriminator?: string; options?: unknown[] };
        if (u.options !== undefined) {
          out.push({ path, message: `must be one of ${u.options.map(String).join(", ")}` });
        } else {
          out.push({ path, message: "has an invalid value" });
        }
        break;
      }
      case "invalid_value":
        out.push({
          path,
          message:
            issue.values.length === 1
              ? `must be ${String(issue.values[0])}`
              : `must be one of ${issue.values.map(String).join(", ")}`,
        });
        break;
      case "too_small":
        if (issue.origin === "array") {
          out.push({
            path,
            message: Number(issue.minimum) <= 1 ? "must not be empty" : `needs ${issue.minimum}+ entries`,
          });
        } else if (issue.origin === "string") {
          out.push({ path, message: "must not be empty" });
        } else {
          out.push({
            path,
            message: issue.inclusive
              ? `must be at least ${issue.minimum}`
              : `must be greater than ${issue.minimum}`,
          });
        }
        break;
      case "too_big":
        out.push({
          path,
          message: issue.inclusive
            ? `must be at most ${issue.maximum}`
            : `must be less than ${issue.maximum}`,
        });
        break;
      default:
        out.push({ path, message: issue.message });
    }
  }
  return out;
}
