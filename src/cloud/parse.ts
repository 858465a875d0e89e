/**
 * Validation of Workspace API bodies (API §1–2, §6), as pure functions: a body either becomes typed
 * data or a reason why it cannot. The API object is kept as it came in `raw`.
 */

import type { ImageJob, ImageJobDetail, ImageSubJob } from "../domain/jobs.js";
import { normalizeStatus } from "../domain/status.js";
import type { ImageServer } from "../domain/types.js";

/** A body that does not have the shape we need; `reason` is short and names no value. */
export class ShapeError extends Error {}

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parses an API timestamp leniently: `2022-03-07T10:40:43.858Z`, a space instead of `T`, no zone (UTC),
 * `+08:00`/`+0800` offsets, fractions of any length, a bare date. Returns ms since epoch, or null.
 */
export function parseTimestamp(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value !== "string") return null;
  const m = TIMESTAMP.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone = "Z"] = m;
  const ms = Number(frac.padEnd(3, "0").slice(0, 3));
  const month = Number(mo) - 1;
  const day = Number(d);
  const t = Date.UTC(Number(y), month, day, Number(h), Number(mi), Number(s), ms);
  const back = new Date(t);
  if (
    back.getUTCMonth() !== month ||
    back.getUTCDate() !== day ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 60
  ) {
    return null;
  }
  return t - zoneOffsetMs(zone);
}

