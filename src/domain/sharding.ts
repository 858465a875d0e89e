/**
 * Which replica owns which server (DESIGN §8): Jump consistent hash of FNV-1a 64 of `server_id`, the
 * scheme kube-state-metrics uses (`jump.Hash(fnv64a(uid), totalShards)` with github.com/dgryski/go-jump).
 * All 64-bit arithmetic is exact (BigInt), so a server lands on the same shard as it would in Go.
 */

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;
const JUMP_MULTIPLIER = 2862933555777941757n;
const TWO_POW_31 = 2147483648;

const utf8 = new TextEncoder();

/** FNV-1a 64-bit hash of the UTF-8 bytes of `s`, as an unsigned 64-bit BigInt (Go's `fnv.New64a`). */
export function fnv1a64(s: string): bigint {
  let h = FNV64_OFFSET;
  for (const byte of utf8.encode(s)) {
    h ^= BigInt(byte);
    h = (h * FNV64_PRIME) & MASK64;
  }
  return h;
}

/**
 * Lamping & Veach's jump consistent hash: the bucket in `[0, buckets)` for a 64-bit `key`. Matches Go's
 * `jump.Hash` bit for bit: the LCG step is exact mod 2^64, and the division is done in float64 exactly as
 * Go does it. `buckets` must be an integer ≥ 1 (anything smaller gives 0, like a single bucket).
 */
export function jumpHash(key: bigint, buckets: number): number {
  let k = BigInt.asUintN(64, key);
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    k = (k * JUMP_MULTIPLIER + 1n) & MASK64;
    // Same float64 operations, in the same order, as Go: float64(b+1) * (2^31 / float64((key>>33)+1)).
    j = Math.floor((b + 1) * (TWO_POW_31 / (Number(k >> 33n) + 1)));
  }
  return Math.max(b, 0);
}

/** The shard (0-based) of `serverId` among `count` shards. */
export function shardOf(serverId: string, count: number): number {
  if (count <= 1) return 0;
  return jumpHash(fnv1a64(serverId), count);
}

/** A replica's place in the shard set (the resolved `sharding` config). */
export interface ShardAssignment {
  /** Number of shards, ≥ 1. */
  count: number;
  /** This replica's shard, `0 ≤ index < count`. */
  index: number;
}

/**
 * Shards already computed, per shard count. The hash (BigInt FNV + jump) costs ~3–4 µs an id, paid on
 * every poll of every server otherwise; an id's shard only changes with the count. A pure memo.
 */
const shardMemo = new Map<number, Map<string, number>>();
const MEMO_LIMIT = 200_000;

/** True when the replica at `sharding.index` owns `serverId`. A single shard owns everything (no hashing). */
export function ownsServer(serverId: string, sharding: ShardAssignment): boolean {
  if (sharding.count <= 1) return true;
  let memo = shardMemo.get(sharding.count);
  if (!memo) {
    shardMemo.clear();
    memo = new Map();
    shardMemo.set(sharding.count, memo);
  }
  let shard = memo.get(serverId);
  if (shard === undefined) {
    shard = shardOf(serverId, sharding.count);
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(serverId, shard);
  }
  return shard === sharding.index;
}
