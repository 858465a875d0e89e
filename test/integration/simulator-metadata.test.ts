/**
 * The simulator's metadata service and IAM `securitytokens` routes, spoken to over raw HTTP: session
 * tokens, the no-agency and no-token-API modes, and the checks of an assume-role request.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { request } from "undici";
import { createCloudClient } from "../../src/cloud/client.js";
import { signRequest } from "../../src/cloud/signer.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator, DEFAULT_CREDENTIALS, NO_AGENCY_BODY } from "../../src/simulator/index.js";
import { okServer } from "../helpers/cloud-errors.js";
import { createManualClock } from "../helpers/manual-clock.js";

const P = "0123456789abcdef0123456789abcdef";

async function withSim(fn: (url: string, sim: ReturnType<typeof createSimulator>) => Promise<void>) {
  const clock = createManualClock();
  const sim = createSimulator({ clock });
  const { url } = await sim.start();
  try {
    await fn(url, sim);
  } finally {
    await sim.stop();
  }
}

async function call(
  url: string,
  method: "GET" | "PUT" | "POST",
  headers: Record<string, string> = {},
  body?: string,
) {
  const res = await request(url, { method, headers, ...(body === undefined ? {} : { body }) });
  return { status: res.statusCode, text: await res.body.text() };
}

describe("simulator: metadata service", () => {
  it("a session token is needed, and must be asked for with a TTL", async () => {
    await withSim(async (url) => {
      assert.equal((await call(`${url}/meta-data/latest/api/token`, "PUT")).status, 400);
      const token = await call(`${url}/meta-data/latest/api/token`, "PUT", {
        "X-Metadata-Token-Ttl-Seconds": "60",
      });
      assert.equal(token.status, 200);
      assert.equal((await call(`${url}/openstack/latest/securitykey`, "GET")).status, 401);
      const key = await call(`${url}/openstack/latest/securitykey`, "GET", {
        "X-Metadata-Token": token.text,
      });
      assert.equal(key.status, 200);
      const { credential } = JSON.parse(key.text);
      assert.ok(credential.access && credential.secret && credential.securitytoken);
      assert.ok(Date.parse(credential.expires_at) > 0);
    });
  });

  it("no agency: 401 with the message the SDKs look for", async () => {
    await withSim(async (url, sim) => {
      sim.setMetadata({ agency: false, tokenApi: false });
      assert.equal(
        (await call(`${url}/meta-data/latest/api/token`, "PUT", { "X-Metadata-Token-Ttl-Seconds": "60" }))
          .status,
        404,
      );
      const key = await call(`${url}/openstack/latest/securitykey`, "GET");
      assert.equal(key.status, 401);
      assert.match(key.text, new RegExp(NO_AGENCY_BODY));
    });
  });

  it("a node without the token API: the client goes on without a session token", async () => {
    await withSim(async (url, sim) => {
      sim.setMetadata({ tokenApi: false });
      sim.addServer(P, { id: "srv-1", status: "ACTIVE" });
      const clock = createManualClock();
      const client = createCloudClient(
        {
          endpoint: url,
          iamEndpoint: url,
          auth: { kind: "metadata", endpoint: url },
          requestTimeout: 2000,
          maxRequestsPerSecond: 100,
          retry: { attempts: 1, minDelay: 10, maxDelay: 20 },
        },
        { clock, logger: createSilentLogger() },
      );
      try {
        await okServer(client.getImageServer(P, "srv-1"));
      } finally {
        await client.close();
      }
      const key = sim.requests().find((r) => r.path === "/openstack/latest/securitykey");
      assert.equal(key?.status, 200);
    });
  });
});

describe("simulator: IAM securitytokens", () => {
  const assume = (duration: number, agency = "imagewatch") =>
    JSON.stringify({
      auth: {
        identity: {
          methods: ["assume_role"],
          assume_role: { domain_name: "demo", agency_name: agency, duration_seconds: duration },
        },
      },
    });
  const signed = (url: string, body: string) =>
    signRequest(
      {
        method: "POST",
        url: new URL(`${url}/v3.0/OS-CREDENTIAL/securitytokens`),
        headers: { "Content-Type": "application/json" },
        body,
      },
      { accessKey: DEFAULT_CREDENTIALS.accessKey, secretKey: DEFAULT_CREDENTIALS.secretKey },
      { now: Date.parse("2026-11-27T10:00:00.000Z") },
    );

  it("assumes a known agency for the duration asked; refuses others, bad durations and no credentials", async () => {
    await withSim(async (url) => {
      const at = `${url}/v3.0/OS-CREDENTIAL/securitytokens`;
      const ok = await call(at, "POST", signed(url, assume(900)), assume(900));
      assert.equal(ok.status, 201);
      const { credential } = JSON.parse(ok.text);
      assert.equal(Date.parse(credential.expires_at), Date.parse("2026-11-27T10:15:00.000Z"));
      assert.equal((await call(at, "POST", signed(url, assume(899)), assume(899))).status, 400);
      assert.equal((await call(at, "POST", signed(url, assume(900, "x")), assume(900, "x"))).status, 403);
      assert.equal((await call(at, "POST", { "Content-Type": "application/json" }, assume(900))).status, 401);
    });
  });
});
