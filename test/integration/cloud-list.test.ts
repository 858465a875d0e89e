/**
 * The list call against the simulator over real HTTP: pagination by offset with limit=100, filters,
 * stable order, and a listing that stays complete when the project changes between pages.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { describe, it, type TestContext } from "node:test";
import { Agent } from "undici";
import {
  type CloudClient,
  createCloudClient,
  LIST_CONCURRENCY,
  listAllPages,
} from "../../src/cloud/client.js";
import { CloudError } from "../../src/cloud/errors.js";
import type { CloudConfig } from "../../src/config/types.js";
import type { RequestOutcome } from "../../src/domain/types.js";
import { systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";

const P = "0123456789abcdef0123456789abcdef";

const pad = (i: number) => String(i).padStart(4, "0");

async function setup(
  t: TestContext,
  servers: number,
  onRequest?: (outcome: RequestOutcome) => void,
): Promise<{ sim: Simulator; client: CloudClient }> {
  const sim = createSimulator();
  const { url } = await sim.start();
  const base = Date.parse("2026-11-27T00:00:00.000Z");
  for (let i = 0; i < servers; i++) {
    // Created in reverse id order, so the API's order (by create_time) differs from id order.
    sim.addServer(P, {
      id: `srv-${pad(i)}`,
      name: i % 2 === 0 ? `build-${pad(i)}` : `other-${pad(i)}`,
      status: "ACTIVE",
      create_time: base - i * 1000,
      enterprise_project_id: i % 3 === 0 ? "ep-1" : "0",
    });
  }
  const dispatcher = new Agent();
  const config: CloudConfig = {
    region: "cn-north-4",
    endpoint: url,
    iamEndpoint: url,
    auth: {
      kind: "aksk",
      accessKey: "DEMOACCESSKEY0000001",
      secretKey: "demo-secret-key-0000000000000000000000000",
    },
    requestTimeout: 5_000,
    maxRequestsPerSecond: 1_000,
    retry: { attempts: 3, minDelay: 5, maxDelay: 20 },
  };
  const client = createCloudClient(config, {
    clock: systemClock,
    logger: createSilentLogger(),
    dispatcher,
    ...(onRequest ? { onRequest: (r: { outcome: RequestOutcome }) => onRequest(r.outcome) } : {}),
  });
  t.after(async () => {
    await client.close();
    await dispatcher.close();
    await sim.stop();
  });
  return { sim, client };
}

const offsets = (sim: Simulator) =>
  sim
    .requests()
    .filter((r) => r.route === "list")
    .map((r) => r.query.offset);

describe("listImageServers", () => {
  it("lists 250 servers in exactly 3 calls of limit=100, each once, sorted by id", async (t) => {
    const { sim, client } = await setup(t, 250);
    const servers = await client.listImageServers(P);
    assert.equal(servers.length, 250);
    assert.equal(sim.counts().byRoute.list, 3);
    assert.deepEqual(offsets(sim), ["0", "100", "200"]);
    assert.ok(sim.requests().every((r) => r.query.limit === "100"));
    const ids = servers.map((s) => s.id);
    assert.deepEqual(
      ids,
      Array.from({ length: 250 }, (_, i) => `srv-${pad(i)}`),
    );
  });

  it("returns the `held` object for a server whose answer is unchanged, parses a changed one", async (t) => {
    const { sim, client } = await setup(t, 150);
    const held = new Map((await client.listImageServers(P)).map((s) => [s.id, s]));
    sim.setStatus(P, "srv-0007", "BUILT");
    const asked: string[] = [];
    const again = await client.listImageServers(
      P,
      {},
      {
        held: (id) => {
          asked.push(id);
          return held.get(id);
        },
      },
    );
    // Only the page whose body changed is parsed (and asks for held objects); the other is recalled.
    assert.ok(asked.includes("srv-0007"));
    assert.ok(asked.length === 100 || asked.length === 50, `asked for ${asked.length}`);
    assert.equal(again.length, 150);
    for (const s of again) {
      if (s.id === "srv-0007") {
        assert.notEqual(s, held.get(s.id), "a fresh object for the changed server");
        assert.equal(s.status, "BUILT");
      } else assert.equal(s, held.get(s.id), `${s.id}: the held object`);
    }
  });

  it("a page whose body is byte-for-byte the same is not parsed again: the same objects come back", async (t) => {
    const { client } = await setup(t, 250);
    const first = await client.listImageServers(P);
    const second = await client.listImageServers(P);
    assert.equal(second.length, 250);
    for (const [i, s] of second.entries())
      assert.equal(s, first[i], `${s.id}: the object of the first listing`);
    // Each caller owns its array: changing one changes no later listing.
    second.reverse();
    first.length = 0;
    const third = await client.listImageServers(P);
    assert.deepEqual(
      third.map((s) => s.id),
      Array.from({ length: 250 }, (_, i) => `srv-${pad(i)}`),
    );
  });

  it("only the page whose body changed is parsed again; the others keep their objects", async (t) => {
    const { sim, client } = await setup(t, 250);
    const first = new Map((await client.listImageServers(P)).map((s) => [s.id, s]));
    const pageOf = new Map<string, number>();
    // The API's order (create_time): which page each id is on.
    for (const [i, item] of sim.listServers(P).entries()) pageOf.set(String(item.id), Math.floor(i / 100));
    sim.setStatus(P, "srv-0007", "BUILT");
    const changedPage = pageOf.get("srv-0007");
    const second = await client.listImageServers(P);
    let reparsed = 0;
    for (const s of second) {
      const before = first.get(s.id);
      if (s.id === "srv-0007") assert.equal(s.status, "BUILT");
      else assert.deepEqual(s, before, `${s.id}: the same server`);
      if (pageOf.get(s.id) === changedPage) {
        assert.notEqual(s, before, `${s.id}: on the changed page, parsed again`);
        reparsed++;
      } else assert.equal(s, before, `${s.id}: on an unchanged page, the same object`);
    }
    assert.ok(reparsed === 100 || reparsed === 50, `reparsed ${reparsed}`);
  });

  it("remembers pages per project and filter: a filtered listing is parsed on its own", async (t) => {
    const { client } = await setup(t, 120);
    const all = new Map((await client.listImageServers(P)).map((s) => [s.id, s]));
    const builds = await client.listImageServers(P, { serverName: "build-" });
    assert.equal(builds.length, 60);
    for (const s of builds) assert.notEqual(s, all.get(s.id), `${s.id}: parsed from its own page`);
    const again = await client.listImageServers(P, { serverName: "build-" });
    for (const [i, s] of again.entries()) assert.equal(s, builds[i]);
    const allAgain = await client.listImageServers(P);
    for (const s of allAgain) assert.equal(s, all.get(s.id), `${s.id}: the unfiltered listing kept`);
  });

  it("a full last page ends the listing at the count (200 servers: 2 calls)", async (t) => {
    const { sim, client } = await setup(t, 200);
    assert.equal((await client.listImageServers(P)).length, 200);
    assert.equal(sim.counts().byRoute.list, 2);
  });

  it("an empty project is one call and an empty list", async (t) => {
    const { sim, client } = await setup(t, 0);
    sim.addProject(P);
    assert.deepEqual(await client.listImageServers(P), []);
    assert.equal(sim.counts().byRoute.list, 1);
  });

  it("passes server_name and enterprise_project_id filters", async (t) => {
    const { sim, client } = await setup(t, 12);
    const servers = await client.listImageServers(P, { serverName: "build-", enterpriseProjectId: "ep-1" });
    // Even index (build-) and index divisible by 3 (ep-1): 0, 6.
    assert.deepEqual(
      servers.map((s) => s.id),
      ["srv-0000", "srv-0006"],
    );
    const q = sim.requests()[0]?.query;
    assert.equal(q?.server_name, "build-");
    assert.equal(q?.enterprise_project_id, "ep-1");
  });

  it("loses no server when one is deleted between pages (the listing restarts once)", async (t) => {
    let lists = 0;
    let sim!: Simulator;
    const { sim: s, client } = await setup(t, 150, (outcome) => {
      if (outcome !== "success") return;
      lists += 1;
      // Right after the first page: delete the first server in list order. Every later one shifts
      // back by one, so offset 100 would skip the server that moved to position 99.
      if (lists === 1) {
        const first = sim.listServers(P)[0];
        assert.ok(first);
        sim.removeServer(P, String(first.id));
      }
    });
    sim = s;
    const servers = await client.listImageServers(P);
    assert.deepEqual(offsets(sim), ["0", "100", "0", "100"]);
    const got = new Set(servers.map((x) => x.id));
    for (const present of sim.listServers(P)) assert.ok(got.has(String(present.id)), `${present.id} lost`);
    assert.equal(servers.length, got.size, "no server twice");
  });

  it("a page with an item lacking an id fails the whole list (never a partial list)", async (t) => {
    const { sim, client } = await setup(t, 3);
    sim.injectFault({
      route: "list",
      status: 200,
      body: { count: 2, items: [{ id: "a" }, { name: "no id" }] },
    });
    await assert.rejects(
      client.listImageServers(P),
      (e: unknown) => e instanceof CloudError && e.code === "CLOUD_INVALID_RESPONSE",
    );
  });

  it("a failing second page fails the list after its retries", async (t) => {
    const { sim, client } = await setup(t, 150);
    await client.listImageServers(P);
    sim.resetCounters();
    // The first page passes; then every request fails.
    sim.injectFault({ route: "list", delayMs: 0, count: 1 });
    sim.injectFault({ route: "list", status: 503, count: 10 });
    const err = await client.listImageServers(P).catch((e: unknown) => e);
    assert.ok(err instanceof CloudError);
    assert.equal(err.code, "CLOUD_HTTP_5XX");
    assert.equal(err.attempts, 3);
    assert.equal(sim.counts().byRoute.list, 4);
  });
});

/**
 * A tiny list API on 127.0.0.1:0: `page(offset)` is the body of the page at `offset`. Returns a client
 * (token auth, never checked) and the offsets asked for.
 */
