import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { Agent, request } from "undici";
import { createSimulator, normaliseScenario, type Simulator } from "../../src/simulator/index.js";
import { createManualClock } from "../helpers/manual-clock.js";

const P = "0123456789abcdef0123456789abcdef";
const agent = new Agent();
const clock = createManualClock("2026-11-27T10:00:00.000Z");
let sim: Simulator;
let token: string;

const GET_PATH = `/v1/${P}/image-servers/s1`;
const LIST_PATH = `/v1/${P}/image-servers?limit=100`;

/** A simulator to send to, and a token it accepts. */
interface Target {
  sim: Simulator;
  token: string;
}

function raw(
  path: string,
  opts: { method?: string; headersTimeout?: number; bodyTimeout?: number } = {},
  to: Target = { sim, token },
) {
  return request(`${to.sim.url}${path}`, {
    method: (opts.method ?? "GET") as "GET",
    headers: { "X-Auth-Token": to.token },
    dispatcher: agent,
    ...(opts.headersTimeout === undefined ? {} : { headersTimeout: opts.headersTimeout }),
    ...(opts.bodyTimeout === undefined ? {} : { bodyTimeout: opts.bodyTimeout }),
  });
}

async function fetchText(path: string, to?: Target) {
  const res = await raw(path, {}, to);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** Starts a simulator with two servers in project P. */
async function startSim(): Promise<Target> {
  const started = createSimulator({
    clock,
    scenario: normaliseScenario({
      credentials: { accessKey: "AK", secretKey: "SK", domain: "d", username: "u", password: "p" },
      projects: [
        {
          id: P,
          servers: [
            { id: "s1", name: "one", status: "BUILDING" },
            { id: "s2", name: "two" },
          ],
        },
      ],
    }),
  });
  await started.start();
  return { sim: started, token: started.issueToken().token };
}

/** A simulator of one test's own (stopped when it ends), so timing tests can run side by side. */
async function ownSim(t: { after(fn: () => Promise<void>): void }): Promise<Target> {
  const target = await startSim();
  t.after(() => target.sim.stop());
  return target;
}

before(async () => {
  ({ sim, token } = await startSim());
});

after(async () => {
  await sim.stop();
  await agent.close();
});

beforeEach(() => {
  sim.clearFaults();
  sim.resetCounters();
});

describe("status faults", () => {
  it("answers the injected status and body for the next N requests, then normally", async () => {
    const body = { error_code: "WKS.0001", error_msg: "service busy" };
    sim.injectFault({ status: 503, body, count: 2 });
    for (let i = 0; i < 2; i++) {
      const res = await fetchText(GET_PATH);
      assert.equal(res.status, 503);
      assert.deepEqual(JSON.parse(res.text), body);
      assert.match(String(res.headers["x-request-id"]), /^[0-9a-f]{32}$/);
    }
    const normal = await fetchText(GET_PATH);
    assert.equal(normal.status, 200);
    assert.equal(JSON.parse(normal.text).id, "s1");
    assert.deepEqual(
      sim.requests().map((r) => r.status),
      [503, 503, 200],
    );
    assert.equal(sim.requests()[0]?.fault?.status, 503);
    assert.equal(sim.pendingFaults().length, 0);
  });

  it("sends 429 APIGW.0308 with a Retry-After header and request_id by default", async () => {
    sim.injectFault({ status: 429, retryAfter: 3 });
    const res = await fetchText(GET_PATH);
    assert.equal(res.status, 429);
    assert.equal(res.headers["retry-after"], "3");
    const json = JSON.parse(res.text);
    assert.equal(json.error_code, "APIGW.0308");
    assert.equal(json.request_id, res.headers["x-request-id"]);
  });

  it("hits only the matching route and method", async () => {
    sim.injectFault({ route: "list", status: 500 });
    assert.equal((await fetchText(GET_PATH)).status, 200, "a get is not a list");
    assert.equal((await fetchText(LIST_PATH)).status, 500);
    assert.equal((await fetchText(LIST_PATH)).status, 200);
    sim.injectFault({ route: "get", serverId: "s2", status: 502 });
    assert.equal((await fetchText(GET_PATH)).status, 200, "another server is not hit");
    assert.equal((await fetchText(`/v1/${P}/image-servers/s2`)).status, 502);
    sim.injectFault({ method: "POST", status: 503 });
    assert.equal((await fetchText(GET_PATH)).status, 200);
    assert.equal(sim.pendingFaults().length, 1);
  });

  it("adds custom headers and sends a string body as is", async () => {
    sim.injectFault({ status: 502, body: "<html>bad gateway</html>", headers: { "X-Extra": "yes" } });
    const res = await fetchText(GET_PATH);
    assert.equal(res.status, 502);
    assert.equal(res.text, "<html>bad gateway</html>");
    assert.equal(res.headers["x-extra"], "yes");
  });

  it("hits the token route too, in IAM's error shape", async () => {
    sim.injectFault({ route: "token", status: 503 });
    const res = await request(`${sim.url}/v3/auth/tokens`, { method: "POST", body: "{}", dispatcher: agent });
    assert.equal(res.statusCode, 503);
    const json = (await res.body.json()) as { error: { code: number } };
    assert.equal(json.error.code, 503);
  });
});

// Injected delays are real time (the simulator's clock drives only its state). Each test has its own
// simulator so the four delays run side by side; a timeout against a delay 30× longer is a margin.
describe("timing faults", { concurrency: true }, () => {
  it("delays the headers by delayMs", async (t) => {
    const to = await ownSim(t);
    to.sim.injectFault({ delayMs: 200 });
    const started = performance.now();
    const res = await fetchText(GET_PATH, to);
    assert.ok(performance.now() - started >= 190, "answered too early");
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.text).id, "s1");
  });

  it("makes a client with a shorter headers timeout time out", async (t) => {
    const to = await ownSim(t);
    to.sim.injectFault({ delayMs: 5000 });
    await assert.rejects(raw(GET_PATH, { headersTimeout: 150 }, to), { code: "UND_ERR_HEADERS_TIMEOUT" });
    assert.equal(to.sim.counts().byRoute.get, 1, "the request was seen");
  });

  it("sends the headers, then stalls the body by bodyDelayMs", async (t) => {
    const to = await ownSim(t);
    to.sim.injectFault({ bodyDelayMs: 200 });
    const started = performance.now();
    const res = await raw(GET_PATH, {}, to);
    const headersAt = performance.now() - started;
    assert.equal(res.statusCode, 200);
    const text = await res.body.text();
    const bodyAt = performance.now() - started;
    assert.ok(bodyAt >= 190, "body came too early");
    assert.ok(bodyAt - headersAt >= 100, "headers were not sent before the stall");
    assert.equal(JSON.parse(text).id, "s1");
  });

  it("makes a client with a shorter body timeout time out", async (t) => {
    const to = await ownSim(t);
    to.sim.injectFault({ bodyDelayMs: 5000 });
    const res = await raw(GET_PATH, { bodyTimeout: 150 }, to);
    assert.equal(res.statusCode, 200);
    await assert.rejects(res.body.text(), { code: "UND_ERR_BODY_TIMEOUT" });
  });
});

