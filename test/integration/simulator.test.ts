import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { Agent, request } from "undici";
import { createSimulator, normaliseScenario, type Simulator } from "../../src/simulator/index.js";
import { createManualClock } from "../helpers/manual-clock.js";

const P = "0123456789abcdef0123456789abcdef";
const BIG = "big00000000000000000000000000000";
const API_FIELDS = [
  "id",
  "name",
  "description",
  "image_ref",
  "server_group_id",
  "app_group_id",
  "server_id",
  "instance_id",
  "image_id",
  "status",
  "authorize_accounts",
  "create_time",
  "update_time",
  "enterprise_project_id",
];

const agent = new Agent();
const clock = createManualClock("2026-11-27T10:00:00.000Z");
let sim: Simulator;
let token: string;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are inspected loosely
  json: any;
}

async function call(
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: unknown } = {},
) {
  const res = await request(`${sim.url}${path}`, {
    method: method as "GET",
    dispatcher: agent,
    headers: { ...(opts.body === undefined ? {} : { "content-type": "application/json" }), ...opts.headers },
    ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json } as Answer;
}

const get = (path: string) => call("GET", path, { headers: { "X-Auth-Token": token } });

before(async () => {
  const bigServers = Array.from({ length: 250 }, (_, i) => ({
    id: `srv-${String(i).padStart(3, "0")}`,
    name: `bulk-${i}`,
    // Pairs share a create_time so the id breaks the tie.
    create_time: new Date(Date.UTC(2026, 0, 1) + Math.floor((249 - i) / 2) * 60_000).toISOString(),
  }));
  sim = createSimulator({
    clock,
    scenario: normaliseScenario({
      credentials: { accessKey: "AK1", secretKey: "SK1", domain: "d", username: "u", password: "p" },
      projects: [
        {
          id: P,
          servers: [
            {
              id: "s-build",
              name: "build-office",
              status: "BUILDING",
              create_time: "2026-11-27T08:00:00.000Z",
              enterprise_project_id: "eps-1",
            },
            {
              id: "s-golden",
              name: "golden-image",
              status: "BUILT",
              create_time: "2026-11-27T07:00:00.000Z",
            },
            {
              id: "s-nostatus",
              name: "build-no-status",
              status: null,
              create_time: "2026-11-27T09:00:00.000Z",
            },
            { id: "s-nullstr", name: "null-string", status: "null", create_time: "2026-11-27T09:30:00.000Z" },
          ],
        },
        { id: BIG, servers: bigServers },
      ],
    }),
  });
  await sim.start();
  token = sim.issueToken().token;
});

after(async () => {
  await sim.stop();
  await agent.close();
});

beforeEach(() => sim.resetCounters());

describe("GET /v1/{project}/image-servers/{id}", () => {
  it("returns every API field of the server", async () => {
    const res = await get(`/v1/${P}/image-servers/s-build`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers["content-type"]), /^application\/json/);
    assert.deepEqual(Object.keys(res.json).sort(), [...API_FIELDS].sort());
    assert.equal(res.json.id, "s-build");
    assert.equal(res.json.status, "BUILDING");
    assert.equal(res.json.enterprise_project_id, "eps-1");
    assert.deepEqual(Object.keys(res.json.image_ref).sort(), ["id", "image_type", "product_id", "spce_code"]);
    assert.equal(res.json.update_time, "2026-11-27T10:00:00.000Z", "update_time defaults to the start");
    assert.ok(Array.isArray(res.json.authorize_accounts));
  });

  it("can serve a server without a status and one whose status is the string null", async () => {
    const none = await get(`/v1/${P}/image-servers/s-nostatus`);
    assert.equal(none.status, 200);
    assert.equal("status" in none.json, false);
    const nullString = await get(`/v1/${P}/image-servers/s-nullstr`);
    assert.equal(nullString.json.status, "null");
  });

  it("answers 404 with a WKS body for an unknown server", async () => {
    const res = await get(`/v1/${P}/image-servers/nope`);
    assert.equal(res.status, 404);
    assert.equal(res.json.error_code, "WKS.0004");
    assert.match(res.json.error_msg, /does not exist/);
  });

  it("answers 403 APIGW.0310 with a request_id for an unknown project", async () => {
    const res = await get("/v1/ffffffffffffffffffffffffffffffff/image-servers/s-build");
    assert.equal(res.status, 403);
    assert.equal(res.json.error_code, "APIGW.0310");
    assert.equal(res.json.request_id, res.headers["x-request-id"]);
  });

  it("answers 404 APIGW.0101 for an unknown API and 405 for a wrong method", async () => {
    const missing = await get("/v2/whatever");
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error_code, "APIGW.0101");
    assert.equal(missing.json.request_id, missing.headers["x-request-id"]);
    const wrongMethod = await call("DELETE", `/v1/${P}/image-servers/s-build`, {
      headers: { "X-Auth-Token": token },
    });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.json.error_code, "WKS.0005");
  });
});

