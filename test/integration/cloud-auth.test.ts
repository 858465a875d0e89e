/**
 * The cloud client's credentials against the simulator over real HTTP: AK/SK signing (verified by the
 * simulator), IAM password tokens (cache, refresh ahead of expiry, one refresh for many waiters), static
 * tokens, and the no-retry rule for AK/SK 401s.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { Agent } from "undici";
import { type CloudClient, createCloudClient } from "../../src/cloud/client.js";
import type { AuthConfig, CloudConfig } from "../../src/config/types.js";
import type { RequestOutcome } from "../../src/domain/types.js";
import { type Clock, systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { okServer, rejectsWith } from "../helpers/cloud-errors.js";
import { createManualClock } from "../helpers/manual-clock.js";

const P = "0123456789abcdef0123456789abcdef";
const AK = "DEMOACCESSKEY0000001";
const SK = "demo-secret-key-0000000000000000000000000";
const AKSK: AuthConfig = { kind: "aksk", accessKey: AK, secretKey: SK };
const PASSWORD: AuthConfig = {
  kind: "password",
  domain: "demo",
  username: "demo",
  password: "demo-password",
};

interface Harness {
  sim: Simulator;
  client: CloudClient;
  outcomes: RequestOutcome[];
  refreshes: string[];
  /** Makes another client on the same simulator (closed after the test). */
  another(auth: AuthConfig, clock: Clock): CloudClient;
}

async function setup(
  t: TestContext,
  options: { auth: AuthConfig; clock?: Clock; simClock?: Clock; servers?: number; attempts?: number },
): Promise<Harness> {
  const sim = createSimulator(options.simClock ? { clock: options.simClock } : {});
  const { url } = await sim.start();
  const count = options.servers ?? 1;
  for (let i = 1; i <= count; i++)
    sim.addServer(P, { id: `srv-${i}`, name: `build-${i}`, status: "BUILDING" });
  const dispatcher = new Agent();
  const outcomes: RequestOutcome[] = [];
  const refreshes: string[] = [];
  const clients: CloudClient[] = [];
  const make = (auth: AuthConfig, clock: Clock) => {
    const config: CloudConfig = {
      region: "cn-north-4",
      endpoint: url,
      iamEndpoint: url,
      auth,
      requestTimeout: 5_000,
      maxRequestsPerSecond: 1_000,
      retry: { attempts: options.attempts ?? 4, minDelay: 5, maxDelay: 20 },
    };
    const c = createCloudClient(config, {
      clock,
      logger: createSilentLogger(),
      dispatcher,
      onRequest: (r) => outcomes.push(r.outcome),
      onTokenRefresh: (o) => refreshes.push(o),
      random: () => 0,
    });
    clients.push(c);
    return c;
  };
  const client = make(options.auth, options.clock ?? systemClock);
  t.after(async () => {
    for (const c of clients) await c.close();
    await dispatcher.close();
    await sim.stop();
  });
  return { sim, client, outcomes, refreshes, another: make };
}

