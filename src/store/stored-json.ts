/**
 * JSON for the store's text columns that cannot throw: one unserialisable value (nested too deep for
 * `JSON.stringify`'s stack, a bigint, a cycle, a throwing `toJSON`) must not abort a poll's transaction.
 * Such a value is stored as {@link UNSERIALISABLE} with a reason, in the smallest field that holds it.
 */

/** Deeper than this, an object or array is stored as a placeholder (well inside JSON.stringify's stack). */
export const MAX_STORED_DEPTH = 200;

/** How many levels of fields a failed `JSON.stringify` is retried field by field before giving up. */
const FALLBACK_LEVELS = 4;

/** The marker key of a placeholder: `{"_imagewatch":"unserialisable","reason":"…"}`. */
export const UNSERIALISABLE = "unserialisable";

/** The text of a column and why any part of it was replaced (empty when stored as given). */
export interface StoredJson {
  json: string;
  /** One constant reason per replaced value; never the value itself. */
  replaced: string[];
}

function placeholder(reason: string, replaced: string[]): { _imagewatch: string; reason: string } {
  replaced.push(reason);
  return { _imagewatch: UNSERIALISABLE, reason };
}

/** Serialises `value` for the store; never throws (see the module comment). */
export function toStoredJson(value: unknown): StoredJson {
  const replaced: string[] = [];
  // Plain data (every row a poll writes) needs no replacer: the native stringify gives the same text
  // without calling back into JS for every key.
  if (isPlainData(value, 1)) return { json: JSON.stringify(value) ?? "null", replaced };
  return { json: stringifyBounded(value, replaced, 0) ?? "null", replaced };
}

/**
 * True when the replacer of `stringifyBounded` would return every value of `value` unchanged: no bigint,
 * no object nested deeper than MAX_STORED_DEPTH (`depth` is the level of `value`, the root's is 1), and
 * only plain objects and arrays without a `toJSON` (whose result the replacer would see instead). A cycle
 * ends in the depth limit. False sends the value the slow, careful way.
 */
function isPlainData(value: unknown, depth: number): boolean {
  if (typeof value !== "object" || value === null) return typeof value !== "bigint";
  if (depth > MAX_STORED_DEPTH) return false;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    for (let i = 0; i < value.length; i++) if (!isPlainData(value[i], depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  if ("toJSON" in value) return false;
  for (const k in value) {
    if (!Object.hasOwn(value, k)) return false;
    if (!isPlainData((value as Record<string, unknown>)[k], depth + 1)) return false;
  }
  return true;
}

function stringifyBounded(value: unknown, replaced: string[], level: number): string | undefined {
  const depths = new WeakMap<object, number>();
  const replacer = function (this: unknown, _key: string, v: unknown): unknown {
    if (typeof v === "bigint") return placeholder("a bigint", replaced);
    if (typeof v === "object" && v !== null) {
      // The holder's depth + 1; the root's holder is JSON.stringify's own wrapper, at depth 0.
      const depth = (depths.get(this as object) ?? 0) + 1;
      if (depth > MAX_STORED_DEPTH)
        return placeholder(`nested deeper than ${MAX_STORED_DEPTH} levels`, replaced);
      depths.set(v, depth);
    }
    return v;
  };
  const mark = replaced.length;
  try {
    return JSON.stringify(value, replacer);
  } catch (err) {
    replaced.length = mark; // reasons of a partial attempt do not count
    const reason = err instanceof RangeError ? "too large to serialise" : "cannot be serialised";
    if (level >= FALLBACK_LEVELS || typeof value !== "object" || value === null) {
      return JSON.stringify(placeholder(reason, replaced));
    }
    // Retry field by field, so only the field that fails is replaced.
    try {
      const parts: string[] = [];
      if (Array.isArray(value)) {
        for (const item of value) parts.push(stringifyBounded(item, replaced, level + 1) ?? "null");
        return `[${parts.join(",")}]`;
      }
      for (const [k, v] of Object.entries(value)) {
        const json = stringifyBounded(v, replaced, level + 1);
        if (json !== undefined) parts.push(`${JSON.stringify(k)}:${json}`);
      }
      return `{${parts.join(",")}}`;
    } catch {
      replaced.length = mark;
      return JSON.stringify(placeholder(reason, replaced));
    }
  }
}