describe("GET /v1/{project}/image-servers (list)", () => {
  it("defaults to 10 items and reports the total count", async () => {
    const res = await get(`/v1/${BIG}/image-servers`);
    assert.equal(res.status, 200);
    assert.equal(res.json.count, 250);
    assert.equal(res.json.items.length, 10);
  });

  const badParams: Array<[string, string]> = [
    ["limit=0", "limit"],
    ["limit=101", "limit"],
    ["limit=abc", "limit"],
    ["limit=-1", "limit"],
    ["limit=1.5", "limit"],
    ["offset=-1", "offset"],
    ["offset=abc", "offset"],
  ];
  for (const [query, param] of badParams) {
    it(`rejects ${query} with 400 WKS.0001`, async () => {
      const res = await get(`/v1/${BIG}/image-servers?${query}`);
      assert.equal(res.status, 400);
      assert.equal(res.json.error_code, "WKS.0001");
      assert.match(res.json.error_msg, new RegExp(param));
    });
  }

  it("accepts the bounds limit=1 and limit=100", async () => {
    assert.equal((await get(`/v1/${BIG}/image-servers?limit=1`)).json.items.length, 1);
    assert.equal((await get(`/v1/${BIG}/image-servers?limit=100`)).json.items.length, 100);
  });

  it("answers an offset beyond the count with no items and the right count", async () => {
    const res = await get(`/v1/${BIG}/image-servers?offset=1000&limit=100`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { count: 250, items: [] });
  });

  it("pages 250 servers as 100 + 100 + 50 in a stable create_time, id order", async () => {
    const pages = [];
    for (const offset of [0, 100, 200])
      pages.push(await get(`/v1/${BIG}/image-servers?offset=${offset}&limit=100`));
    assert.deepEqual(
      pages.map((p) => p.json.items.length),
      [100, 100, 50],
    );
    const all = pages.flatMap((p) => p.json.items);
    assert.equal(new Set(all.map((s) => s.id)).size, 250);
    for (let i = 1; i < all.length; i++) {
      const a = all[i - 1];
      const b = all[i];
      const order = Date.parse(a.create_time) - Date.parse(b.create_time) || (a.id < b.id ? -1 : 1);
      assert.ok(order < 0, `item ${i} out of order`);
    }
    const again = await get(`/v1/${BIG}/image-servers?offset=100&limit=100`);
    assert.deepEqual(again.json.items, pages[1]?.json.items);
  });

  it("matches server_name as a substring", async () => {
    const res = await get(`/v1/${P}/image-servers?server_name=build&limit=100`);
    assert.deepEqual(res.json.items.map((s: { id: string }) => s.id).sort(), ["s-build", "s-nostatus"]);
    assert.equal(res.json.count, 2);
    const middle = await get(`/v1/${P}/image-servers?server_name=den-im`);
    assert.deepEqual(
      middle.json.items.map((s: { id: string }) => s.id),
      ["s-golden"],
    );
  });

  it("filters by server_id and enterprise_project_id", async () => {
    const byId = await get(`/v1/${P}/image-servers?server_id=s-golden`);
    assert.deepEqual(byId.json.count, 1);
    assert.equal(byId.json.items[0].id, "s-golden");
    const byEps = await get(`/v1/${P}/image-servers?enterprise_project_id=eps-1`);
    assert.deepEqual(
      byEps.json.items.map((s: { id: string }) => s.id),
      ["s-build"],
    );
    const none = await get(`/v1/${P}/image-servers?server_id=missing`);
    assert.deepEqual(none.json, { count: 0, items: [] });
  });
});