describe("broken answers", () => {
  it("sends malformed JSON with status 200", async () => {
    sim.injectFault({ malformedJson: true });
    const res = await fetchText(GET_PATH);
    assert.equal(res.status, 200);
    assert.match(String(res.headers["content-type"]), /json/);
    assert.throws(() => JSON.parse(res.text), SyntaxError);
  });

  it("resets the connection without answering", async () => {
    sim.injectFault({ reset: true });
    await assert.rejects(raw(GET_PATH), (err: Error & { code?: string }) => {
      assert.ok(["UND_ERR_SOCKET", "ECONNRESET"].includes(String(err.code)), `unexpected ${err.code}`);
      return true;
    });
    assert.deepEqual(
      sim.requests().map((r) => r.status),
      [0],
    );
    assert.equal((await fetchText(GET_PATH)).status, 200, "the next request is normal");
  });

  it("answers 200 with a body missing the required fields (wrong shape)", async () => {
    sim.injectFault({ wrongShape: true, count: 2 });
    const one = JSON.parse((await fetchText(GET_PATH)).text);
    assert.equal(one.id, undefined);
    assert.equal(one.status, undefined);
    const list = JSON.parse((await fetchText(LIST_PATH)).text);
    assert.equal(list.count, undefined);
    assert.equal(Array.isArray(list.items), false);
  });

  it("rejects an invalid fault", () => {
    assert.throws(() => sim.injectFault({ status: 42 }), { code: "CONFIG_INVALID" });
    assert.throws(() => sim.injectFault({ count: 0 } as never), { code: "CONFIG_INVALID" });
  });
});

describe("stop", () => {
  it("stops promptly while an answer is stalled", async () => {
    const other = createSimulator({ clock });
    await other.start();
    other.addServer(P, { id: "x" });
    const t = other.issueToken().token;
    other.injectFault({ delayMs: 60_000 });
    const pending = request(`${other.url}/v1/${P}/image-servers/x`, {
      headers: { "X-Auth-Token": t },
      dispatcher: agent,
    });
    // Wait until the simulator has the request before stopping.
    const deadline = Date.now() + 10_000;
    while (other.counts().total === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.equal(other.counts().total, 1);
    const started = performance.now();
    await other.stop();
    assert.ok(performance.now() - started < 5000);
    await assert.rejects(pending);
  });
});
