/**
 * Warm listings: only pages whose every server is the held object are exported, and a seeded page
 * gives back the held objects of its ids, or nothing.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ListingMemo } from "../../src/cloud/page-memo.js";
import type { ListPage } from "../../src/cloud/parse.js";
import { exportWarmListings, seedWarmListings } from "../../src/cloud/warm-listings.js";
import type { ImageServer } from "../../src/domain/types.js";

const P = "proj";
const KEY = JSON.stringify([P, { limit: "100" }]);

function server(id: string): ImageServer {
  return {
    id,
    name: `name-${id}`,
    status: "ACTIVE",
    updateTime: null,
    createTime: null,
    imageId: "",
    raw: { id },
  } as unknown as ImageServer;
}

function memoWith(
  pages: Array<[number, string, ImageServer[]]>,
): ListingMemo<ListPage, readonly ImageServer[]> {
  const memo = new ListingMemo<ListPage, readonly ImageServer[]>();
  const round = memo.begin(KEY);
  for (const [offset, digest, items] of pages) round.page(offset).remember(digest, { count: 3, items });
  round.complete(pages.flatMap(([, , items]) => items));
  return memo;
}

describe("warm listings", () => {
  it("exports a page only when each of its servers is the held object, and seeds it back from held ones", () => {
    const [a, b, c] = [server("a"), server("b"), server("c")];
    const memo = memoWith([
      [0, "d0", [a, b]],
      [2, "d1", [c]],
    ]);
    // c's held state was since replaced by another answer (a copy): its page must not travel.
    const held = new Map<string, ImageServer>([
      ["a", a],
      ["b", b],
      ["c", { ...c }],
    ]);
    const warm = exportWarmListings(memo, (project, id) => (project === P ? held.get(id) : undefined));
    assert.deepEqual(JSON.parse(JSON.stringify(warm)), {
      v: 1,
      listings: [{ key: KEY, pages: [{ offset: 0, digest: "d0", page: { count: 3, ids: ["a", "b"] } }] }],
    });

    // The next process holds equal objects (loaded from the store): the page gives those.
    const loaded = new Map([
      ["a", server("a")],
      ["b", server("b")],
    ]);
    const next = new ListingMemo<ListPage, readonly ImageServer[]>();
    seedWarmListings(next, JSON.parse(JSON.stringify(warm)), (project, id) =>
      project === P ? loaded.get(id) : undefined,
    );
    const page = next.begin(KEY).page(0).recall("d0");
    assert.equal(page?.count, 3);
    assert.equal(page?.items[0], loaded.get("a"));
    assert.equal(page?.items[1], loaded.get("b"));
  });

  it("a page naming a server no longer held is not seeded", () => {
    const [a, b] = [server("a"), server("b")];
    const warm = exportWarmListings(memoWith([[0, "d0", [a, b]]]), (_p, id) => (id === "a" ? a : b));
    const next = new ListingMemo<ListPage, readonly ImageServer[]>();
    seedWarmListings(next, warm, (_p, id) => (id === "a" ? a : undefined));
    assert.equal(next.size, 0);
  });

  it("ignores what it did not write: another version, wrong shapes, garbage", () => {
    const a = server("a");
    const good = { offset: 0, digest: "d0", page: { count: 1, ids: ["a"] } };
    const values: unknown[] = [
      null,
      "text",
      { v: 2, listings: [{ key: KEY, pages: [good] }] },
      { v: 1, listings: "no" },
      { v: 1, listings: [{ key: 7, pages: [good] }] },
      { v: 1, listings: [{ key: KEY, pages: [{ ...good, offset: "0" }] }] },
      { v: 1, listings: [{ key: KEY, pages: [{ ...good, page: { count: -1, ids: ["a"] } }] }] },
      { v: 1, listings: [{ key: KEY, pages: [{ ...good, page: { count: 1, ids: [1] } }] }] },
      { v: 1, listings: [{ key: "not json", pages: [good] }] },
    ];
    for (const value of values) {
      const memo = new ListingMemo<ListPage, readonly ImageServer[]>();
      seedWarmListings(memo, value, () => a);
      assert.equal(memo.size, 0, JSON.stringify(value));
    }
    const memo = new ListingMemo<ListPage, readonly ImageServer[]>();
    seedWarmListings(memo, { v: 1, listings: [{ key: KEY, pages: [good] }] }, () => a);
    assert.equal(memo.begin(KEY).page(0).recall("d0")?.items[0], a, "the well-formed one is seeded");
  });
});