describe("AK/SK signing", () => {
  it("signs GET and list requests the simulator verifies", async (t) => {
    const h = await setup(t, { auth: AKSK, servers: 3 });
    const one = await okServer(h.client.getImageServer(P, "srv-2"));
    assert.equal(one.id, "srv-2");
    assert.equal(one.status, "BUILDING");
    const all = await h.client.listImageServers(P, { serverName: "build-" });
    assert.deepEqual(
      all.map((s) => s.id),
      ["srv-1", "srv-2", "srv-3"],
    );
    const counts = h.sim.counts();
    assert.equal(counts.byAuth.aksk, 2);
    assert.equal(counts.byAuth.rejected, 0);
    assert.deepEqual(h.outcomes, ["success", "success"]);
    const list = h.sim.requests().find((r) => r.route === "list");
    assert.equal(list?.query.server_name, "build-");
    assert.equal(list?.query.limit, "100");
  });

  it("never retries a 401 with AK/SK: one request, CLOUD_AUTH (a wrong secret key)", async (t) => {
    const h = await setup(t, {
      auth: { kind: "aksk", accessKey: AK, secretKey: "wrong-secret-key" },
      attempts: 4,
    });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_AUTH");
    assert.equal(err.httpStatus, 401);
    assert.equal(err.errorCode, "APIGW.0301");
    assert.equal(err.attempts, 1);
    assert.equal(err.retryable, false);
    assert.ok(err.requestId, "request id kept");
    assert.equal(h.sim.counts().total, 1, "the simulator saw exactly one request");
    assert.deepEqual(h.outcomes, ["auth"]);
  });

  it("never retries a 401 with AK/SK, whatever its error code", async (t) => {
    const h = await setup(t, { auth: AKSK, attempts: 4 });
    h.sim.injectFault({ route: "get", status: 401, count: 3 });
    await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_AUTH");
    assert.equal(h.sim.counts().total, 1);
  });

  it("signs with the injected clock: 20 minutes off is rejected as expired (APIGW.0303)", async (t) => {
    const skewed = createManualClock(Date.now() - 20 * 60_000);
    const h = await setup(t, { auth: AKSK, clock: skewed });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_AUTH");
    assert.equal(err.errorCode, "APIGW.0303");
    assert.equal(h.sim.counts().total, 1, "a signature failure is not retried");

    // The same system time, but a client clock that agrees with the server's: accepted.
    const fixed = h.another(AKSK, systemClock);
    assert.equal((await okServer(fixed.getImageServer(P, "srv-1"))).id, "srv-1");
  });

  it("uses the injected clock, not the system time, for X-Sdk-Date", async (t) => {
    // Server and client share a manual clock two days behind the real time: signatures still verify.
    const clock = createManualClock(Date.now() - 2 * 86_400_000);
    const h = await setup(t, { auth: AKSK, clock, simClock: clock });
    assert.equal((await okServer(h.client.getImageServer(P, "srv-1"))).id, "srv-1");
    clock.advance(16 * 60_000);
    const late = h.another(AKSK, createManualClock(clock.now() - 16 * 60_000));
    const err = await rejectsWith(late.getImageServer(P, "srv-1"), "CLOUD_AUTH");
    assert.equal(err.errorCode, "APIGW.0303");
  });
});

