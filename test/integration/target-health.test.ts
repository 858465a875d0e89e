/**
 * Target health and one message per cause (DESIGN §10), end to end: a target nobody answers (closed
 * port) through the whole daemon in-process, and list/GET failures through pollTarget with the
 * simulator, a real SQLite file and a manual clock.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { request } from "undici";
import { createApp } from "../../src/app.js";
import { parseConfigText } from "../../src/config/load.js";
import type { DomainEvent } from "../../src/domain/types.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator } from "../../src/simulator/index.js";
import { waitFor } from "../helpers/daemon.js";
import { startReceiver } from "../helpers/receiver.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { configYaml, createWorld, PROJECT } from "../helpers/world.js";

const SECRET = "whsec_ZGVtby1zZWNyZXQtZm9yLWltYWdld2F0Y2gtZGVtbw==";
const TOKEN = "test-bearer-token";
const count = (events: DomainEvent[], type: string) => events.filter((e) => e.type === type).length;

/** A TCP port on 127.0.0.1 that nothing listens on (bound once, then closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe("target health", () => {
  it("a target at a closed port: target_up 0 from the first tick, one target.poll_failed after the threshold, banner and API", async (t) => {
    const dir = makeTempDir(t);
    const receiver = await startReceiver({ secret: SECRET });
    t.after(() => receiver.close());
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const loaded = parseConfigText(
      configYaml(endpoint, {
        statePath: join(dir, "state.db"),
        target: `{ projectId: ${PROJECT}, serverIds: [s-1, s-2, s-3] }`,
        extra: [
          `server: { listen: "127.0.0.1:0", bearerToken: ${TOKEN} }`,
          "schedule: { interval: 1s }",
          "alerts: { pollFailureThreshold: 2 }",
          `webhooks:\n  - { name: ops, url: "${receiver.url}", secret: "${SECRET}" }`,
        ].join("\n"),
      }),
      {},
      "target-health.yaml",
    );
    const app = createApp(loaded, { logger: createSilentLogger(), env: {}, deliveryPollIntervalMs: 50 });
    const { url } = await app.start();
    t.after(() => app.stop());
    const auth = { authorization: `Bearer ${TOKEN}` };
    const get = async (path: string) => {
      const r = await request(`${url}${path}`, { headers: auth });
      return { status: r.statusCode, text: await r.body.text() };
    };
    const targets = async () =>
      (JSON.parse((await get("/api/v1/targets")).text) as { targets: Array<Record<string, unknown>> })
        .targets;

    await waitFor(
      async () => (await request(`${url}/-/ready`)).statusCode === 200,
      "ready after the first tick",
    );
    // After the first failed tick (below the threshold of 2): down, but no event yet.
    const first = await targets();
    assert.equal(first.length, 1);
    assert.equal(first[0]?.up, false);
    assert.equal(first[0]?.last_success_at, null);
    assert.equal(first[0]?.cloud, "default");
    assert.equal(first[0]?.region, "cn-north-4");
    assert.equal(first[0]?.servers, 3);
    assert.equal((first[0]?.last_error as { kind?: string } | undefined)?.kind, "network");
    const metrics = (await get("/metrics")).text;
    assert.match(metrics, new RegExp(`^imagewatch_target_up\\{project_id="${PROJECT}"\\} 0$`, "m"));
    assert.match(
      metrics,
      new RegExp(`^imagewatch_target_last_success_timestamp_seconds\\{project_id="${PROJECT}"\\} 0$`, "m"),
    );
    const page = (await get("/")).text;
    assert.match(page, new RegExp(`class="banner"[^]*Project <code>${PROJECT}</code> has never answered`));
    assert.match(page, /network/);
    assert.match(page, /no answer from the cloud API yet/, "not an empty server list");
    assert.doesNotMatch(page, /no servers yet/);

    const unauthorised = await request(`${url}/api/v1/targets`);
    await unauthorised.body.dump();
    assert.equal(unauthorised.statusCode, 401, "the bearer token guards /api/v1/targets");

    // The second failed tick reaches the threshold: exactly one target event, delivered; no per-server ones.
    await waitFor(
      () => receiver.accepted().some((r) => r.payload?.type === "target.poll_failed"),
      "target.poll_failed delivered",
    );
    const events = app.store.listEvents(1000);
    assert.equal(count(events, "target.poll_failed"), 1);
    assert.equal(count(events, "image_server.poll_failed"), 0);
    const delivered = receiver.accepted().find((r) => r.payload?.type === "target.poll_failed");
    assert.equal(delivered?.payload?.data.project_id, PROJECT);
    assert.equal(delivered?.payload?.data.cloud, "default");
    assert.equal(delivered?.payload?.data.servers, 3);
    assert.ok((delivered?.payload?.data.consecutive_failures as number) >= 2);
    assert.equal((delivered?.payload?.data.error as { kind?: string } | undefined)?.kind, "network");
    // Restart-safe: the stored state says the same.
    const stored = app.store.loadTargets();
    assert.equal(stored[0]?.up, false);
    assert.equal(stored[0]?.pollFailedNotified, true);
  });

  it("target_up follows every commit (1 after an answer, 0 from the first failing tick) and starts from the stored state", async (t) => {
    const dir = makeTempDir(t);
    const sim = createSimulator();
    const { url: simUrl } = await sim.start();
    t.after(() => sim.stop());
    for (const id of ["s-1", "s-2"]) sim.addServer(PROJECT, { id, name: id, status: "BUILDING" });
    const loaded = parseConfigText(
      configYaml(simUrl, {
        statePath: join(dir, "state.db"),
        target: `{ projectId: ${PROJECT}, discover: true }`,
        extra: 'server: { listen: "127.0.0.1:0" }\nschedule: { interval: 1s }',
      }),
      {},
      "target-up.yaml",
    );
    const upLine = (v: 0 | 1) => new RegExp(`^imagewatch_target_up\\{project_id="${PROJECT}"\\} ${v}$`, "m");
    const scrape = async (m: { renderChunks(): Promise<{ chunks: Buffer[] }> }) =>
      Buffer.concat((await m.renderChunks()).chunks).toString("utf8");
    const app = createApp(loaded, { logger: createSilentLogger(), env: {} });
    await app.start();
    try {
      await waitFor(
        async () => upLine(1).test(await scrape(app.metrics)),
        "target_up 1 after the first answer",
      );
      assert.doesNotMatch(
        await scrape(app.metrics),
        /^imagewatch_target_last_success_timestamp_seconds\{[^}]*\} 0$/m,
      );
      sim.injectFault({ route: "list", status: 503, count: 1_000_000 });
      await waitFor(
        async () => upLine(0).test(await scrape(app.metrics)),
        "target_up 0 after a failing tick",
      );
      assert.equal(app.targets.get(PROJECT).up, false);
    } finally {
      await app.stop();
    }
    // A new process on the same state: target_up comes from the stored state before any tick.
    const again = createApp(loaded, { logger: createSilentLogger(), env: {} });
    try {
      const text = await scrape(again.metrics);
      assert.match(text, upLine(0));
      assert.doesNotMatch(
        text,
        /^imagewatch_target_last_success_timestamp_seconds\{[^}]*\} 0$/m,
        "last success kept",
      );
    } finally {
      await again.stop();
    }
  });

  it("discover mode, 300 servers, the list answering 503: one target.poll_failed and no image_server.poll_failed", async () => {
    const w = await createWorld({
      target: `{ projectId: ${PROJECT}, discover: true }`,
      extra: "alerts: { pollFailureThreshold: 3 }",
    });
    try {
      for (let i = 0; i < 300; i++) {
        w.sim.addServer(PROJECT, {
          id: `srv-${String(i).padStart(3, "0")}`,
          name: `b-${i}`,
          status: "ACTIVE",
        });
      }
      await w.poll();
      assert.equal(w.targets.get(PROJECT).up, true);
      assert.equal(w.targets.get(PROJECT).servers, 300);
      w.sim.injectFault({ route: "list", status: 503, count: 5 });
      for (let i = 0; i < 5; i++) {
        w.clock.advance(30_000);
        await w.poll();
        assert.equal(w.targets.get(PROJECT).up, false, `down from the first failing tick (${i})`);
        if (i === 2) {
          // A restart in the middle of the outage: the state comes back from the store, no second event.
          assert.equal(count(w.events(), "target.poll_failed"), 1);
          w.restart();
          assert.equal(w.targets.get(PROJECT).pollFailedNotified, true, "reloaded from the store");
        }
      }
      // Per-server bookkeeping still counts.
      const s = w.states.get(PROJECT, "srv-000");
      assert.equal(s?.consecutiveFailures, 5);
      assert.equal(s?.lastPollOk, false);
      w.clock.advance(30_000);
      await w.poll();
      const events = w.events();
      assert.equal(count(events, "target.poll_failed"), 1);
      assert.equal(count(events, "target.poll_recovered"), 1);
      assert.equal(count(events, "image_server.poll_failed"), 0, "no per-server poll_failed");
      assert.equal(count(events, "image_server.poll_recovered"), 0, "and no burst after the recovery");
      const failed = events.find((e) => e.type === "target.poll_failed");
      assert.equal(failed?.data.servers, 300);
      assert.equal(failed?.data.consecutive_failures, 3);
      assert.equal(failed?.data.error?.http_status, 503);
      assert.equal(w.targets.get(PROJECT).up, true);
    } finally {
      await w.close();
    }
  });

  /** Two watched servers in a project of 101: the list takes 2 pages, so 2 GETs are as cheap (GET mode). */
  const getModeWorld = async () => {
    const w = await createWorld({
      target: `{ projectId: ${PROJECT}, serverIds: [s-1, s-2] }`,
      extra: "alerts: { pollFailureThreshold: 2 }",
    });
    for (const id of ["s-1", "s-2"]) w.sim.addServer(PROJECT, { id, name: id, status: "ACTIVE" });
    for (let i = 0; i < 99; i++)
      w.sim.addServer(PROJECT, { id: `other-${i}`, name: `o-${i}`, status: "ACTIVE" });
    const first = await w.poll();
    assert.equal(first.mode, "list", "the first tick lists (and learns the list's two pages)");
    return w;
  };

  it("one server's GET failing while the other answers: that server's own poll_failed only", async () => {
    const w = await getModeWorld();
    try {
      w.sim.injectFault({ route: "get", serverId: "s-2", status: 500, count: 3 });
      for (let i = 0; i < 3; i++) {
        w.clock.advance(30_000);
        assert.equal((await w.poll()).mode, "get");
        assert.ok(w.targets.get(PROJECT).up, "the target answered");
      }
      assert.deepEqual(
        w
          .events()
          .filter((e) => e.type.includes("poll_"))
          .map((e) => `${e.type}:${e.serverId}`),
        ["image_server.poll_failed:s-2"],
      );
    } finally {
      await w.close();
    }
  });

  it("every GET failing: one target event, no per-server ones, and no stale burst after it", async () => {
    const w = await getModeWorld();
    try {
      w.sim.injectFault({ route: "get", status: 503, count: 6 });
      for (let i = 0; i < 3; i++) {
        w.clock.advance(30_000);
        assert.equal((await w.poll()).mode, "get");
      }
      assert.equal(count(w.events(), "target.poll_failed"), 1);
      assert.equal(w.states.get(PROJECT, "s-2")?.consecutiveFailures, 3);
      // s-1 answers again, s-2 keeps failing: the target recovers, and s-2's failures of its own start
      // counting from here (its 3 earlier ones were the target's).
      w.sim.injectFault({ route: "get", serverId: "s-2", status: 503, count: 2 });
      w.clock.advance(30_000);
      assert.equal((await w.poll()).mode, "get");
      let events = w.events();
      assert.equal(count(events, "target.poll_failed"), 1);
      assert.equal(count(events, "target.poll_recovered"), 1);
      assert.equal(count(events, "image_server.poll_failed"), 0, "no stale per-server poll_failed");
      w.clock.advance(30_000);
      assert.equal((await w.poll()).mode, "get");
      events = w.events();
      assert.deepEqual(
        events.filter((e) => e.type === "image_server.poll_failed").map((e) => e.serverId),
        ["s-2"],
        "after two failures of its own",
      );
      assert.equal(count(events, "image_server.poll_recovered"), 0);
    } finally {
      await w.close();
    }
  });
});
