/**
 * Credentials without long-lived keys, and several clouds in one process, against the simulator on a
 * manual clock: `metadata` keys expire and are refreshed with no failed call and never used past their
 * expiry; the simulator refuses them after expiry or without their security token; `agency` from an
 * `aksk` source; a node without an agency is one clear `auth` failure of the target's poll; two clouds
 * are polled each with its own credentials, endpoint and flow control. Every log line of all of it, at
 * debug level, is searched for every credential at the end.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, describe, it } from "node:test";
import { request } from "undici";
import { createApp } from "../../src/app.js";
import type { AgencyAuth } from "../../src/cloud/auth/agency.js";
import { NO_AGENCY_MESSAGE } from "../../src/cloud/auth/metadata.js";
import { type CloudClient, createCloudClient } from "../../src/cloud/client.js";
import { createCloudClients } from "../../src/cloud/clouds.js";
import { toPollError } from "../../src/cloud/errors.js";
import { parseConfigText } from "../../src/config/load.js";
import type { AuthConfig, CloudConfig } from "../../src/config/types.js";
import { createLogger } from "../../src/lib/logger.js";
import { JobBook } from "../../src/poller/job-book.js";
import { pollTarget, ServerStates, TargetStates } from "../../src/poller/poll-target.js";
import {
  createSimulator,
  DEFAULT_CREDENTIALS,
  emptyScenario,
  type Simulator,
  type TemporaryCredential,
} from "../../src/simulator/index.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import { okServer, rejectsWith } from "../helpers/cloud-errors.js";
import { waitFor } from "../helpers/daemon.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";

const P = "0123456789abcdef0123456789abcdef";
const P2 = "fedcba9876543210fedcba9876543210";
const MIN = 60_000;
const EU_CREDENTIALS = {
  ...DEFAULT_CREDENTIALS,
  accessKey: "EUACCESSKEY000000002",
  secretKey: "eu-secret-key-22222222222222222222222222",
};

/** Every log line of this file, at debug level. */
const lines: string[] = [];
const logger = createLogger(
  { level: "debug", format: "json" },
  new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  }),
);
/** Every simulator of this file, for the credentials they issued. */
const sims: Simulator[] = [];
const clients: CloudClient[] = [];
const errors: string[] = [];

after(async () => {
  for (const c of clients) await c.close();
  for (const s of sims) await s.stop();
});

async function startSim(clock?: ManualClock, credentials = DEFAULT_CREDENTIALS) {
  const sim = createSimulator({ ...(clock ? { clock } : {}), scenario: { ...emptyScenario(), credentials } });
  sims.push(sim);
  const { url } = await sim.start();
  sim.addServer(P, { id: "srv-1", name: "build-1", status: "BUILDING" });
  return { sim, url };
}

function cloudConfig(url: string, auth: AuthConfig, over: Partial<CloudConfig> = {}): CloudConfig {
  return {
    region: "cn-north-4",
    endpoint: url,
    iamEndpoint: url,
    auth,
    requestTimeout: 2000,
    maxRequestsPerSecond: 1000,
    retry: { attempts: 1, minDelay: 1000, maxDelay: 2000 },
    ...over,
  };
}

function makeClient(config: CloudConfig, clock: ManualClock, outcomes: string[] = []): CloudClient {
  const client = createCloudClient(config, {
    clock,
    logger,
    onTokenRefresh: (o) => outcomes.push(o),
  });
  clients.push(client);
  return client;
}

const agency = (over: Partial<AgencyAuth> = {}): AuthConfig =>
  ({
    kind: "agency",
    domainName: "demo",
    agencyName: "imagewatch",
    duration: 15 * MIN,
    source: {
      kind: "aksk",
      accessKey: DEFAULT_CREDENTIALS.accessKey,
      secretKey: DEFAULT_CREDENTIALS.secretKey,
    },
    ...over,
  }) as AuthConfig;

