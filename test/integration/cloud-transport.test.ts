/**
 * The cloud client's transport and retry behaviour against the simulator over real HTTP: timeouts in
 * each phase, resets, invalid and oversized bodies, status classification, retries and their delays,
 * Retry-After, and the per-request metric hook.
 */
import assert from "node:assert/strict";
import { createServer as createHttpServer, type ServerResponse } from "node:http";
import { createServer, type Socket } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { Agent } from "undici";
import { type CloudClient, createCloudClient } from "../../src/cloud/client.js";
import { hostPort } from "../../src/cloud/transport.js";
import type { CloudConfig } from "../../src/config/types.js";
import type { RequestOutcome } from "../../src/domain/types.js";
import { type Clock, systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { okServer, rejectsWith } from "../helpers/cloud-errors.js";
import { waitFor } from "../helpers/daemon.js";
import { createManualClock } from "../helpers/manual-clock.js";

const P = "0123456789abcdef0123456789abcdef";
const AKSK = {
  kind: "aksk",
  accessKey: "DEMOACCESSKEY0000001",
  secretKey: "demo-secret-key-0000000000000000000000000",
} as const;

interface Options {
  attempts?: number;
  minDelay?: number;
  maxDelay?: number;
  requestTimeout?: number;
  maxRequestsPerSecond?: number;
  clock?: Clock;
  /** Record waits instead of sleeping. */
  fakeSleep?: boolean;
  /** The rate limiter's time source. */
  now?: () => number;
  endpointSuffix?: string;
}

interface Harness {
  sim: Simulator;
  client: CloudClient;
  outcomes: RequestOutcome[];
  sleeps: number[];
}

async function setup(t: TestContext, o: Options = {}): Promise<Harness> {
  const sim = createSimulator();
  const { url } = await sim.start();
  sim.addServer(P, { id: "srv-1", name: "build-1", status: "BUILDING" });
  sim.addServer(P, { id: "srv-2", name: "build-2", status: "ACTIVE" });
  sim.addServer(P, { id: "srv-3", name: "build-3", status: "BUILT" });
  const harness = await clientFor(t, `${url}${o.endpointSuffix ?? ""}`, o);
  t.after(() => sim.stop());
  return { sim, ...harness };
}

async function clientFor(t: TestContext, endpoint: string, o: Options) {
  const dispatcher = new Agent();
  const outcomes: RequestOutcome[] = [];
  const sleeps: number[] = [];
  const config: CloudConfig = {
    region: "cn-north-4",
    endpoint,
    iamEndpoint: endpoint,
    auth: AKSK,
    requestTimeout: o.requestTimeout ?? 5_000,
    maxRequestsPerSecond: o.maxRequestsPerSecond ?? 1_000,
    retry: { attempts: o.attempts ?? 3, minDelay: o.minDelay ?? 5, maxDelay: o.maxDelay ?? 50 },
  };
  const client = createCloudClient(config, {
    clock: o.clock ?? systemClock,
    logger: createSilentLogger(),
    dispatcher,
    onRequest: (r) => {
      assert.equal(r.projectId, P);
      assert.ok(r.durationSeconds >= 0);
      outcomes.push(r.outcome);
    },
    random: () => 0,
    ...(o.now ? { now: o.now } : {}),
    ...(o.fakeSleep
      ? {
          sleep: async (ms: number) => {
            sleeps.push(ms);
          },
        }
      : {}),
  });
  t.after(async () => {
    await client.close();
    await dispatcher.destroy();
  });
  return { client, outcomes, sleeps };
}

// The transport's timeout is a real timer; each test has its own simulator or socket, so the waits run
// side by side. The stalls (3 s) are a margin over the timeout (800 ms, generous for a loaded machine), not a guess.
describe("timeouts (requestTimeout covers every phase)", { concurrency: true }, () => {
  it("connect: a TLS handshake that never completes → CLOUD_TIMEOUT", async (t) => {
    // Accepts TCP but never answers the ClientHello: the request is stuck in the connect phase.
    const sockets: Socket[] = [];
    const blackhole = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      for (const s of sockets) s.destroy();
      blackhole.close();
    });
    const port = (blackhole.address() as { port: number }).port;
    const h = await clientFor(t, `https://127.0.0.1:${port}`, { requestTimeout: 800, attempts: 2 });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_TIMEOUT");
    assert.equal(err.outcome, "timeout");
    assert.match(err.message, new RegExp(`to 127\\.0\\.0\\.1:${port}: no response headers within 800 ms`));
    assert.equal(err.attempts, 2, "a timeout is retried");
    assert.deepEqual(h.outcomes, ["timeout", "timeout"]);
    assert.ok(sockets.length >= 1, "the connection was made, the handshake never finished");
  });

  it("headers: no response headers in time → CLOUD_TIMEOUT, retried", async (t) => {
    const h = await setup(t, { requestTimeout: 800, attempts: 2 });
    h.sim.injectFault({ route: "get", delayMs: 3_000, count: 2 });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_TIMEOUT");
    assert.match(err.message, /no response headers within 800 ms/);
    assert.equal(err.attempts, 2);
    // Both attempts reach the simulator, though on a loaded machine the second may land after the
    // client already gave up on it.
    await waitFor(() => h.sim.counts().byRoute.get === 2, "both attempts at the simulator", 5_000, 10);
  });

  it("body: headers sent, body stalls → CLOUD_TIMEOUT", async (t) => {
    const h = await setup(t, { requestTimeout: 800, attempts: 1 });
    h.sim.injectFault({ route: "get", bodyDelayMs: 3_000 });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_TIMEOUT");
    assert.match(err.message, /response body not complete within 800 ms/);
    assert.ok(err.requestId, "the request id from the headers is kept");
    assert.deepEqual(h.outcomes, ["timeout"]);
  });

  it("a slow answer within the timeout succeeds", async (t) => {
    const h = await setup(t, { requestTimeout: 2_000, attempts: 1 });
    h.sim.injectFault({ route: "get", delayMs: 50, bodyDelayMs: 50 });
    assert.equal((await okServer(h.client.getImageServer(P, "srv-1"))).id, "srv-1");
  });
});