function zoneOffsetMs(zone: string): number {
  if (zone === "Z" || zone === "z" || zone === "UTC") return 0;
  const sign = zone.startsWith("-") ? -1 : 1;
  const digits = zone.slice(1).replace(":", "");
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
  return sign * (hours * 60 + minutes) * 60_000;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** Normalises a status (the domain's rule): missing, null or the literal `"null"` → `UNKNOWN`. */
export const normaliseStatus = normalizeStatus;

/**
 * An API error object in a body: `{error_code, error_msg}` (Workspace, gateway) or
 * `{error: {code, message}}` (IAM). Undefined when the body is not one.
 */
export function readApiError(
  body: unknown,
): { errorCode?: string; errorMsg?: string; requestId?: string } | undefined {
  if (!isRecord(body)) return undefined;
  const nested = isRecord(body.error) ? body.error : undefined;
  const code = body.error_code ?? nested?.code ?? nested?.error_code;
  const msg = body.error_msg ?? body.error_message ?? nested?.message ?? nested?.error_msg;
  if (code === undefined && msg === undefined) return undefined;
  const out: { errorCode?: string; errorMsg?: string; requestId?: string } = {};
  if (code !== undefined && code !== null) out.errorCode = String(code);
  if (typeof msg === "string") out.errorMsg = msg;
  if (typeof body.request_id === "string") out.requestId = body.request_id;
  return out;
}

/**
 * The bounds of one API object as accepted (an image server, a job, a sub-job: each is stored and
 * serialised whole, as `raw`).
 */
const OBJECT_BOUNDS = {
  /** Nesting levels below the object itself. */
  depth: 32,
  /** Values (objects, arrays, scalars) in all. */
  values: 10_000,
  /** Characters of every key and string value together. */
  chars: 1024 * 1024,
} as const;

/**
 * Throws ShapeError when `root` (a `what`) nests deeper, or holds more values or text, than
 * OBJECT_BOUNDS allows. Iterative, so no input can exhaust the stack here (it would later, in
 * JSON.stringify).
 */
function checkBounds(root: unknown, what: string): void {
  const stack: [unknown, number][] = [[root, 0]];
  let values = 1;
  let chars = 0;
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [value, depth] = item;
    if (typeof value === "string") chars += value.length;
    if (typeof value === "object" && value !== null) {
      if (depth >= OBJECT_BOUNDS.depth) {
        throw new ShapeError(`${what} nested deeper than ${OBJECT_BOUNDS.depth} levels`);
      }
      const keys = Object.keys(value);
      values += keys.length;
      if (values > OBJECT_BOUNDS.values) {
        throw new ShapeError(`${what} has more than ${OBJECT_BOUNDS.values} values`);
      }
      const isArray = Array.isArray(value);
      for (const key of keys) {
        if (!isArray) chars += key.length;
        stack.push([(value as Record<string, unknown>)[key], depth + 1]);
      }
    }
    if (chars > OBJECT_BOUNDS.chars) {
      throw new ShapeError(`${what} holds more than ${OBJECT_BOUNDS.chars} characters`);
    }
  }
}

/**
 * Validates one image-server object (required: a non-empty string `id`; within OBJECT_BOUNDS) and maps
 * it to `ImageServer`.
 */
export function parseImageServer(value: unknown): ImageServer {
  if (!isRecord(value)) throw new ShapeError("image server is not an object");
  checkBounds(value, "image server");
  if (typeof value.id !== "string" || value.id === "") throw new ShapeError("image server has no string id");
  if (value.name !== undefined && value.name !== null && typeof value.name !== "string") {
    throw new ShapeError("image server name is not a string");
  }
  if (value.status !== undefined && value.status !== null && typeof value.status !== "string") {
    throw new ShapeError("image server status is not a string");
  }
  const imageRef = isRecord(value.image_ref) ? value.image_ref : {};
  return {
    id: value.id,
    name: str(value.name),
    status: normaliseStatus(value.status),
    updateTime: parseTimestamp(value.update_time),
    createTime: parseTimestamp(value.create_time),
    imageId: str(value.image_id),
    imageType: str(imageRef.image_type),
    serverGroupId: str(value.server_group_id),
    appGroupId: str(value.app_group_id),
    apsServerId: str(value.server_id),
    instanceId: str(value.instance_id),
    raw: value,
  };
}

/** One page of a list call. `count` is the API's total, undefined when it sent none. */
export interface ListPage<T = ImageServer> {
  count: number | undefined;
  items: T[];
}

/** Validates a list body `{count, items: [...]}`, each item by `parseItem`. */
function parsePage<T>(value: unknown, parseItem: (item: unknown) => T): ListPage<T> {
  if (!isRecord(value)) throw new ShapeError("list body is not an object");
  if (!Array.isArray(value.items)) throw new ShapeError("list body has no items array");
  let count: number | undefined;
  if (value.count !== undefined && value.count !== null) {
    if (!isCount(value.count)) throw new ShapeError("list count is not a non-negative integer");
    count = value.count;
  }
  return { count, items: value.items.map((item) => parseItem(item)) };
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

/**
 * Validates a list body `{count, items: [...]}`; every item must be a valid image server. `held` gives
 * the server the caller already holds for an id: when an item equals its `raw` field-wise, the held
 * object is returned as it is, unparsed (it passed OBJECT_BOUNDS, and an equal answer cannot exceed
 * them); anything new or changed is parsed and bounded.
 */
export function parseListPage(value: unknown, held?: (id: string) => ImageServer | undefined): ListPage {
  if (!held) return parsePage(value, parseImageServer);
  return parsePage(value, (item) => {
    if (isRecord(item) && typeof item.id === "string") {
      const known = held(item.id);
      if (known && sameRaw(known.raw, item, 0)) return known;
    }
    return parseImageServer(item);
  });
}

/**
 * Whether a fresh JSON value `b` equals a held one `a`, field by field. The walk follows `a`, which is
 * within OBJECT_BOUNDS, and gives up (not equal: `b` is then parsed and bounded) below
 * OBJECT_BOUNDS.depth levels, so no answer makes it recurse deeper or longer than the held object allows.
 */
function sameRaw(a: unknown, b: unknown, depth: number): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (depth >= OBJECT_BOUNDS.depth) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameRaw(a[i], b[i], depth + 1)) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let n = 0;
  for (const k in ra) {
    if (!Object.hasOwn(ra, k)) continue;
    if (!Object.hasOwn(rb, k) || !sameRaw(ra[k], rb[k], depth + 1)) return false;
    n++;
  }
  for (const k in rb) if (Object.hasOwn(rb, k)) n--;
  return n === 0;
}

/** A field that must be a string when present; null and missing are "". */
function optionalString(value: unknown, what: string): string {
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") throw new ShapeError(`${what} is not a string`);
  return value;
}

/** A field that must be an object when present; null and missing are `{}`. */
function optionalRecord(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined || value === null || value === "") return {};
  if (!isRecord(value)) throw new ShapeError(`${what} is not an object`);
  return value;
}

