/** The memo of list pages: recalled only for the same digest at the same offset, kept only when complete. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { digestOf, ListingMemo } from "../../src/cloud/page-memo.js";

describe("ListingMemo", () => {
  it("recalls a page's value only for the same digest at the same offset", () => {
    const memo = new ListingMemo<string, string>();
    const first = memo.begin("q");
    first.page(0).remember("d0", "page 0");
    first.page(100).remember("d1", "page 1");
    first.complete("result");
    const second = memo.begin("q");
    assert.equal(second.page(0).recall("d0"), "page 0");
    assert.equal(second.page(0).recall("other"), undefined, "a changed body");
    assert.equal(second.page(100).recall("d0"), undefined, "another offset's digest");
    assert.equal(memo.begin("other query").page(0).recall("d0"), undefined, "another query");
  });

  it("a listing that never completes leaves the last complete one in place", () => {
    const memo = new ListingMemo<string, string>();
    const first = memo.begin("q");
    first.page(0).remember("d0", "page 0");
    first.complete("result");
    const failed = memo.begin("q");
    failed.page(0).remember("changed", "page 0, changed");
    // no complete(): the listing failed on a later page
    assert.equal(memo.begin("q").page(0).recall("d0"), "page 0");
  });

  it("a completed listing keeps only the pages it read (recalled or parsed)", () => {
    const memo = new ListingMemo<string, string>();
    const first = memo.begin("q");
    first.page(0).remember("d0", "page 0");
    first.page(100).remember("d1", "page 1");
    first.complete("result");
    const shorter = memo.begin("q");
    assert.equal(shorter.page(0).recall("d0"), "page 0");
    shorter.complete("result");
    const third = memo.begin("q");
    assert.equal(third.page(0).recall("d0"), "page 0", "recalled pages are carried over");
    assert.equal(third.page(100).recall("d1"), undefined, "a page the last listing did not read is gone");
  });

  it("gives the last result back only when the same pages all came back unchanged", () => {
    const memo = new ListingMemo<string, string>();
    const first = memo.begin("q");
    first.page(0).remember("d0", "page 0");
    first.page(100).remember("d1", "page 1");
    assert.equal(first.unchanged(), undefined, "nothing to compare with");
    first.complete("both pages");
    const same = memo.begin("q");
    same.page(0).recall("d0");
    assert.equal(same.unchanged(), undefined, "page 1 not read yet");
    same.page(100).recall("d1");
    assert.equal(same.unchanged(), "both pages");
    same.complete("both pages");
    const changed = memo.begin("q");
    changed.page(0).recall("d0");
    changed.page(100).remember("d1 changed", "page 1, changed");
    assert.equal(changed.unchanged(), undefined, "a page was parsed");
  });

  it("forgets the oldest query beyond its bound", () => {
    const memo = new ListingMemo<string, string>(2);
    for (const q of ["a", "b", "c"]) {
      const round = memo.begin(q);
      round.page(0).remember("d", q);
      round.complete("result");
    }
    assert.equal(memo.size, 2);
    assert.equal(memo.begin("a").page(0).recall("d"), undefined);
    assert.equal(memo.begin("c").page(0).recall("d"), "c");
  });

  it("digests bodies by their bytes, however they were chunked", () => {
    const whole = digestOf([Buffer.from('{"count":1}')]);
    assert.equal(digestOf([Buffer.from('{"cou'), Buffer.from('nt":1}')]), whole);
    assert.notEqual(digestOf([Buffer.from('{"count":2}')]), whole);
  });
});

describe("ListingMemo snapshots (warm start)", () => {
  it("a snapshot seeds another memo: the same digests recall the revived values", () => {
    const memo = new ListingMemo<string, string>();
    const round = memo.begin("q");
    round.page(0).remember("d0", "page 0");
    round.page(100).remember("d1", "page 1");
    round.complete("result");
    const snap = memo.snapshot((key, value) => `${key}:${value}`);
    assert.deepEqual(snap, [
      {
        key: "q",
        pages: [
          { offset: 0, digest: "d0", page: "q:page 0" },
          { offset: 100, digest: "d1", page: "q:page 1" },
        ],
      },
    ]);
    const next = new ListingMemo<string, string>();
    next.seed(snap, (_key, page) => `revived ${page}`);
    const first = next.begin("q");
    assert.equal(first.page(0).recall("d0"), "revived q:page 0");
    assert.equal(first.page(100).recall("changed"), undefined, "a changed body is parsed");
    // A seeded listing has no result of its own: even all-recalled, the listing is merged afresh.
    const again = next.begin("q");
    again.page(0).recall("d0");
    again.page(100).recall("d1");
    assert.equal(again.unchanged(), undefined);
  });

  it("leaves out the pages describe or revive refuses, and listings left empty", () => {
    const memo = new ListingMemo<string, string>();
    for (const key of ["a", "b"]) {
      const round = memo.begin(key);
      round.page(0).remember("d0", "keep");
      round.page(100).remember("d1", key === "a" ? "drop" : "keep");
      round.complete("r");
    }
    const snap = memo.snapshot((_key, value) => (value === "drop" ? undefined : value));
    assert.deepEqual(
      snap.map((l) => [l.key, l.pages.map((p) => p.offset)]),
      [
        ["a", [0]],
        ["b", [0, 100]],
      ],
    );
    const next = new ListingMemo<string, string>();
    next.seed(snap, (key, page) => (key === "b" ? undefined : page));
    assert.equal(next.size, 1, "b revived no page");
    assert.equal(next.begin("a").page(0).recall("d0"), "keep");
  });

  it("seeding never replaces a listing this memo already remembers", () => {
    const memo = new ListingMemo<string, string>();
    const round = memo.begin("q");
    round.page(0).remember("d0", "live");
    round.complete("r");
    memo.seed([{ key: "q", pages: [{ offset: 0, digest: "d0", page: "old" }] }], (_k, p) => p);
    assert.equal(memo.begin("q").page(0).recall("d0"), "live");
  });
});