describe("IAM password tokens", () => {
  it("fetches one token and reuses it (the second request makes no IAM call)", async (t) => {
    const h = await setup(t, { auth: PASSWORD });
    await h.client.getImageServer(P, "srv-1");
    assert.equal(h.sim.counts().byRoute.token, 1);
    await h.client.getImageServer(P, "srv-1");
    await h.client.listImageServers(P);
    const counts = h.sim.counts();
    assert.equal(counts.byRoute.token, 1);
    assert.equal(counts.byAuth.token, 3);
    assert.deepEqual(h.refreshes, ["success"]);
    assert.deepEqual(h.outcomes, ["success", "success", "success"], "IAM calls are not poll requests");
  });

  it("refreshes one hour before expiry of a 24 h token", async (t) => {
    const clock = createManualClock("2026-11-27T10:00:00.000Z");
    const h = await setup(t, { auth: PASSWORD, clock, simClock: clock });
    await h.client.getImageServer(P, "srv-1");
    clock.advance(23 * 3_600_000 - 60_000);
    await h.client.getImageServer(P, "srv-1");
    assert.equal(h.sim.counts().byRoute.token, 1, "not yet due at 22h59m");
    clock.advance(2 * 60_000);
    await h.client.getImageServer(P, "srv-1");
    assert.equal(h.sim.counts().byRoute.token, 2, "refreshed at 23h01m, before the token expired");
    assert.equal(h.sim.counts().byAuth.rejected, 0, "no request was ever refused");
    assert.deepEqual(h.refreshes, ["success", "success"]);
  });

  it("refreshes at half its life when the token lives less than two hours", async (t) => {
    const clock = createManualClock("2026-11-27T10:00:00.000Z");
    const h = await setup(t, { auth: PASSWORD, clock, simClock: clock });
    h.sim.setTokenLifetime(3_600_000);
    await h.client.getImageServer(P, "srv-1");
    clock.advance(29 * 60_000);
    await h.client.getImageServer(P, "srv-1");
    assert.equal(h.sim.counts().byRoute.token, 1);
    clock.advance(2 * 60_000);
    await h.client.getImageServer(P, "srv-1");
    assert.equal(h.sim.counts().byRoute.token, 2);
  });

  it("after revocation, 20 concurrent requests share exactly ONE new IAM call and all succeed", async (t) => {
    const h = await setup(t, { auth: PASSWORD, servers: 20 });
    await h.client.getImageServer(P, "srv-1");
    assert.equal(h.sim.counts().byRoute.token, 1);
    assert.equal(h.sim.revokeTokens(), 1);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => okServer(h.client.getImageServer(P, `srv-${i + 1}`))),
    );
    assert.deepEqual(
      results.map((s) => s.id),
      Array.from({ length: 20 }, (_, i) => `srv-${i + 1}`),
    );
    assert.equal(h.sim.counts().byRoute.token, 2, "one refresh for all waiters");
    assert.deepEqual(h.refreshes, ["success", "success"]);
    assert.ok(h.outcomes.includes("auth"), "the revoked token was refused first");
    assert.equal(h.outcomes.filter((o) => o === "success").length, 21);
  });

  it("a wrong password fails with CLOUD_AUTH after one IAM call, counted as a failed refresh", async (t) => {
    const h = await setup(t, { auth: { ...PASSWORD, password: "not-the-password" } as AuthConfig });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_AUTH");
    assert.equal(err.httpStatus, 401);
    assert.equal(h.sim.counts().byRoute.token, 1);
    assert.equal(h.sim.counts().byRoute.get, 0);
    assert.deepEqual(h.refreshes, ["failure"]);
  });

  it("a 503 from IAM is retried like any request", async (t) => {
    const h = await setup(t, { auth: PASSWORD });
    h.sim.injectFault({ route: "token", status: 503 });
    assert.equal((await okServer(h.client.getImageServer(P, "srv-1"))).id, "srv-1");
    assert.equal(h.sim.counts().byRoute.token, 2);
    assert.deepEqual(h.refreshes, ["failure", "success"]);
  });

  for (const [status, code] of [
    [501, "CLOUD_HTTP_5XX"],
    [505, "CLOUD_HTTP_5XX"],
    [404, "CLOUD_AUTH"],
  ] as const) {
    it(`a ${status} from IAM fails at once with ${code}, as the API call's table says`, async (t) => {
      const h = await setup(t, { auth: PASSWORD });
      h.sim.injectFault({ route: "token", status, count: 4 });
      const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), code);
      assert.equal(err.httpStatus, status);
      assert.equal(err.attempts, 1);
      assert.equal(h.sim.counts().byRoute.token, 1);
      assert.deepEqual(h.refreshes, ["failure"]);
    });
  }
});

describe("static token", () => {
  it("sends X-Auth-Token, and a refused token fails at once (nothing to refresh)", async (t) => {
    const h = await setup(t, { auth: PASSWORD });
    const { token } = h.sim.issueToken();
    const client = h.another({ kind: "token", token }, systemClock);
    assert.equal((await okServer(client.getImageServer(P, "srv-1"))).id, "srv-1");
    assert.equal(h.sim.counts().byAuth.token, 1);
    h.sim.revokeTokens(token);
    const err = await rejectsWith(client.getImageServer(P, "srv-1"), "CLOUD_AUTH");
    assert.equal(err.attempts, 1);
    assert.equal(h.sim.counts().total, 2);
    assert.equal(h.sim.counts().byRoute.token, 0, "no IAM call for a static token");
  });
});
