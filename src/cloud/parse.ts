/**
 * Validation of Workspace API bodies (API.md §1–2), as pure functions: a body either becomes typed data
 * or a reason why it cannot. The API object is kept as it came in `ImageServer.raw`.
 */

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

/** The bounds of one image-server object as accepted (it is stored and serialised whole, as `raw`). */
const SERVER_BOUNDS = {
  /** Nesting levels below the server object itself. */
  depth: 32,
  /** Values (objects, arrays, scalars) in all. */
  values: 10_000,
  /** Characters of every key and string value together. */
  chars: 1024 * 1024,
} as const;

/**
 * Throws ShapeError when `root` nests deeper, or holds more values or text, than SERVER_BOUNDS allows.
 * Iterative, so no input can exhaust the stack here (it would later, in JSON.stringify).
 */
function checkBounds(root: unknown): void {
  const stack: [unknown, number][] = [[root, 0]];
  let values = 1;
  let chars = 0;
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [value, depth] = item;
    if (typeof value === "string") chars += value.length;
    if (typeof value === "object" && value !== null) {
      if (depth >= SERVER_BOUNDS.depth) {
        throw new ShapeError(`image server nested deeper than ${SERVER_BOUNDS.depth} levels`);
      }
      const keys = Object.keys(value);
      values += keys.length;
      if (values > SERVER_BOUNDS.values) {
        throw new ShapeError(`image server has more than ${SERVER_BOUNDS.values} values`);
      }
      const isArray = Array.isArray(value);
      for (const key of keys) {
        if (!isArray) chars += key.length;
        stack.push([(value as Record<string, unknown>)[key], depth + 1]);
      }
    }
    if (chars > SERVER_BOUNDS.chars) {
      throw new ShapeError(`image server holds more than ${SERVER_BOUNDS.chars} characters`);
    }
  }
}

/**
 * Validates one image-server object (required: a non-empty string `id`; within SERVER_BOUNDS) and maps
 * it to `ImageServer`.
 */
export function parseImageServer(value: unknown): ImageServer {
  if (!isRecord(value)) throw new ShapeError("image server is not an object");
  checkBounds(value);
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

/** One page of the list call. `count` is the API's total, undefined when it sent none. */
export interface ListPage {
  count: number | undefined;
  items: ImageServer[];
}

/** Validates a list body `{count, items: [...]}`; every item must be a valid image server. */
export function parseListPage(value: unknown): ListPage {
  if (!isRecord(value)) throw new ShapeError("list body is not an object");
  if (!Array.isArray(value.items)) throw new ShapeError("list body has no items array");
  let count: number | undefined;
  if (value.count !== undefined && value.count !== null) {
    if (typeof value.count !== "number" || !Number.isInteger(value.count) || value.count < 0) {
      throw new ShapeError("list count is not a non-negative integer");
    }
    count = value.count;
  }
  return { count, items: value.items.map((item) => parseImageServer(item)) };
}