async function pagedApi(
  t: TestContext,
  page: (offset: number) => { count: number; items: { id: string }[] },
) {
  const offsetsAsked: number[] = [];
  const api = createServer((req, res) => {
    const offset = Number(new URL(req.url ?? "/", "http://x").searchParams.get("offset"));
    offsetsAsked.push(offset);
    res.writeHead(200, {
      "Content-Type": "application/json",
      "X-Request-Id": "0123456789abcdef0123456789abcdef",
    });
    res.end(JSON.stringify(page(offset)));
  });
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
  const dispatcher = new Agent();
  const outcomes: RequestOutcome[] = [];
  const client = createCloudClient(
    {
      endpoint: url,
      iamEndpoint: url,
      auth: { kind: "token", token: "static-token-0000" },
      requestTimeout: 5_000,
      maxRequestsPerSecond: 1_000,
      retry: { attempts: 3, minDelay: 5, maxDelay: 20 },
    },
    {
      clock: systemClock,
      logger: createSilentLogger(),
      dispatcher,
      onRequest: (r) => outcomes.push(r.outcome),
    },
  );
  t.after(async () => {
    await client.close();
    await dispatcher.close();
    api.closeAllConnections();
    await new Promise<void>((resolve) => api.close(() => resolve()));
  });
  return { client, offsetsAsked, outcomes };
}

