import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_STORED_DEPTH, toStoredJson, UNSERIALISABLE } from "../../src/store/stored-json.js";

/** `levels` nested objects `{a: {a: … {}}}`, the outermost at level 1. */
function nested(levels: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let node = root;
  for (let i = 1; i < levels; i++) {
    const child: Record<string, unknown> = {};
    node.a = child;
    node = child;
  }
  return root;
}

/** How many levels of `a` the stored text keeps, and what the innermost holds. */
function levelsOf(json: string): { levels: number; innermost: unknown } {
  let node = JSON.parse(json) as Record<string, unknown>;
  let levels = 1;
  while (typeof node.a === "object" && node.a !== null && !("_imagewatch" in node.a)) {
    node = node.a as Record<string, unknown>;
    levels++;
  }
  return { levels, innermost: node.a };
}

describe("toStoredJson", () => {
  it("stores plain data exactly as JSON.stringify does", () => {
    const shared = { zone: "cn-north-4a", tags: [1, "x", null, true] };
    const values: unknown[] = [
      { a: 1, b: "two", c: [1, 2, { d: null }], e: { f: false }, g: undefined, h: Number.NaN, s: shared },
      [shared, shared, undefined, () => 1],
      "text",
      42,
      null,
      Object.assign(Object.create(null) as object, { k: "v" }),
    ];
    for (const v of values) assert.deepEqual(toStoredJson(v), { json: JSON.stringify(v), replaced: [] });
    assert.deepEqual(toStoredJson(undefined), { json: "null", replaced: [] });
  });

  it("keeps objects nested MAX_STORED_DEPTH levels deep and replaces the level below", () => {
    const kept = toStoredJson(nested(MAX_STORED_DEPTH));
    assert.deepEqual(kept.replaced, []);
    assert.equal(kept.json, JSON.stringify(nested(MAX_STORED_DEPTH)));

    const cut = toStoredJson(nested(MAX_STORED_DEPTH + 1));
    assert.deepEqual(cut.replaced, [`nested deeper than ${MAX_STORED_DEPTH} levels`]);
    assert.deepEqual(levelsOf(cut.json), {
      levels: MAX_STORED_DEPTH,
      innermost: { _imagewatch: UNSERIALISABLE, reason: `nested deeper than ${MAX_STORED_DEPTH} levels` },
    });
  });

  it("replaces a bigint and a cycle, and stores what toJSON and class instances give", () => {
    assert.deepEqual(JSON.parse(toStoredJson({ n: 1n, m: 2 }).json), {
      n: { _imagewatch: UNSERIALISABLE, reason: "a bigint" },
      m: 2,
    });
    const cyclic: Record<string, unknown> = { x: 1 };
    cyclic.self = cyclic;
    const stored = toStoredJson(cyclic);
    assert.ok(stored.replaced.length > 0);
    assert.equal(JSON.parse(stored.json).x, 1);

    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const withToJson = { at: new Date(0), p: new Point(1, 2), own: { toJSON: () => "own" } };
    assert.deepEqual(toStoredJson(withToJson), { json: JSON.stringify(withToJson), replaced: [] });
  });
});