describe("network errors", () => {
  it("a connection reset is CLOUD_NETWORK and retried until it works", async (t) => {
    const h = await setup(t, { attempts: 3 });
    h.sim.injectFault({ route: "get", reset: true, count: 2 });
    assert.equal((await okServer(h.client.getImageServer(P, "srv-1"))).id, "srv-1");
    assert.deepEqual(h.outcomes, ["network", "network", "success"]);
  });

  it("gives up after `attempts` tries with CLOUD_NETWORK", async (t) => {
    const h = await setup(t, { attempts: 3 });
    h.sim.injectFault({ route: "get", reset: true, count: 10 });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_NETWORK");
    assert.equal(err.attempts, 3);
    assert.equal(err.retryable, true);
    assert.equal(h.sim.counts().byRoute.get, 3);
  });

  it("a body larger than 16 MiB is CLOUD_INVALID_RESPONSE, read no further, not retried", async (t) => {
    let written = 0;
    let closed = false;
    const chunk = Buffer.alloc(1024 * 1024, 97);
    const huge = createHttpServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "x-request-id": "req-huge" });
      const more = () => {
        while (!closed && written < 64 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", more);
        }
        res.end();
      };
      res.once("close", () => {
        closed = true;
      });
      more();
    });
    await new Promise<void>((resolve) => huge.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise<void>((resolve) => huge.close(() => resolve())));
    const port = (huge.address() as { port: number }).port;
    const h = await clientFor(t, `http://127.0.0.1:${port}`, {});
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_INVALID_RESPONSE");
    assert.match(err.message, /response body larger than 16777216 bytes/);
    assert.equal(err.requestId, "req-huge");
    assert.deepEqual(h.outcomes, ["invalid_response"], "one request, not retried");
    await waitFor(() => closed, "the connection to be dropped");
    assert.ok(written < 64 * 1024 * 1024, `stopped reading (${written} bytes written)`);
  });

  it("a refused connection is CLOUD_NETWORK", async (t) => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const h = await clientFor(t, `http://127.0.0.1:${port}`, { attempts: 2 });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_NETWORK");
    assert.match(err.message, new RegExp(`to 127\\.0\\.0\\.1:${port}: network error \\(ECONNREFUSED\\)`));
    assert.deepEqual(h.outcomes, ["network", "network"]);
  });

  it("names host:port, never userinfo or query, and the default port when none is written", async (t) => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const h = await clientFor(t, `http://alice:pa55word@127.0.0.1:${port}`, { attempts: 1 });
    const err = await rejectsWith(h.client.listImageServers(P, { serverName: "build-" }), "CLOUD_NETWORK");
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    for (const leak of ["alice", "pa55word", "limit=", "server_name", "build-"]) {
      assert.ok(!err.message.includes(leak), `${leak} in: ${err.message}`);
    }
    assert.equal(hostPort(new URL("https://u:p@iam.example.com/v3?x=1")), "iam.example.com:443");
    assert.equal(hostPort(new URL("http://[::1]/")), "[::1]:80");
  });
});