const servers = (from: number, n: number) =>
  Array.from({ length: Math.max(0, n) }, (_, k) => ({ id: `srv-${pad(from + k)}`, status: "ACTIVE" }));

describe("short pages while count says more remain", () => {
  it("an API capping pages at 50 is read on to the count, by the items it gave", async (t) => {
    const { client, offsetsAsked } = await pagedApi(t, (offset) => ({
      count: 250,
      items: servers(offset, Math.min(50, 250 - offset)),
    }));
    const listed = await client.listImageServers(P);
    assert.equal(listed.length, 250);
    assert.deepEqual(offsetsAsked, [0, 50, 100, 150, 200]);
  });

  it("one short page in the middle does not end the listing", async (t) => {
    const { client, offsetsAsked } = await pagedApi(t, (offset) => ({
      count: 250,
      items: offset === 100 ? servers(100, 30) : servers(offset, Math.min(100, 250 - offset)),
    }));
    assert.equal((await client.listImageServers(P)).length, 250);
    assert.deepEqual(offsetsAsked, [0, 100, 130, 230]);
  });

  it("pages that stop while count says more fail CLOUD_INVALID_RESPONSE, never a partial list", async (t) => {
    const { client, offsetsAsked, outcomes } = await pagedApi(t, (offset) => ({
      count: 250,
      items: offset < 130 ? servers(offset, Math.min(100, 130 - offset)) : [],
    }));
    const err = await client.listImageServers(P).catch((e: unknown) => e);
    assert.ok(err instanceof CloudError, String(err));
    assert.equal(err.code, "CLOUD_INVALID_RESPONSE");
    assert.equal(err.outcome, "invalid_response");
    assert.match(err.message, /list ended at 130 of 250/);
    assert.deepEqual(offsetsAsked, [0, 100, 130]);
    assert.deepEqual(outcomes, ["success", "success", "success"], "each page was a valid answer");
  });

  it("once two pages agree on count and size, fetches the remaining pages LIST_CONCURRENCY at a time", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const asked: number[] = [];
    const listed = await listAllPages(async (offset) => {
      asked.push(offset);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return { count: 1000, items: servers(offset, 100) };
    });
    assert.equal(listed.length, 1000);
    assert.deepEqual(
      [...asked].sort((a, b) => a - b),
      [0, 100, 200, 300, 400, 500, 600, 700, 800, 900],
    );
    assert.equal(maxInFlight, LIST_CONCURRENCY);
  });
});