describe("request ids and counters", () => {
  it("puts a distinct X-Request-Id on every response, errors and control routes included", async () => {
    const answers = [
      await get(`/v1/${P}/image-servers/s-build`),
      await get(`/v1/${P}/image-servers/nope`),
      await get(`/v1/${BIG}/image-servers?limit=0`),
      await call("GET", `/v1/${P}/image-servers`),
      await call("GET", "/nowhere"),
      await call("POST", "/v3/auth/tokens", { body: {} }),
      await call("GET", "/__sim/counters"),
    ];
    const ids = answers.map((a) => a.headers["x-request-id"]);
    for (const id of ids) assert.match(String(id), /^[0-9a-f]{32}$/);
    assert.equal(new Set(ids).size, ids.length);
  });

  it("counts requests by route and auth kind and logs them", async () => {
    await get(`/v1/${P}/image-servers/s-build`);
    await get(`/v1/${P}/image-servers?limit=5&server_name=a`);
    await call("GET", `/v1/${P}/image-servers`);
    await call("GET", `/v1/${P}/image-servers`, { headers: { "X-Auth-Token": "forged" } });
    await call("POST", "/v3/auth/tokens", {
      body: {
        auth: {
          identity: {
            methods: ["password"],
            password: { user: { domain: { name: "d" }, name: "u", password: "p" } },
          },
        },
      },
    });
    await call("GET", "/__sim/state");
    const counts = sim.counts();
    assert.equal(counts.total, 5, "control requests are not counted");
    assert.deepEqual(counts.byRoute, {
      get: 1,
      list: 3,
      token: 1,
      jobs: 0,
      job: 0,
      sub_jobs: 0,
      metadata: 0,
      securitytokens: 0,
      other: 0,
    });
    assert.deepEqual(counts.byAuth, { token: 2, aksk: 0, temporary: 0, password: 1, none: 1, rejected: 1 });
    const log = sim.requests();
    assert.equal(log.length, 5);
    assert.deepEqual(
      log.map((r) => [r.method, r.route, r.auth, r.status]),
      [
        ["GET", "get", "token", 200],
        ["GET", "list", "token", 200],
        ["GET", "list", "none", 401],
        ["GET", "list", "rejected", 401],
        ["POST", "token", "password", 201],
      ],
    );
    assert.deepEqual(log[1]?.query, { limit: "5", server_name: "a" });
    assert.equal(log[0]?.path, `/v1/${P}/image-servers/s-build`);
    assert.equal(log[0]?.at, clock.now());
    sim.resetCounters();
    assert.equal(sim.counts().total, 0);
    assert.deepEqual(sim.requests(), []);
  });

  it("sees exactly one request for one GET", async () => {
    await get(`/v1/${P}/image-servers/s-golden`);
    assert.equal(sim.requests().length, 1);
    assert.equal(sim.counts().byRoute.get, 1);
  });
});