describe("invalid responses (never retried)", () => {
  const cases: [string, "get" | "list", object][] = [
    ["malformed JSON (GET)", "get", { malformedJson: true }],
    ["malformed JSON (list)", "list", { malformedJson: true }],
    ["wrong shape (GET)", "get", { wrongShape: true }],
    ["wrong shape (list)", "list", { wrongShape: true }],
    [
      "an error object in a 200",
      "get",
      { status: 200, body: { error_code: "WKS.0003", error_msg: "internal" } },
    ],
    ["an empty 200", "get", { status: 200, body: "" }],
  ];
  for (const [name, route, fault] of cases) {
    it(`${name} → CLOUD_INVALID_RESPONSE after one request`, async (t) => {
      const h = await setup(t, { attempts: 4 });
      h.sim.injectFault({ route, count: 4, ...fault });
      const call = route === "get" ? h.client.getImageServer(P, "srv-1") : h.client.listImageServers(P);
      const err = await rejectsWith(call, "CLOUD_INVALID_RESPONSE");
      assert.equal(err.outcome, "invalid_response");
      assert.equal(err.attempts, 1);
      assert.equal(h.sim.counts().total, 1);
      assert.deepEqual(h.outcomes, ["invalid_response"]);
    });
  }

  it("quotes at most 200 characters of the body", async (t) => {
    const h = await setup(t);
    h.sim.injectFault({ route: "get", status: 200, body: `{"oops": "${"x".repeat(5_000)}` });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_INVALID_RESPONSE");
    const quoted = err.message.split("body: ")[1] ?? "";
    assert.ok(quoted.startsWith('{"oops": "xxx'), err.message);
    assert.ok(quoted.length <= 200, `${quoted.length} chars quoted`);
  });
});

