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
