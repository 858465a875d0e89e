import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LIST_CONCURRENCY, LIST_LIMIT, listAllPages } from "../../src/cloud/client.js";
import { CloudError } from "../../src/cloud/errors.js";
import { type ListPage, parseImageServer } from "../../src/cloud/parse.js";
import { createRateLimiter } from "../../src/cloud/rate-limiter.js";
import { cloudRetryDelay } from "../../src/cloud/retry-policy.js";
import { parseRetryAfter } from "../../src/lib/retry-after.js";

describe("cloudRetryDelay", () => {
  const retry = { attempts: 6, minDelay: 100, maxDelay: 1000 };
  it("doubles from minDelay with no jitter at random() = 0", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => cloudRetryDelay(n, retry, () => 0)),
      [100, 200, 400, 800, 1000],
    );
  });
  it("adds up to 100 % jitter and stays within [minDelay, maxDelay]", () => {
    assert.equal(
      cloudRetryDelay(1, retry, () => 0.5),
      150,
    );
    assert.equal(
      cloudRetryDelay(3, retry, () => 0.99),
      796,
    );
    for (let n = 1; n < 40; n++) {
      for (const r of [0, 0.3, 0.999999, 1, -1]) {
        const d = cloudRetryDelay(n, retry, () => r);
        assert.ok(d >= 100 && d <= 1000, `${n} ${r} → ${d}`);
      }
    }
  });
});

describe("parseRetryAfter", () => {
  const now = Date.UTC(2026, 10, 27, 10, 0, 0);
  it("reads delta-seconds", () => {
    assert.equal(parseRetryAfter("3", now), 3000);
    assert.equal(parseRetryAfter(["0.5"], now), 500);
  });
  it("reads an HTTP date relative to now, never negative", () => {
    assert.equal(parseRetryAfter(new Date(now + 7000).toUTCString(), now), 7000);
    assert.equal(parseRetryAfter(new Date(now - 7000).toUTCString(), now), 0);
  });
  it("ignores absent or unreadable values", () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter("", now), undefined);
    assert.equal(parseRetryAfter("soon", now), undefined);
  });
});