describe("bounded answers (a server object is stored and serialised whole)", () => {
  const deep = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
  const cases: [string, "get" | "list", string][] = [
    [
      "a field nested 100,000 levels deep (GET)",
      "get",
      `{"id":"srv-1","status":"ACTIVE","x":${deep(100_000)}}`,
    ],
    [
      "a field nested 100,000 levels deep (an item of a list page)",
      "list",
      `{"count":1,"items":[{"id":"srv-1","x":${deep(100_000)}}]}`,
    ],
    ["a string of 2 MiB (GET)", "get", `{"id":"srv-1","x":"${"y".repeat(2 * 1024 * 1024)}"}`],
    ["200,000 values (GET)", "get", `{"id":"srv-1","x":[${Array(200_000).fill(0).join(",")}]}`],
  ];
  for (const [name, route, body] of cases) {
    it(`${name} → CLOUD_INVALID_RESPONSE, counted once, never retried, a short message`, async (t) => {
      const h = await setup(t, { attempts: 4 });
      h.sim.injectFault({ route, status: 200, body, count: 4 });
      const call = route === "get" ? h.client.getImageServer(P, "srv-1") : h.client.listImageServers(P);
      const err = await rejectsWith(call, "CLOUD_INVALID_RESPONSE");
      assert.equal(err.outcome, "invalid_response");
      assert.equal(err.attempts, 1);
      assert.deepEqual(h.outcomes, ["invalid_response"]);
      assert.equal(h.sim.counts().total, 1);
      assert.match(String(err.requestId), /^[0-9a-f]{32}$/, "the request id, for the one log line");
      assert.match(
        err.message,
        /unexpected shape \(image server (nested deeper than 32 levels|holds more than|has more than)/,
      );
      assert.ok(err.message.length < 500, `a ${err.message.length}-character message`);
      JSON.stringify(err);
    });
  }

  it("a server nested 30 levels deep is accepted", async (t) => {
    const h = await setup(t);
    h.sim.injectFault({ route: "get", status: 200, body: `{"id":"srv-1","x":${deep(30)}}` });
    const server = await okServer(h.client.getImageServer(P, "srv-1"));
    assert.equal(JSON.stringify(server.raw).length, 19 + 60);
  });
});

describe("status classification", () => {
  it("404 of a missing server is the answer not_found (with its request id), not an error, not retried", async (t) => {
    const h = await setup(t, { attempts: 4 });
    const answer = await h.client.getImageServer(P, "no-such-server");
    assert.equal(answer.kind, "not_found");
    assert.match(String(answer.kind === "not_found" && answer.requestId), /^[0-9a-f]{32}$/);
    assert.deepEqual(h.outcomes, ["not_found"]);
    assert.equal(h.sim.counts().total, 1);
  });

  it("404 APIGW.0101 (wrong endpoint path) is CLOUD_HTTP_4XX, never 'not found'", async (t) => {
    const h = await setup(t, { endpointSuffix: "/wrong-prefix" });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_HTTP_4XX");
    assert.equal(err.errorCode, "APIGW.0101");
    const listErr = await rejectsWith(h.client.listImageServers(P), "CLOUD_HTTP_4XX");
    assert.equal(listErr.outcome, "http_4xx");
  });

  const noRetry: [number, string, RequestOutcome][] = [
    [400, "CLOUD_HTTP_4XX", "http_4xx"],
    [403, "CLOUD_AUTH", "auth"],
    [405, "CLOUD_HTTP_4XX", "http_4xx"],
    [409, "CLOUD_HTTP_4XX", "http_4xx"],
    [501, "CLOUD_HTTP_5XX", "http_5xx"],
  ];
  for (const [status, code, outcome] of noRetry) {
    it(`${status} → ${code}, one request`, async (t) => {
      const h = await setup(t, { attempts: 4 });
      h.sim.injectFault({ route: "get", status, count: 4 });
      const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), code);
      assert.equal(err.httpStatus, status);
      assert.equal(err.attempts, 1);
      assert.deepEqual(h.outcomes, [outcome]);
    });
  }

  for (const status of [500, 502, 503, 504]) {
    it(`${status} is retried with backoff and counted once per request`, async (t) => {
      const h = await setup(t, { attempts: 4, minDelay: 10, maxDelay: 1_000, fakeSleep: true });
      h.sim.injectFault({ route: "get", status, count: 2 });
      assert.equal((await okServer(h.client.getImageServer(P, "srv-1"))).id, "srv-1");
      assert.deepEqual(h.outcomes, ["http_5xx", "http_5xx", "success"]);
      assert.deepEqual(h.sleeps, [10, 20], "exponential backoff from minDelay");
    });
  }

  it("exhausted retries report the total number of tries", async (t) => {
    const h = await setup(t, { attempts: 3, fakeSleep: true });
    h.sim.injectFault({ route: "get", status: 503, count: 10 });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_HTTP_5XX");
    assert.equal(err.attempts, 3);
    assert.equal(err.errorCode, "WKS.0003");
    assert.equal(h.sim.counts().byRoute.get, 3);
    assert.equal(h.outcomes.length, 3);
  });

  it('statuses are normalised: missing and "null" → UNKNOWN, unknown strings kept', async (t) => {
    const h = await setup(t);
    h.sim.setStatus(P, "srv-1", "null");
    h.sim.setStatus(P, "srv-2", null);
    h.sim.setStatus(P, "srv-3", "HIBERNATING");
    const byId = new Map((await h.client.listImageServers(P)).map((s) => [s.id, s.status]));
    assert.deepEqual(Object.fromEntries(byId), {
      "srv-1": "UNKNOWN",
      "srv-2": "UNKNOWN",
      "srv-3": "HIBERNATING",
    });
    assert.equal(
      (await okServer(h.client.getImageServer(P, "srv-1"))).raw.status,
      "null",
      "raw keeps the API value",
    );
  });
});