/** Asserts every signed API request named temporary keys that were valid when it arrived. */
function assertNoExpiredKeySent(sim: Simulator): void {
  const issued = new Map<string, TemporaryCredential>(
    sim.temporaryCredentials().map((c) => [c.accessKey, c]),
  );
  for (const r of sim.requests().filter((q) => q.route === "get" || q.route === "list")) {
    const c = issued.get(r.accessKey ?? "");
    assert.ok(c, `request at ${r.at} signed with temporary keys`);
    assert.ok(r.at < c.expiresAt, `request at ${r.at} used keys that expired at ${c.expiresAt}`);
  }
}

describe("temporary credentials and several clouds", () => {
  it("metadata: keys expire and are refreshed ahead of time, with no failed call and no expired key sent", async () => {
    const clock = createManualClock();
    const { sim, url } = await startSim(clock);
    sim.setMetadata({ lifetimeMs: 10 * MIN });
    const outcomes: string[] = [];
    const client = makeClient(cloudConfig(url, { kind: "metadata", endpoint: url }), clock, outcomes);
    for (let i = 0; i < 40; i++) {
      await okServer(client.getImageServer(P, "srv-1"));
      await clock.advance(MIN);
    }
    const api = sim.requests().filter((r) => r.route === "get");
    assert.equal(api.length, 40);
    assert.ok(api.every((r) => r.status === 200 && r.auth === "temporary"));
    const keys = sim.requests().filter((r) => r.path === "/openstack/latest/securitykey");
    // 10-minute keys, refreshed at half their life: 8 fetches in 40 minutes, never more than one at once.
    assert.equal(keys.length, 8);
    assert.ok(outcomes.length === 8 && outcomes.every((o) => o === "success"));
    assert.equal(sim.requests().filter((r) => r.path === "/meta-data/latest/api/token").length, 1);
    assertNoExpiredKeySent(sim);
  });

  it("metadata: an expired session token is replaced once, and the keys still come", async () => {
    const clock = createManualClock();
    const { sim, url } = await startSim(clock);
    const client = makeClient(cloudConfig(url, { kind: "metadata", endpoint: url }), clock);
    await okServer(client.getImageServer(P, "srv-1"));
    await clock.advance(7 * 3_600_000); // past the 6-hour session token and the 1-hour keys
    await okServer(client.getImageServer(P, "srv-1"));
    const paths = sim.requests().map((r) => `${r.status} ${r.path}`);
    assert.deepEqual(
      paths.filter((p) => !p.includes("/v1/")),
      [
        "200 /meta-data/latest/api/token",
        "200 /openstack/latest/securitykey",
        "401 /openstack/latest/securitykey",
        "200 /meta-data/latest/api/token",
        "200 /openstack/latest/securitykey",
      ],
    );
  });

  it("metadata: concurrent calls share one fetch (single flight)", async () => {
    const clock = createManualClock();
    const { sim, url } = await startSim(clock);
    const client = makeClient(cloudConfig(url, { kind: "metadata", endpoint: url }), clock);
    await Promise.all(Array.from({ length: 10 }, () => okServer(client.getImageServer(P, "srv-1"))));
    assert.equal(sim.requests().filter((r) => r.path === "/openstack/latest/securitykey").length, 1);
  });

  it("the simulator accepts temporary keys only with their security token, and only until they expire", async () => {
    const clock = createManualClock();
    const { sim, url } = await startSim(clock);
    const tmp = sim.issueTemporaryCredentials(2 * MIN);
    const aksk = (securityToken?: string): AuthConfig => ({
      kind: "aksk",
      accessKey: tmp.accessKey,
      secretKey: tmp.secretKey,
      ...(securityToken ? { securityToken } : {}),
    });
    const withToken = makeClient(cloudConfig(url, aksk(tmp.securityToken)), clock);
    await okServer(withToken.getImageServer(P, "srv-1"));
    const noToken = makeClient(cloudConfig(url, aksk()), clock);
    const refused = await rejectsWith(noToken.getImageServer(P, "srv-1"), "CLOUD_AUTH");
    assert.match(refused.errorMsg ?? "", /security token invalid/);
    await clock.advance(2 * MIN);
    const expired = await rejectsWith(withToken.getImageServer(P, "srv-1"), "CLOUD_AUTH");
    assert.equal(expired.errorCode, "APIGW.0301");
    assert.match(expired.errorMsg ?? "", /expired/);
    errors.push(refused.message, expired.message);
  });

  it("agency from an aksk source: assumed with the source's signature, refreshed before expiry", async () => {
    const clock = createManualClock();
    const { sim, url } = await startSim(clock);
    const outcomes: string[] = [];
    const client = makeClient(cloudConfig(url, agency()), clock, outcomes);
    await okServer(client.getImageServer(P, "srv-1"));
    await clock.advance(8 * MIN); // past half of the 15-minute life
    await okServer(client.getImageServer(P, "srv-1"));
    const assumed = sim.requests().filter((r) => r.route === "securitytokens");
    assert.equal(assumed.length, 2);
    assert.ok(assumed.every((r) => r.status === 201 && r.auth === "aksk"));
    assert.ok(assumed.every((r) => r.accessKey === DEFAULT_CREDENTIALS.accessKey));
    assert.deepEqual(outcomes, ["success", "success"]);
    assert.ok(
      sim
        .requests()
        .filter((r) => r.route === "get")
        .every((r) => r.auth === "temporary"),
    );
    assertNoExpiredKeySent(sim);

    const unknown = makeClient(cloudConfig(url, agency({ agencyName: "nope" })), clock, outcomes);
    const err = await rejectsWith(unknown.getImageServer(P, "srv-1"), "CLOUD_AUTH");
    assert.equal(toPollError(err).kind, "auth");
    assert.match(err.message, /demo\/nope failed: HTTP 403/);
    assert.deepEqual(outcomes, ["success", "success", "failure"]);
    errors.push(err.message);
  });

  it("agency from a metadata source: the node's keys sign the assume-role call", async () => {
    const clock = createManualClock();
    const { sim, url } = await startSim(clock);
    const client = makeClient(
      cloudConfig(url, agency({ source: { kind: "metadata", endpoint: url } as never })),
      clock,
    );
    await okServer(client.getImageServer(P, "srv-1"));
    const assumed = sim.requests().filter((r) => r.route === "securitytokens");
    assert.equal(assumed.length, 1);
    assert.equal(assumed[0]?.auth, "temporary");
  });

  it("agency from a password source: the IAM token authenticates the assume-role call", async () => {
    const clock = createManualClock();
    const { sim, url } = await startSim(clock);
    const { domain, username, password } = DEFAULT_CREDENTIALS;
    const client = makeClient(
      cloudConfig(url, agency({ source: { kind: "password", domain, username, password } as never })),
      clock,
    );
    await okServer(client.getImageServer(P, "srv-1"));
    const routes = sim.requests().map((r) => `${r.route} ${r.auth} ${r.status}`);
    assert.deepEqual(routes, ["token password 201", "securitytokens token 201", "get temporary 200"]);
  });

  it("a node without an agency: one clear auth error, the target's poll fails with kind auth, counted", async () => {
    const clock = createManualClock();
    const { sim, url } = await startSim(clock);
    sim.setMetadata({ agency: false });
    const outcomes: string[] = [];
    const client = makeClient(cloudConfig(url, { kind: "metadata", endpoint: url }), clock, outcomes);
    const err = await rejectsWith(client.getImageServer(P, "srv-1"), "CLOUD_AUTH");
    assert.equal(err.message, NO_AGENCY_MESSAGE);
    assert.equal(err.outcome, "auth");
    assert.deepEqual(toPollError(err), { kind: "auth", http_status: 401, error_msg: NO_AGENCY_MESSAGE });
    errors.push(err.message);

    // The whole target's poll, as the daemon runs it: the failure is the server's, kind auth, no crash.
    const { config } = parseConfigText(
      `cloud: { endpoint: ${url}, auth: { kind: metadata, endpoint: ${url} }, retry: { attempts: 1 } }
targets: [{ projectId: ${P}, serverIds: [srv-1, srv-2] }]
state: { path: ":memory:" }
`,
      {},
      "no-agency.yaml",
    );
    const store = openSqliteStore(":memory:", { clock, logger });
    const states = new ServerStates();
    try {
      const summary = await pollTarget(config.targets[0]!, {
        cloud: client,
        store,
        states,
        targets: new TargetStates(),
        jobBook: new JobBook(store),
        clock,
        logger,
        config: () => config,
        memory: new Map(),
        force: true,
      });
      assert.equal(summary.failed, 2);
      assert.deepEqual(states.get(P, "srv-1")?.lastError, toPollError(err));
    } finally {
      store.close();
    }
    // One ask of the metadata service per retry window, not one per request: one failure counted.
    assert.deepEqual(outcomes, ["failure"]);
    assert.equal(sim.requests().filter((r) => r.route === "get" || r.route === "list").length, 0);
    assert.ok(
      lines.some(
        (l) => l.includes("temporary credentials could not be had") && l.includes(NO_AGENCY_MESSAGE),
      ),
      "the reason is logged in plain words",
    );
  });

  it("two clouds: each target through its own cloud's credentials, endpoint and flow control", async () => {
    const clock = createManualClock();
    const a = await startSim(clock);
    const b = await startSim(clock, EU_CREDENTIALS);
    b.sim.addServer(P2, { id: "eu-1", status: "ACTIVE" });
    // Cloud A is throttled: its limiter waits out the 429's Retry-After; cloud B's must not wait at all.
    a.sim.injectFault({ route: "get", status: 429, count: 2, retryAfter: 1 });
    const waits: Record<string, number[]> = { default: [], eu: [] };
    const set = createCloudClients(
      {
        default: cloudConfig(
          a.url,
          { kind: "metadata", endpoint: a.url },
          {
            retry: { attempts: 4, minDelay: 10, maxDelay: 2000 },
          },
        ),
        eu: cloudConfig(b.url, {
          kind: "aksk",
          accessKey: EU_CREDENTIALS.accessKey,
          secretKey: EU_CREDENTIALS.secretKey,
        }),
      },
      (name, config) => {
        const client = createCloudClient(config, {
          clock,
          logger: logger.child({ cloud: name }),
          sleep: async (ms) => {
            waits[name]?.push(ms);
          },
          now: () => clock.now(),
        });
        clients.push(client);
        return client;
      },
    );
    const targetA = { projectId: P };
    const targetB = { projectId: P2, cloud: "eu" };
    const [ra, rb] = await Promise.all([
      set.forTarget(targetA).getImageServer(P, "srv-1"),
      Promise.all(Array.from({ length: 5 }, () => set.forTarget(targetB).getImageServer(P2, "eu-1"))),
    ]);
    assert.equal(ra.kind, "ok");
    assert.ok(rb.every((r) => r.kind === "ok"));
    assert.ok(
      (waits.default ?? []).some((ms) => ms >= 1000),
      `cloud A waited out its 429: ${waits.default}`,
    );
    assert.deepEqual(waits.eu, [], "cloud B never waited");
    // Each endpoint saw only its own project and its own keys.
    assert.ok(a.sim.requests().every((r) => !r.path.includes(P2)));
    assert.ok(b.sim.requests().every((r) => !r.path.includes(`/${P}/`)));
    assert.ok(
      b.sim
        .requests()
        .every((r) => r.accessKey === EU_CREDENTIALS.accessKey && r.status === 200 && r.auth === "aksk"),
    );
    assert.ok(a.sim.requests().some((r) => r.status === 429));
    assertNoExpiredKeySent(a.sim);
  });

  it("the daemon polls each target through its cloud, and labels target_info with it", async (t) => {
    const a = await startSim();
    const b = await startSim(undefined, EU_CREDENTIALS);
    b.sim.addServer(P2, { id: "eu-1", status: "ACTIVE" });
    const loaded = parseConfigText(
      `cloud: { region: cn-north-4, endpoint: ${a.url}, iamEndpoint: ${a.url}, auth: { kind: metadata, endpoint: ${a.url} } }
clouds:
  eu:
    region: eu-west-101
    endpoint: ${b.url}
    auth: { kind: aksk, accessKey: ${EU_CREDENTIALS.accessKey}, secretKeyFile: sk }
targets:
  - { projectId: ${P}, serverIds: [srv-1] }
  - { projectId: ${P2}, serverIds: [eu-1], cloud: eu }
server: { listen: "127.0.0.1:0" }
state: { path: ":memory:" }
log: { level: debug }
`,
      {},
      "two-clouds.yaml",
      { readFile: () => `${EU_CREDENTIALS.secretKey}\n` },
    );
    const app = createApp(loaded, { logger, env: {} });
    const { url } = await app.start();
    t.after(() => app.stop());
    await waitFor(
      async () =>
        a.sim.requests().some((r) => r.route === "get" && r.status === 200) &&
        b.sim.requests().some((r) => r.route === "get" && r.status === 200),
      "both clouds polled",
    );
    assert.ok(
      a.sim
        .requests()
        .filter((r) => r.route === "get")
        .every((r) => r.auth === "temporary"),
    );
    assert.ok(b.sim.requests().every((r) => r.accessKey === EU_CREDENTIALS.accessKey));
    const res = await request(`${url}/metrics`);
    const text = await res.body.text();
    assert.match(text, /target_info\{[^}]*cloud="eu"[^}]*\} 1/);
    assert.match(
      text,
      /target_info\{[^}]*cloud="eu"[^}]*region="eu-west-101"|region="eu-west-101"[^}]*cloud="eu"/,
    );
    assert.match(text, /target_info\{[^}]*cloud="default"/);
  });

  it("a daemon on a node without an agency: the target is down from its first tick, the reason in the API", async (t) => {
    const a = await startSim();
    a.sim.setMetadata({ agency: false });
    const loaded = parseConfigText(
      `cloud: { region: cn-north-4, endpoint: ${a.url}, iamEndpoint: ${a.url}, auth: { kind: metadata, endpoint: ${a.url} }, retry: { attempts: 1 } }
targets:
  - { projectId: ${P}, serverIds: [srv-1, srv-2], jobs: false }
server: { listen: "127.0.0.1:0" }
state: { path: ":memory:" }
log: { level: debug }
`,
      {},
      "no-agency-daemon.yaml",
    );
    const app = createApp(loaded, { logger, env: {} });
    const { url } = await app.start();
    t.after(() => app.stop());
    await waitFor(() => app.isReady(), "the first tick");
    const text = await (await request(`${url}/metrics`)).body.text();
    assert.match(text, new RegExp(`^imagewatch_target_up\\{project_id="${P}"\\} 0$`, "m"));
    assert.match(text, /^imagewatch_auth_token_refreshes_total\{outcome="failure"\} [1-9]/m);
    const targets = (await (await request(`${url}/api/v1/targets`)).body.json()) as {
      targets: Array<{ up: boolean; last_error: { kind: string; error_msg?: string } | null }>;
    };
    assert.equal(targets.targets[0]?.up, false);
    assert.equal(targets.targets[0]?.last_error?.kind, "auth");
    assert.equal(targets.targets[0]?.last_error?.error_msg, NO_AGENCY_MESSAGE);
    errors.push(NO_AGENCY_MESSAGE);
  });

  it("no log line or error message of any of the above holds a credential", () => {
    const secrets = [
      DEFAULT_CREDENTIALS.accessKey,
      DEFAULT_CREDENTIALS.secretKey,
      DEFAULT_CREDENTIALS.password,
      EU_CREDENTIALS.accessKey,
      EU_CREDENTIALS.secretKey,
      ...sims.flatMap((s) =>
        s.temporaryCredentials().flatMap((c) => [c.accessKey, c.secretKey, c.securityToken]),
      ),
    ];
    assert.ok(secrets.length > 20, "temporary credentials were issued");
    assert.ok(lines.length > 50, "debug lines were captured");
    const text = [...lines, ...errors].join("\n");
    for (const s of secrets) assert.ok(!text.includes(s), `a credential leaked: ${s.slice(0, 4)}…`);
    // Metadata session tokens (MDS…), signatures (64 hex characters), security tokens (gQ…), IAM tokens.
    assert.doesNotMatch(text, /MDS[A-Za-z0-9_-]{20,}/);
    assert.doesNotMatch(text, /[0-9a-f]{64}/);
    assert.doesNotMatch(text, /gQ[A-Za-z0-9_-]{40,}/);
    assert.doesNotMatch(text, /MII[A-Za-z0-9_-]{20,}/, "an IAM token (agency's password source)");
  });
});