/** A limiter on fake time: sleeping advances the time, so every wait is exact and instant. */
function fakeLimiter(ratePerSecond: number, cooldownMs = 10_000) {
  let t = 1_000;
  const waits: number[] = [];
  const limiter = createRateLimiter({
    ratePerSecond,
    cooldownMs,
    now: () => t,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  return {
    limiter,
    waits,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe("createRateLimiter", () => {
  it("lets a burst of one second's worth through, then spaces requests at the rate", async () => {
    const { limiter } = fakeLimiter(5);
    const waited: number[] = [];
    for (let i = 0; i < 8; i++) waited.push(await limiter.acquire());
    assert.deepEqual(waited, [0, 0, 0, 0, 0, 200, 400, 600]);
  });

  it("refills the bucket over idle time", async () => {
    const { limiter, advance } = fakeLimiter(2);
    await limiter.acquire();
    await limiter.acquire();
    assert.equal(await limiter.acquire(), 500);
    advance(5_000);
    assert.deepEqual([await limiter.acquire(), await limiter.acquire()], [0, 0]);
  });

  it("a 429 pauses every request, then halves the rate without bursts until the cooldown ends", async () => {
    const { limiter, advance } = fakeLimiter(10, 2_000);
    assert.equal(await limiter.acquire(), 0);
    limiter.throttled(300);
    assert.equal(limiter.currentRate(), 5);
    // Every caller now waits for the pause, then one per 200 ms (half of 10/s), no burst.
    const waits = [await limiter.acquire(), await limiter.acquire(), await limiter.acquire()];
    assert.deepEqual(waits, [300, 500, 700]);
    limiter.throttled(0);
    assert.equal(limiter.currentRate(), 2.5, "a second 429 halves again");
    advance(10_000);
    assert.equal(limiter.currentRate(), 10, "full rate after the cooldown");
    assert.equal(await limiter.acquire(), 0);
  });

  it("never cuts the rate below 1/16", () => {
    const { limiter } = fakeLimiter(16);
    for (let i = 0; i < 10; i++) limiter.throttled(0);
    assert.equal(limiter.currentRate(), 1);
  });

  it("rejects at once with an aborted signal", async () => {
    const { limiter } = fakeLimiter(1);
    await assert.rejects(limiter.acquire(AbortSignal.abort(new Error("stop"))), /stop/);
  });
});

/** Builds list pages from scripted answers; records the offsets asked for. */
function pager(pages: { count?: number; ids: string[] }[]) {
  const offsets: number[] = [];
  let i = 0;
  const fetchPage = async (offset: number) => {
    offsets.push(offset);
    const p = pages[Math.min(i++, pages.length - 1)]!;
    return { count: p.count, items: p.ids.map((id) => parseImageServer({ id })) };
  };
  return { fetchPage, offsets };
}

const ids = (prefix: string, from: number, n: number) =>
  Array.from({ length: n }, (_, k) => `${prefix}${String(from + k).padStart(4, "0")}`);

describe("listAllPages", () => {
  it("asks for no further page once one failed, and fails only when those in flight have settled", async () => {
    // 1,000 servers in pages of 100: 0 and 100 one after the other, then 200…900 LIST_CONCURRENCY at a
    // time, those answered by hand.
    const page = (offset: number): ListPage => ({
      count: 1000,
      items: ids(`p${offset}-`, 0, 100).map((id) => parseImageServer({ id })),
    });
    const asked: number[] = [];
    const held = new Map<number, { resolve: (p: ListPage) => void; reject: (e: Error) => void }>();
    const listing = listAllPages((offset) => {
      asked.push(offset);
      if (offset < 200) return Promise.resolve(page(offset));
      return new Promise<ListPage>((resolve, reject) => held.set(offset, { resolve, reject }));
    });
    let settled = false;
    listing.then(
      () => (settled = true),
      () => (settled = true),
    );
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
    };
    while (held.size < LIST_CONCURRENCY) await turns(1);
    const batch = [0, 100, 200, 300, 400, 500];
    assert.deepEqual(asked, batch);
    held.get(300)?.reject(new Error("page 300 failed"));
    await turns(5);
    assert.equal(settled, false, "the listing waits for the pages still in flight");
    for (const o of [200, 400, 500]) held.get(o)?.resolve(page(o));
    await assert.rejects(listing, /page 300 failed/);
    assert.deepEqual(asked, batch, "no page is asked for after a failure");
  });

  it("reads 250 servers in exactly 3 pages and sorts them by id", async () => {
    const all = ids("s", 0, 250).reverse();
    const { fetchPage, offsets } = pager([
      { count: 250, ids: all.slice(0, 100) },
      { count: 250, ids: all.slice(100, 200) },
      { count: 250, ids: all.slice(200) },
    ]);
    const servers = await listAllPages(fetchPage);
    assert.deepEqual(offsets, [0, 100, 200]);
    assert.equal(servers.length, 250);
    assert.deepEqual(
      servers.map((s) => s.id),
      [...all].sort(),
    );
  });

  it("stops at the count even when the last page is full", async () => {
    const { fetchPage, offsets } = pager([
      { count: 200, ids: ids("a", 0, 100) },
      { count: 200, ids: ids("a", 100, 100) },
    ]);
    assert.equal((await listAllPages(fetchPage)).length, 200);
    assert.deepEqual(offsets, [0, 100]);
  });

  it("deduplicates a page repeating ids (items shifted forward by an insert)", async () => {
    const { fetchPage } = pager([
      { count: 150, ids: ids("a", 0, 100) },
      { count: 150, ids: [...ids("a", 95, 5), ...ids("a", 100, 45)] },
    ]);
    const servers = await listAllPages(fetchPage);
    assert.equal(servers.length, 145);
    assert.equal(new Set(servers.map((s) => s.id)).size, 145);
  });

  it("restarts once when the count changes, so a server shifted back past the offset is not lost", async () => {
    // First pass: 150 servers a0000..a0149. Then a0000 is deleted: a0100 shifts onto page 1 and would
    // be skipped by offset 100. The restart re-reads page 1 and finds it.
    const after = ids("a", 1, 149);
    const restarts: unknown[] = [];
    const { fetchPage, offsets } = pager([
      { count: 150, ids: ids("a", 0, 100) },
      { count: 149, ids: after.slice(100) },
      { count: 149, ids: after.slice(0, 100) },
      { count: 149, ids: after.slice(100) },
    ]);
    const servers = await listAllPages(fetchPage, (info) => restarts.push(info));
    assert.deepEqual(offsets, [0, 100, 0, 100]);
    assert.deepEqual(restarts, [{ previousCount: 150, count: 149 }]);
    const got = new Set(servers.map((s) => s.id));
    for (const id of after) assert.ok(got.has(id), `${id} lost`);
    // The deleted server may still be returned (seen in the first pass): never lost, never doubled.
    assert.equal(servers.length, new Set(servers.map((s) => s.id)).size);
  });

  it("restarts only once, then continues even if the count keeps changing", async () => {
    const { fetchPage, offsets } = pager([
      { count: 300, ids: ids("a", 0, 100) },
      { count: 301, ids: ids("a", 100, 100) },
      { count: 302, ids: ids("a", 0, 100) },
      { count: 303, ids: ids("a", 100, 100) },
      { count: 303, ids: ids("a", 200, 100) },
      { count: 303, ids: ids("a", 300, 3) },
    ]);
    const servers = await listAllPages(fetchPage);
    assert.deepEqual(offsets, [0, 100, 0, 100, 200, 300]);
    assert.equal(servers.length, 303);
  });

  it("without a count, stops at the first short page", async () => {
    const { fetchPage, offsets } = pager([{ ids: ids("a", 0, 100) }, { ids: ids("a", 100, 7) }]);
    assert.equal((await listAllPages(fetchPage)).length, 107);
    assert.deepEqual(offsets, [0, 100]);
  });

  it("a short page while count says more remain: reads on from the items given", async () => {
    const { fetchPage, offsets } = pager([
      { count: 150, ids: ids("a", 0, 60) },
      { count: 150, ids: ids("a", 60, 90) },
    ]);
    assert.equal((await listAllPages(fetchPage)).length, 150);
    assert.deepEqual(offsets, [0, 60]);
  });

  it("an empty page while count says more remain fails: list ended at N of M", async () => {
    const { fetchPage, offsets } = pager([
      { count: 250, ids: ids("a", 0, 100) },
      { count: 250, ids: [] },
    ]);
    await assert.rejects(
      listAllPages(fetchPage),
      (e: unknown) =>
        e instanceof CloudError &&
        e.code === "CLOUD_INVALID_RESPONSE" &&
        /list ended at 100 of 250/.test(e.message),
    );
    assert.deepEqual(offsets, [0, 100]);
  });

  it("gives up with CLOUD_INVALID_RESPONSE on a list that never ends", async () => {
    let n = 0;
    const endless = async () => ({
      count: undefined,
      items: ids(`p${n++}-`, 0, LIST_LIMIT).map((id) => parseImageServer({ id })),
    });
    await assert.rejects(
      listAllPages(endless),
      (e: unknown) => e instanceof CloudError && e.code === "CLOUD_INVALID_RESPONSE",
    );
  });
});