describe("HTTP control interface under /__sim/", () => {
  it("adds a server, sets its status, patches and removes it", async () => {
    const added = await call("POST", `/__sim/projects/${P}/servers`, {
      body: { id: "s-ctl", name: "control-made", status: "CREATING" },
    });
    assert.equal(added.status, 201);
    assert.equal(added.json.id, "s-ctl");
    assert.equal((await get(`/v1/${P}/image-servers/s-ctl`)).json.status, "CREATING");

    clock.advance(5000);
    const set = await call("PUT", `/__sim/projects/${P}/servers/s-ctl/status`, {
      body: { status: "ACTIVE" },
    });
    assert.equal(set.status, 200);
    const seen = await get(`/v1/${P}/image-servers/s-ctl`);
    assert.equal(seen.json.status, "ACTIVE");
    assert.equal(seen.json.update_time, new Date(clock.now()).toISOString());

    const explicit = await call("PUT", `/__sim/projects/${P}/servers/s-ctl/status`, {
      body: { status: "BUILDING", update_time: "2026-01-01 00:00:00" },
    });
    assert.equal(explicit.json.update_time, "2026-01-01 00:00:00");

    const patched = await call("PATCH", `/__sim/projects/${P}/servers/s-ctl`, {
      body: { image_id: "img-1" },
    });
    assert.equal(patched.json.image_id, "img-1");

    const removed = await call("DELETE", `/__sim/projects/${P}/servers/s-ctl`);
    assert.equal(removed.status, 204);
    assert.equal((await get(`/v1/${P}/image-servers/s-ctl`)).status, 404);
    assert.equal((await call("DELETE", `/__sim/projects/${P}/servers/s-ctl`)).status, 404);
  });

  it("injects and lists faults, reads counters and the request log", async () => {
    const injected = await call("POST", "/__sim/faults", { body: { route: "get", status: 503, count: 1 } });
    assert.equal(injected.status, 201);
    assert.equal((await call("GET", "/__sim/faults")).json.faults.length, 1);
    assert.equal((await get(`/v1/${P}/image-servers/s-golden`)).status, 503);
    assert.equal((await get(`/v1/${P}/image-servers/s-golden`)).status, 200);
    assert.equal((await call("GET", "/__sim/faults")).json.faults.length, 0);
    const counters = await call("GET", "/__sim/counters");
    assert.equal(counters.json.byRoute.get, 2);
    const log = await call("GET", "/__sim/requests?limit=1");
    assert.equal(log.json.requests.length, 1);
    assert.equal(log.json.requests[0].status, 200);
    assert.equal((await call("POST", "/__sim/counters/reset")).status, 204);
    assert.equal(sim.counts().total, 0);
    await call("POST", "/__sim/faults", { body: { status: 500, count: 5 } });
    assert.equal((await call("DELETE", "/__sim/faults")).status, 204);
    assert.equal(sim.pendingFaults().length, 0);
  });

  it("revokes tokens and sets the token lifetime", async () => {
    const issued = await call("POST", "/__sim/tokens");
    const t = issued.json.token as string;
    const ok = await call("GET", `/v1/${P}/image-servers/s-golden`, { headers: { "X-Auth-Token": t } });
    assert.equal(ok.status, 200);
    const revoked = await call("POST", "/__sim/tokens/revoke", { body: { token: t } });
    assert.deepEqual(revoked.json, { revoked: 1 });
    const refused = await call("GET", `/v1/${P}/image-servers/s-golden`, { headers: { "X-Auth-Token": t } });
    assert.equal(refused.status, 401);
    assert.equal((await get(`/v1/${P}/image-servers/s-golden`)).status, 200, "other tokens still work");

    const life = await call("PUT", "/__sim/token-lifetime", { body: { lifetime: "90s" } });
    assert.deepEqual(life.json, { lifetimeMs: 90_000 });
    const shortLived = await call("POST", "/__sim/tokens");
    assert.equal(Date.parse(shortLived.json.expires_at), clock.now() + 90_000);
    sim.setTokenLifetime(24 * 3_600_000);
  });

  it("reports the state and rejects bad control input with 400", async () => {
    const state = await call("GET", "/__sim/state");
    assert.equal(state.status, 200);
    assert.deepEqual(
      state.json.projects.map((p: { id: string }) => p.id),
      [P, BIG],
    );
    const badFault = await call("POST", "/__sim/faults", { body: { status: "teapot" } });
    assert.equal(badFault.status, 400);
    assert.ok(badFault.json.issues.length > 0);
    const badJson = await request(`${sim.url}/__sim/faults`, {
      method: "POST",
      body: "{not json",
      dispatcher: agent,
    });
    assert.equal(badJson.statusCode, 400);
    await badJson.body.dump();
    assert.equal((await call("GET", "/__sim/nothing-here")).status, 404);
  });
});