describe("Retry-After and throttling", () => {
  it("honours Retry-After in seconds", async (t) => {
    const h = await setup(t, { attempts: 2, minDelay: 10, maxDelay: 5_000, fakeSleep: true });
    h.sim.injectFault({ route: "get", status: 503, retryAfter: 2 });
    await h.client.getImageServer(P, "srv-1");
    assert.deepEqual(h.sleeps, [2_000]);
  });

  it("honours Retry-After as an HTTP date, relative to the injected clock", async (t) => {
    // A whole second near the real time: signatures stay valid and the date has no fraction to lose.
    const clock = createManualClock(Math.floor(Date.now() / 1000) * 1000);
    const h = await setup(t, { attempts: 2, minDelay: 10, maxDelay: 5_000, fakeSleep: true, clock });
    h.sim.injectFault({ route: "get", status: 503, retryAfter: new Date(clock.now() + 3_000).toUTCString() });
    await h.client.getImageServer(P, "srv-1");
    assert.deepEqual(h.sleeps, [3_000]);
  });

  it("caps Retry-After at maxDelay", async (t) => {
    const h = await setup(t, { attempts: 2, minDelay: 10, maxDelay: 1_500, fakeSleep: true });
    h.sim.injectFault({ route: "get", status: 503, retryAfter: 120 });
    await h.client.getImageServer(P, "srv-1");
    assert.deepEqual(h.sleeps, [1_500]);
  });

  it("a 429 is CLOUD_THROTTLED and retried; Retry-After sets the wait", async (t) => {
    const h = await setup(t, { attempts: 3, minDelay: 10, maxDelay: 5_000, fakeSleep: true });
    h.sim.injectFault({ route: "get", status: 429, retryAfter: 1 });
    await h.client.getImageServer(P, "srv-1");
    assert.deepEqual(h.outcomes, ["throttled", "success"]);
    assert.equal(h.sleeps[0], 1_000, "the retry waited Retry-After");
  });

  it("exhausted 429s fail with CLOUD_THROTTLED and the gateway code", async (t) => {
    const h = await setup(t, { attempts: 2, fakeSleep: true });
    h.sim.injectFault({ route: "get", status: 429, count: 5 });
    const err = await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_THROTTLED");
    assert.equal(err.errorCode, "APIGW.0308");
    assert.equal(err.outcome, "throttled");
    assert.equal(err.attempts, 2);
  });

  it("a 429 slows every request to the endpoint, not just the throttled one", async (t) => {
    // The limiter's clock stands still and sleeps are recorded, so every wait is computed, not timed.
    const pause = 300;
    const h = await setup(t, {
      attempts: 3,
      minDelay: pause,
      maxDelay: 5_000,
      maxRequestsPerSecond: 50,
      fakeSleep: true,
      now: () => 1_000,
    });
    h.sim.injectFault({ route: "get", serverId: "srv-1", status: 429 });
    await okServer(h.client.getImageServer(P, "srv-1"));
    assert.deepEqual(h.outcomes, ["throttled", "success"]);
    assert.deepEqual(h.sleeps, [pause, pause], "the retry's backoff, then the endpoint's pause");
    h.sleeps.length = 0;
    // Two other servers: they wait for the endpoint's pause too, then go at the halved rate (25/s:
    // 40 ms apart) without the burst 50/s would allow.
    const others = await Promise.all([
      okServer(h.client.getImageServer(P, "srv-2")),
      okServer(h.client.getImageServer(P, "srv-3")),
    ]);
    assert.deepEqual(
      others.map((s) => s.id),
      ["srv-2", "srv-3"],
    );
    assert.deepEqual(
      [...h.sleeps].sort((a, b) => a - b),
      [pause + 40, pause + 80],
    );
  });
});

describe("cancellation", () => {
  it("an aborted call rejects with the caller's reason and is not counted as an outcome", async (t) => {
    // A server that takes the request and never answers: the abort comes once it has arrived.
    const held: ServerResponse[] = [];
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const silent = createHttpServer((_req, res) => {
      held.push(res);
      arrived();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      silent.closeAllConnections();
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    const h = await clientFor(t, `http://127.0.0.1:${port}`, { requestTimeout: 30_000 });
    const controller = new AbortController();
    const call = h.client.getImageServer(P, "srv-1", { signal: controller.signal });
    await requestArrived;
    const reason = new Error("shutting down");
    controller.abort(reason);
    await assert.rejects(call, (e: unknown) => e === reason);
    assert.deepEqual(h.outcomes, []);
    assert.equal(held.length, 1, "one request, not retried");
  });

  it("a closed client refuses new calls", async (t) => {
    const h = await setup(t);
    await h.client.close();
    await rejectsWith(h.client.getImageServer(P, "srv-1"), "CLOUD_NETWORK");
    assert.equal(h.sim.counts().total, 0);
  });
});
