import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { Agent, request } from "undici";
import { signRequest } from "../../src/cloud/signer.js";
import { createSimulator, normaliseScenario, type Simulator } from "../../src/simulator/index.js";
import { createManualClock } from "../helpers/manual-clock.js";

const P = "0123456789abcdef0123456789abcdef";
const OTHER = "fedcba9876543210fedcba9876543210";
const CREDS = {
  accessKey: "TESTAK000000000000001",
  secretKey: "test-secret-key",
  domain: "acme",
  username: "ops",
  password: "pw-1",
};

const agent = new Agent();
const clock = createManualClock("2026-11-27T10:00:00.000Z");
let sim: Simulator;

async function send(method: string, path: string, headers: Record<string, string>, body?: string) {
  const res = await request(`${sim.url}${path}`, {
    method: method as "GET",
    headers,
    dispatcher: agent,
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.body.text();
  // biome-ignore lint/suspicious/noExplicitAny: test answers are inspected loosely
  const json: any = text === "" ? undefined : JSON.parse(text);
  return { status: res.statusCode, headers: res.headers, json };
}

function passwordBody(overrides: { domain?: string; name?: string; password?: string } = {}) {
  return JSON.stringify({
    auth: {
      identity: {
        methods: ["password"],
        password: {
          user: {
            domain: { name: overrides.domain ?? CREDS.domain },
            name: overrides.name ?? CREDS.username,
            password: overrides.password ?? CREDS.password,
          },
        },
      },
      scope: { project: { name: "cn-north-4" } },
    },
  });
}

async function issue(): Promise<{
  token: string;
  json: { token: { expires_at: string; issued_at: string } };
}> {
  const res = await send(
    "POST",
    "/v3/auth/tokens?nocatalog=true",
    { "Content-Type": "application/json;charset=utf8" },
    passwordBody(),
  );
  assert.equal(res.status, 201);
  return { token: String(res.headers["x-subject-token"]), json: res.json };
}

function signed(path: string, opts: { now?: number; secretKey?: string; projectId?: string } = {}) {
  return signRequest(
    { method: "GET", url: `${sim.url}${path}`, headers: { "Content-Type": "application/json" } },
    { accessKey: CREDS.accessKey, secretKey: opts.secretKey ?? CREDS.secretKey },
    { now: opts.now ?? clock.now(), projectId: opts.projectId ?? P },
  );
}

before(async () => {
  sim = createSimulator({
    clock,
    scenario: normaliseScenario({
      credentials: CREDS,
      projects: [
        { id: P, servers: [{ id: "s1", name: "one", status: "ACTIVE" }] },
        { id: OTHER, servers: [{ id: "s9", name: "other", status: "BUILT" }] },
      ],
    }),
  });
  await sim.start();
});

after(async () => {
  await sim.stop();
  await agent.close();
});

beforeEach(() => {
  sim.resetCounters();
  sim.setTokenLifetime(24 * 3_600_000);
});

describe("POST /v3/auth/tokens", () => {
  it("issues a 24 h token in X-Subject-Token for the scenario's password", async () => {
    const { token, json } = await issue();
    assert.match(token, /^MII/);
    assert.equal(Date.parse(json.token.issued_at), clock.now());
    assert.equal(Date.parse(json.token.expires_at), clock.now() + 24 * 3_600_000);
    const res = await send("GET", `/v1/${P}/image-servers/s1`, { "X-Auth-Token": token });
    assert.equal(res.status, 200);
    assert.equal(res.json.id, "s1");
    assert.deepEqual(sim.counts().byAuth, {
      token: 1,
      aksk: 0,
      temporary: 0,
      password: 1,
      none: 0,
      rejected: 0,
    });
  });

  it("also answers without ?nocatalog and issues distinct tokens", async () => {
    const a = await send("POST", "/v3/auth/tokens", { "Content-Type": "application/json" }, passwordBody());
    const b = await issue();
    assert.equal(a.status, 201);
    assert.notEqual(a.headers["x-subject-token"], b.token);
  });

  const wrong: Array<[string, Parameters<typeof passwordBody>[0]]> = [
    ["password", { password: "nope" }],
    ["user name", { name: "intruder" }],
    ["domain", { domain: "elsewhere" }],
  ];
  for (const [what, override] of wrong) {
    it(`answers 401 in IAM's shape for a wrong ${what}`, async () => {
      const res = await send(
        "POST",
        "/v3/auth/tokens",
        { "Content-Type": "application/json" },
        passwordBody(override),
      );
      assert.equal(res.status, 401);
      assert.equal(res.headers["x-subject-token"], undefined);
      assert.equal(res.json.error.code, 401);
      assert.equal(res.json.error.title, "Unauthorized");
      assert.equal(typeof res.json.error.message, "string");
      assert.ok(!JSON.stringify(res.json).includes(CREDS.password));
    });
  }

  it("answers 400 for a body that is not JSON or not a password identity", async () => {
    const notJson = await send("POST", "/v3/auth/tokens", { "Content-Type": "application/json" }, "{oops");
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json.error.code, 400);
    const noPassword = await send(
      "POST",
      "/v3/auth/tokens",
      {},
      JSON.stringify({ auth: { identity: { methods: ["token"] } } }),
    );
    assert.equal(noPassword.status, 400);
  });
});

describe("token expiry and revocation", () => {
  it("refuses a token once the clock passes expires_at", async () => {
    const { token } = await issue();
    clock.advance(24 * 3_600_000 - 1000);
    assert.equal((await send("GET", `/v1/${P}/image-servers/s1`, { "X-Auth-Token": token })).status, 200);
    clock.advance(1000);
    const res = await send("GET", `/v1/${P}/image-servers/s1`, { "X-Auth-Token": token });
    assert.equal(res.status, 401);
    assert.equal(res.json.error_code, "APIGW.0301");
    assert.match(res.json.error_msg, /^Incorrect IAM authentication information/);
    assert.equal(res.json.request_id, res.headers["x-request-id"]);
    assert.ok(!res.json.error_msg.includes(token));
  });

  it("uses the configured lifetime for tokens issued after the change", async () => {
    sim.setTokenLifetime(60_000);
    const { token, json } = await issue();
    assert.equal(Date.parse(json.token.expires_at), clock.now() + 60_000);
    clock.advance(60_000);
    assert.equal((await send("GET", `/v1/${P}/image-servers/s1`, { "X-Auth-Token": token })).status, 401);
  });

  it("revokes one token or all of them", async () => {
    const a = await issue();
    const b = await issue();
    const c = await issue();
    assert.equal(sim.revokeTokens(a.token), 1);
    assert.equal((await send("GET", `/v1/${P}/image-servers/s1`, { "X-Auth-Token": a.token })).status, 401);
    assert.equal((await send("GET", `/v1/${P}/image-servers/s1`, { "X-Auth-Token": b.token })).status, 200);
    assert.equal(sim.revokeTokens(), 2);
    for (const t of [b.token, c.token]) {
      assert.equal((await send("GET", `/v1/${P}/image-servers/s1`, { "X-Auth-Token": t })).status, 401);
    }
  });

  it("refuses a request without credentials as auth kind none", async () => {
    const res = await send("GET", `/v1/${P}/image-servers/s1`, {});
    assert.equal(res.status, 401);
    assert.equal(res.json.error_code, "APIGW.0301");
    assert.deepEqual(
      sim.requests().map((r) => r.auth),
      ["none"],
    );
  });
});

describe("AK/SK signatures", () => {
  it("accepts a request signed with signRequest (get and list)", async () => {
    const path = `/v1/${P}/image-servers/s1`;
    const res = await send("GET", path, signed(path));
    assert.equal(res.status, 200);
    assert.equal(res.json.id, "s1");
    const listPath = `/v1/${P}/image-servers?limit=100&offset=0&server_name=o%20n`;
    const list = await send("GET", listPath, signed(listPath));
    assert.equal(list.status, 200);
    assert.equal(list.json.count, 0);
    assert.deepEqual(sim.counts().byAuth, {
      token: 0,
      aksk: 2,
      temporary: 0,
      password: 0,
      none: 0,
      rejected: 0,
    });
  });

  it("accepts a date 14 minutes off either way", async () => {
    const path = `/v1/${P}/image-servers/s1`;
    assert.equal((await send("GET", path, signed(path, { now: clock.now() - 14 * 60_000 }))).status, 200);
    assert.equal((await send("GET", path, signed(path, { now: clock.now() + 14 * 60_000 }))).status, 200);
  });

  const tamperCases: Array<[string, () => { path: string; headers: Record<string, string> }]> = [
    ["path", () => ({ path: `/v1/${P}/image-servers/s2`, headers: signed(`/v1/${P}/image-servers/s1`) })],
    [
      "query",
      () => ({ path: `/v1/${P}/image-servers?limit=50`, headers: signed(`/v1/${P}/image-servers?limit=5`) }),
    ],
    [
      "signed header value",
      () => ({
        path: `/v1/${P}/image-servers/s1`,
        headers: { ...signed(`/v1/${P}/image-servers/s1`), "Content-Type": "text/plain" },
      }),
    ],
    [
      "secret key",
      () => ({
        path: `/v1/${P}/image-servers/s1`,
        headers: signed(`/v1/${P}/image-servers/s1`, { secretKey: "wrong" }),
      }),
    ],
    [
      "project id (signed X-Project-Id of another project)",
      () => ({
        path: `/v1/${OTHER}/image-servers/s9`,
        headers: signed(`/v1/${OTHER}/image-servers/s9`, { projectId: P }),
      }),
    ],
  ];
  for (const [name, build] of tamperCases) {
    it(`refuses a tampered ${name} with 401 APIGW.0301`, async () => {
      const { path, headers } = build();
      const res = await send("GET", path, headers);
      assert.equal(res.status, 401);
      assert.equal(res.json.error_code, "APIGW.0301");
      assert.equal(res.json.request_id, res.headers["x-request-id"]);
      assert.ok(!JSON.stringify(res.json).includes(CREDS.secretKey));
      assert.deepEqual(
        sim.requests().map((r) => r.auth),
        ["rejected"],
      );
    });
  }

  it("refuses a date more than 15 minutes old (or ahead) with 401 APIGW.0303", async () => {
    const path = `/v1/${P}/image-servers/s1`;
    for (const now of [clock.now() - 16 * 60_000, clock.now() + 16 * 60_000]) {
      const res = await send("GET", path, signed(path, { now }));
      assert.equal(res.status, 401);
      assert.equal(res.json.error_code, "APIGW.0303");
    }
  });

  it("refuses an unknown access key", async () => {
    const path = `/v1/${P}/image-servers/s1`;
    const headers = signRequest(
      { method: "GET", url: `${sim.url}${path}`, headers: {} },
      { accessKey: "SOMEONEELSE", secretKey: CREDS.secretKey },
      { now: clock.now() },
    );
    assert.equal((await send("GET", path, headers)).status, 401);
  });
});
