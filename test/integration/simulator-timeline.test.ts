import assert from "node:assert/strict";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { ConfigError } from "../../src/lib/errors.js";
import { createSimulator, loadScenario, parseScenario, type Simulator } from "../../src/simulator/index.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = (name: string) => path.join(here, "..", "fixtures", "scenarios", name);
const DEMO = path.join(here, "..", "..", "config", "demo-scenario.yaml");
const START = Date.parse("2026-11-27T10:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

const agent = new Agent();
after(() => agent.close());

async function withSimulator(
  file: string,
  fn: (sim: Simulator, clock: ManualClock, token: string) => Promise<void>,
) {
  const clock = createManualClock(START);
  const sim = createSimulator({ clock, scenario: loadScenario(file) });
  await sim.start();
  try {
    await fn(sim, clock, sim.issueToken().token);
  } finally {
    await sim.stop();
  }
}

// biome-ignore lint/suspicious/noExplicitAny: test answers are inspected loosely
async function getJson(sim: Simulator, token: string, p: string): Promise<{ status: number; json: any }> {
  const res = await request(`${sim.url}${p}`, { headers: { "X-Auth-Token": token }, dispatcher: agent });
  return { status: res.statusCode, json: await res.body.json() };
}

describe("timeline steps fire as the clock moves", () => {
  it("changes status and fields, moving update_time to the step's moment", async () => {
    await withSimulator(fixture("timeline.yaml"), async (sim, clock, token) => {
      const before = await getJson(sim, token, "/v1/p1/image-servers/build");
      assert.equal(before.json.status, "BUILDING");
      assert.equal(before.json.update_time, iso(START - 10 * 60_000));
      assert.equal(before.json.image_id, "");

      clock.set(START + 19_999);
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers/build")).json.status, "BUILDING");

      // Jump past the step: update_time is the step's moment, not the time of the request.
      clock.set(START + 25_000);
      const built = await getJson(sim, token, "/v1/p1/image-servers/build");
      assert.equal(built.json.status, "BUILT");
      assert.equal(built.json.image_id, "img-1");
      assert.equal(built.json.update_time, iso(START + 20_000));

      clock.set(START + 45_000);
      sim.clearFaults(); // the fixture's 30s fault would answer the next gets
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers/build")).json.status, "DELETING");
      clock.set(START + 50_000);
      const gone = await getJson(sim, token, "/v1/p1/image-servers/build");
      assert.equal(gone.status, 404);
      assert.equal(gone.json.error_code, "WKS.0004");
      const list = await getJson(sim, token, "/v1/p1/image-servers?limit=100");
      assert.ok(!list.json.items.some((s: { id: string }) => s.id === "build"));

      clock.set(START);
      assert.equal(
        (await getJson(sim, token, "/v1/p1/image-servers/build")).status,
        404,
        "a clock going back undoes nothing",
      );
    });
  });

  it("restores a server that starts removed", async () => {
    await withSimulator(fixture("timeline.yaml"), async (sim, clock, token) => {
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers/late")).status, 404);
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers?limit=100")).json.count, 2);
      clock.advance(10_000);
      const back = await getJson(sim, token, "/v1/p1/image-servers/late");
      assert.equal(back.status, 200);
      assert.equal(back.json.status, "CREATING");
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers?limit=100")).json.count, 3);
    });
  });

  it("can drop the status field, set the string null and an unexpected status", async () => {
    await withSimulator(fixture("timeline.yaml"), async (sim, clock, token) => {
      clock.set(START + 5000);
      const none = await getJson(sim, token, "/v1/p1/image-servers/flaky");
      assert.equal("status" in none.json, false);
      assert.equal(none.json.update_time, iso(START + 5000));
      clock.set(START + 6000);
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers/flaky")).json.status, "null");
      clock.set(START + 7000);
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers/flaky")).json.status, "REPAIRING");
    });
  });

  it("injects a scheduled fault when the clock reaches it", async () => {
    await withSimulator(fixture("timeline.yaml"), async (sim, clock, token) => {
      clock.set(START + 29_000);
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers/flaky")).status, 200);
      assert.equal(sim.pendingFaults().length, 0);
      clock.set(START + 30_000);
      assert.equal(
        (await getJson(sim, token, "/v1/p1/image-servers?limit=5")).status,
        200,
        "the fault is for gets",
      );
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers/flaky")).status, 503);
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers/flaky")).status, 503);
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers/flaky")).status, 200);
    });
  });

  it("takes the token lifetime from the scenario", async () => {
    await withSimulator(fixture("timeline.yaml"), async (sim, _clock, token) => {
      assert.equal(sim.issueToken().expiresAt - START, 3_600_000);
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers/flaky")).status, 200);
    });
  });

  it("runs a runtime-added server's timeline from the moment it was added", async () => {
    await withSimulator(fixture("timeline.yaml"), async (sim, clock, token) => {
      clock.set(START + 100_000);
      sim.clearFaults();
      sim.addServer("p1", { id: "new", status: "CREATING", timeline: [{ after: "5s", status: "ACTIVE" }] });
      assert.equal((await getJson(sim, token, "/v1/p1/image-servers/new")).json.status, "CREATING");
      clock.advance(5000);
      const active = await getJson(sim, token, "/v1/p1/image-servers/new");
      assert.equal(active.json.status, "ACTIVE");
      assert.equal(active.json.update_time, iso(START + 105_000));
    });
  });
});

describe("scenario files", () => {
  it("reports every problem of a bad scenario with its path", () => {
    const file = fixture("invalid.yaml");
    assert.throws(
      () => loadScenario(file),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(
          err.issues.map((i) => [i.path.replace(`${file}: `, "").replace(file, ""), i.message]),
          [
            ["credentials.secretKey", "Too small: expected string to have >=1 characters"],
            ["projects[0].servers[0].timeline[0].after", 'not a duration: "soon" (e.g. 500ms, 20s, 5m)'],
            ["projects[0].servers[0].timeline[1]", 'Unrecognized key: "colour"'],
            [
              "faults[0].route",
              'Invalid option: expected one of "get"|"list"|"token"|"jobs"|"job"|"sub_jobs"|"metadata"|"securitytokens"',
            ],
            ["", 'Unrecognized key: "extra"'],
          ],
        );
        return true;
      },
    );
  });

  it("reports duplicate server ids", () => {
    assert.throws(
      () => loadScenario(fixture("duplicate-server.yaml")),
      /projects\[0\]\.servers\[1\]\.id: duplicate server a/,
    );
  });

  it("reports YAML syntax errors with line and column", () => {
    assert.throws(() => loadScenario(fixture("not-yaml.yaml")), /not-yaml\.yaml: line 2, column 1: Flow map/);
  });

  it("reports a missing file", () => {
    assert.throws(
      () => loadScenario(fixture("does-not-exist.yaml")),
      /does-not-exist\.yaml: cannot read scenario file \(ENOENT\)/,
    );
  });

  it("parses durations and generates missing fields", () => {
    const s = parseScenario(
      "credentials: { accessKey: a, secretKey: b, domain: c, username: d, password: e }\n" +
        "projects: [{ id: p, servers: [{ name: x, timeline: [{ after: 1m30s, status: BUILT }] }] }]\n",
    );
    assert.equal(s.projects[0]?.servers[0]?.timeline[0]?.afterMs, 90_000);
    const sim = createSimulator({ scenario: s, clock: createManualClock(START) });
    const [server] = sim.listServers("p");
    assert.match(String(server?.id), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(server?.status, "ACTIVE");
    assert.equal(server?.create_time, iso(START - 3_600_000));
    const again = createSimulator({ scenario: s, clock: createManualClock(START) });
    assert.equal(again.listServers("p")[0]?.id, server?.id, "generated ids are stable");
  });
});

describe("the demo scenario", () => {
  it("tells its one-minute story", async () => {
    await withSimulator(DEMO, async (sim, clock, token) => {
      const P = "0123456789abcdef0123456789abcdef";
      const statuses = async () => {
        const list = await getJson(sim, token, `/v1/${P}/image-servers?limit=100`);
        assert.equal(list.status, 200);
        return Object.fromEntries(
          list.json.items.map((s: { name: string; status: string }) => [s.name, s.status]),
        );
      };
      assert.deepEqual(await statuses(), {
        "build-office-2026": "BUILDING",
        "build-cad-tools": "BUILDING",
        "build-dev-workstation": "BUILDING",
        "build-browser-kiosk": "CREATING",
        "build-legacy-erp": "ACTIVE",
        "golden-base-win2022": "BUILT",
        "build-finance-apps": "ACTIVE",
      });
      const stuck = sim.listServers(P).find((s) => s.name === "build-cad-tools");
      assert.equal(stuck?.update_time, iso(START));

      clock.set(START + 15_000);
      assert.equal((await statuses())["build-office-2026"], "BUILT");
      clock.set(START + 20_000);
      assert.equal((await statuses())["build-browser-kiosk"], "ACTIVE");
      clock.set(START + 25_000);
      const at25 = await statuses();
      assert.equal(at25["build-dev-workstation"], "ERROR");
      assert.equal(at25["build-cad-tools"], "BUILDING");

      clock.set(START + 30_000);
      for (let i = 0; i < 3; i++) {
        const failed = await getJson(sim, token, `/v1/${P}/image-servers?limit=100`);
        assert.equal(failed.status, 503);
        assert.equal(failed.json.error_code, "WKS.0003");
      }
      assert.equal((await getJson(sim, token, `/v1/${P}/image-servers?limit=100`)).status, 200);

      clock.set(START + 35_000);
      assert.equal((await statuses())["build-legacy-erp"], "DELETING");
      clock.set(START + 45_000);
      const end = await statuses();
      assert.equal(end["build-legacy-erp"], undefined);
      assert.equal(end["build-cad-tools"], "BUILDING");
      assert.equal(
        stuck?.update_time,
        sim.getServer(P, String(stuck?.id))?.update_time,
        "the stuck build never moved",
      );
    });
  });
});
