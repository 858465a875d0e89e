import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fnv1a64, jumpHash, ownsServer, shardOf } from "../../src/domain/sharding.js";

const IDS = Array.from(
  { length: 10_000 },
  (_, i) => `4b1a2c3d-${i.toString(16).padStart(4, "0")}-1111-2222-3333${i}`,
);

describe("fnv1a64", () => {
  const vectors: Array<[string, bigint]> = [
    ["", 0xcbf29ce484222325n],
    ["a", 0xaf63dc4c8601ec8cn],
    ["foobar", 0x85944171f73967e8n],
  ];
  for (const [input, expected] of vectors) {
    it(`hashes ${JSON.stringify(input)} to 0x${expected.toString(16)}`, () => {
      assert.equal(fnv1a64(input), expected);
    });
  }

  it("hashes UTF-8 bytes, not UTF-16 code units", () => {
    // "é" is one UTF-16 unit but two UTF-8 bytes (0xc3 0xa9): hash them by hand.
    let h = 0xcbf29ce484222325n;
    for (const byte of [0xc3, 0xa9]) h = BigInt.asUintN(64, (h ^ BigInt(byte)) * 0x100000001b3n);
    assert.equal(fnv1a64("é"), h);
  });

  it("stays within 64 bits", () => {
    for (const id of IDS.slice(0, 200)) {
      const h = fnv1a64(id);
      assert.ok(h >= 0n && h < 1n << 64n);
    }
  });
});

describe("jumpHash", () => {
  // Go reference tests (github.com/dgryski/go-jump jump_test.go, generated from the paper's C++ code):
  // the expected bucket for buckets = 1, 2, 3, …
  const vectors: Array<[bigint, number[]]> = [
    [0n, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    [1n, [0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17]],
    [0xdeadbeefn, [0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16]],
    [0x0ddc0ffeebadf00dn, [0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15]],
  ];
  for (const [key, expected] of vectors) {
    it(`matches the reference for key 0x${key.toString(16)}`, () => {
      assert.deepEqual(
        expected.map((_, i) => jumpHash(key, i + 1)),
        expected,
      );
    });
  }

  it("puts key 0 in bucket 0 for any bucket count", () => {
    for (const n of [1, 2, 7, 100, 1000, 65_536]) assert.equal(jumpHash(0n, n), 0);
  });

  it("returns a bucket in range, and 0 for one bucket", () => {
    for (const id of IDS.slice(0, 500)) {
      const key = fnv1a64(id);
      assert.equal(jumpHash(key, 1), 0);
      const b = jumpHash(key, 37);
      assert.ok(Number.isInteger(b) && b >= 0 && b < 37);
    }
  });

  it("only ever moves a key to the newest bucket as buckets grow", () => {
    for (const id of IDS.slice(0, 300)) {
      const key = fnv1a64(id);
      let prev = jumpHash(key, 1);
      for (let n = 2; n <= 64; n++) {
        const b = jumpHash(key, n);
        assert.ok(b === prev || b === n - 1, `key ${id}: ${prev} → ${b} at ${n} buckets`);
        prev = b;
      }
    }
  });
});

describe("shardOf / ownsServer", () => {
  it("always owns everything with one shard", () => {
    for (const id of IDS.slice(0, 100)) assert.equal(ownsServer(id, { count: 1, index: 0 }), true);
    assert.equal(shardOf("anything", 1), 0);
  });

  it("is jumpHash of the FNV-1a 64 of the id (the kube-state-metrics scheme)", () => {
    assert.equal(
      shardOf("4b1a2c3d-0000-1111-2222-333344445555", 3),
      jumpHash(fnv1a64("4b1a2c3d-0000-1111-2222-333344445555"), 3),
    );
  });

  for (const n of [2, 3, 5, 8]) {
    it(`${n} shards partition 10,000 ids with no gap or overlap, balanced within ±15%`, () => {
      const counts = new Array<number>(n).fill(0);
      for (const id of IDS) {
        const owners = Array.from({ length: n }, (_, index) => index).filter((index) =>
          ownsServer(id, { count: n, index }),
        );
        assert.equal(owners.length, 1, `${id} owned by ${owners.length} shards`);
        counts[owners[0]!]! += 1;
      }
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        IDS.length,
      );
      const fair = IDS.length / n;
      for (const c of counts) assert.ok(Math.abs(c - fair) <= fair * 0.15, `counts ${counts.join(",")}`);
    });
  }

  for (const n of [1, 2, 4, 7]) {
    it(`going from ${n} to ${n + 1} shards moves about 1/${n + 1} of ids, all to the new shard`, () => {
      let moved = 0;
      for (const id of IDS) {
        const before = shardOf(id, n);
        const after = shardOf(id, n + 1);
        if (before !== after) {
          moved += 1;
          assert.equal(after, n, `${id} moved ${before} → ${after}, not to the new shard`);
        }
      }
      const expected = IDS.length / (n + 1);
      assert.ok(Math.abs(moved - expected) <= expected * 0.15, `moved ${moved}, expected ≈${expected}`);
    });
  }
});