/** The fields jobs and sub-jobs share: a non-empty string id, `job_type`, `status` and the two times. */
function jobFields(value: unknown, what: string, jobType: string) {
  if (!isRecord(value)) throw new ShapeError(`${what} is not an object`);
  if (typeof value.id !== "string" || value.id === "") throw new ShapeError(`${what} has no string id`);
  if (value.status !== undefined && value.status !== null && typeof value.status !== "string") {
    throw new ShapeError(`${what} status is not a string`);
  }
  return {
    record: value,
    id: value.id,
    jobType: optionalString(value.job_type, `${what} job_type`) || jobType,
    status: normaliseStatus(value.status),
    beginTime: parseTimestamp(value.begin_time),
    endTime: parseTimestamp(value.end_time),
  };
}

/**
 * Validates one job of ListImageJobs (required: a non-empty string `id`; within OBJECT_BOUNDS). A
 * missing `job_type` is `jobType` (the listed type); a missing status is `UNKNOWN`; missing or
 * unparsable times are null; a missing `sub_jobs_total` is 0.
 */
export function parseImageJob(value: unknown, jobType = ""): ImageJob {
  checkBounds(value, "image job");
  const { record, ...fields } = jobFields(value, "image job", jobType);
  const total = record.sub_jobs_total;
  if (total !== undefined && total !== null && !isCount(total)) {
    throw new ShapeError("image job sub_jobs_total is not a non-negative integer");
  }
  return { ...fields, subJobsTotal: total ?? 0, raw: record };
}

/**
 * Validates one sub-job (required: a non-empty string `id`; within OBJECT_BOUNDS). `job_resource_info`
 * and `job_execute_info` may be missing, null or `{}` (their fields are then ""), but not of another
 * type; a missing `job_id` is `jobId` (the job it was shown with).
 */
export function parseImageSubJob(value: unknown, jobType = "", jobId = ""): ImageSubJob {
  checkBounds(value, "image sub-job");
  const { record, ...fields } = jobFields(value, "image sub-job", jobType);
  const resource = optionalRecord(record.job_resource_info, "sub-job job_resource_info");
  const execute = optionalRecord(record.job_execute_info, "sub-job job_execute_info");
  return {
    ...fields,
    resourceId: optionalString(resource.resource_id, "sub-job resource_id"),
    resourceName: optionalString(resource.resource_name, "sub-job resource_name"),
    errorCode: optionalString(execute.error_code, "sub-job error_code"),
    errorMessage: optionalString(execute.error_message, "sub-job error_message"),
    jobId: optionalString(record.job_id, "sub-job job_id") || jobId,
    raw: record,
  };
}

/** A job never has more sub-jobs than this in one ShowImageJob answer. */
const MAX_SUB_JOBS = 10_000;

/**
 * Validates a ShowImageJob body: a job (its fields other than `sub_jobs` within OBJECT_BOUNDS) and its
 * `sub_jobs` array (missing or null: none), each a valid sub-job. A missing `sub_jobs_total` is the
 * number of sub-jobs.
 */
export function parseImageJobDetail(value: unknown): ImageJobDetail {
  if (!isRecord(value)) throw new ShapeError("image job is not an object");
  const { sub_jobs: subJobs = [], ...summary } = value;
  const list = subJobs ?? [];
  if (!Array.isArray(list)) throw new ShapeError("image job sub_jobs is not an array");
  if (list.length > MAX_SUB_JOBS) throw new ShapeError(`image job has more than ${MAX_SUB_JOBS} sub-jobs`);
  const job = parseImageJob(summary);
  const parsed = list.map((s) => parseImageSubJob(s, job.jobType, job.id));
  const totalSent = summary.sub_jobs_total !== undefined && summary.sub_jobs_total !== null;
  return { ...job, subJobsTotal: totalSent ? job.subJobsTotal : parsed.length, raw: value, subJobs: parsed };
}

/** Validates a ListImageJobs body; a job without `job_type` is of the listed `jobType`. */
export function parseJobListPage(value: unknown, jobType = ""): ListPage<ImageJob> {
  return parsePage(value, (item) => parseImageJob(item, jobType));
}

/** Validates a ListImageSubJobs body; a sub-job without `job_type` is of the listed `jobType`. */
export function parseSubJobListPage(value: unknown, jobType = ""): ListPage<ImageSubJob> {
  return parsePage(value, (item) => parseImageSubJob(item, jobType));
}
