/**
 * The real daemon as a child process where the behaviour is the process's: kill -9 between commit and
 * delivery, SIGTERM, SIGHUP. What follows such an exit (the next daemon on the same database) and what is
 * not about the process (a restart, the replay CLI beside a running daemon) runs in this process. The
 * tests run concurrently against one simulator, each on its own project (so no daemon sees another
 * test's servers); they wait on log lines, HTTP answers and the receiver only.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { request } from "undici";
import { type App, createApp } from "../../src/app.js";
import { runCli } from "../../src/cli/index.js";
import { loadConfig } from "../../src/config/load.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import { captureContext } from "../helpers/command-context.js";
import { getJson, startDaemon, waitFor } from "../helpers/daemon.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";
import { startReceiver } from "../helpers/receiver.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { configYaml } from "../helpers/world.js";

const SECRET = "whsec_ZGVtby1zZWNyZXQtZm9yLWltYWdld2F0Y2gtZGVtbw==";
const S1 = "4b1a2c3d-0000-4111-a222-00000000d001";

/** The project of test `n`: each test's daemon discovers only its own servers. */
const projectOf = (n: number) => `${"d".repeat(31)}${n}`;

interface EventsBody {
  events: Array<{
    event_id: string;
    type: string;
    server_id: string;
    deliveries: Array<{ state: string; attempts: number }>;
  }>;
}

function writeConfig(
  dir: string,
  project: string,
  simUrl: string,
  receiverUrl: string,
  name = "imagewatch.yaml",
): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    configYaml(simUrl, {
      statePath: join(dir, "state.db"),
      target: `{ projectId: ${project}, discover: true, jobs: false }`,
      extra: `
schedule: { interval: 1s, steadyInterval: 1s, concurrency: 2 }
server: { listen: "127.0.0.1:0" }
log: { level: debug, format: json }
webhooks:
  - name: ops
    url: ${receiverUrl}
    secret: ${SECRET}
    events: [status_changed, discovered, stuck, stuck_resolved, poll_failed, poll_recovered, disappeared]
    retry: { minDelay: 50ms, maxDelay: 200ms }
`,
    }),
  );
  return path;
}

/** The daemon in this process on `configPath` (a restart needs no new process); stopped when `t` ends. */
async function startApp(t: TestContext, configPath: string, clock?: ManualClock): Promise<App> {
  const app = createApp(loadConfig(configPath, {}), {
    logger: createSilentLogger(),
    env: {},
    deliveryPollIntervalMs: 20,
    ...(clock ? { clock, timers: clock } : {}),
  });
  await app.start();
  let stopped = false;
  const stop = app.stop.bind(app);
  app.stop = async () => {
    if (stopped) return;
    stopped = true;
    await stop();
  };
  t.after(() => app.stop());
  return app;
}

describe("the daemon process", { concurrency: true }, () => {
  let sim: Simulator;
  let simUrl: string;
  before(async () => {
    sim = createSimulator();
    simUrl = (await sim.start()).url;
  });
  after(async () => {
    await sim.stop();
  });

  it("delivers an event killed mid-retry (kill -9) after the restart, with the same id and body", async (t) => {
    const dir = makeTempDir(t, "imagewatch-kill-");
    const PROJECT = projectOf(1);
    sim.addProject(PROJECT);
    sim.addServer(PROJECT, { id: S1, name: "kill-test", status: "BUILDING" });
    // The receiver is failing: the event is committed but cannot be delivered.
    const receiver = await startReceiver({ secret: SECRET, respond: () => ({ status: 503 }) });
    const configPath = writeConfig(dir, PROJECT, simUrl, receiver.url);
    const daemon = await startDaemon(configPath);
    try {
      const seen = await waitFor(
        () => receiver.requests.find((r) => r.verified && r.payload?.data.server_id === S1),
        "a first delivery attempt",
      );
      assert.ok(seen.id?.startsWith("evt_"));
      daemon.child.kill("SIGKILL");
      const exit = await daemon.exited;
      assert.equal(exit.signal, "SIGKILL");
      // The receiver recovers; a new daemon on the same database delivers the same event id.
      receiver.setResponder(() => undefined);
      await startApp(t, configPath);
      await waitFor(() => receiver.accepted().some((r) => r.id === seen.id), "the redelivery after restart");
      const accepted = receiver.accepted().filter((r) => r.payload?.data.server_id === S1);
      assert.equal(accepted.length, 1, "delivered once after the restart (no second discovered event)");
      assert.equal(accepted[0]?.body, seen.body, "same body as before the crash");
    } finally {
      daemon.child.kill("SIGKILL");
      await daemon.exited;
      await receiver.close();
      sim.removeServer(PROJECT, S1);
    }
  });

  it("exits 0 on SIGTERM with nothing lost, and delivers the rest after a restart", async (t) => {
    const dir = makeTempDir(t, "imagewatch-term-");
    const PROJECT = projectOf(2);
    sim.addProject(PROJECT);
    const S2 = "4b1a2c3d-0000-4111-a222-00000000d002";
    sim.addServer(PROJECT, { id: S2, name: "term-test", status: "BUILDING" });
    const receiver = await startReceiver({ secret: SECRET, respond: () => ({ status: 503 }) });
    const configPath = writeConfig(dir, PROJECT, simUrl, receiver.url);
    const daemon = await startDaemon(configPath);
    try {
      await waitFor(
        async () =>
          (await getJson<EventsBody>(`${daemon.url}/api/v1/events`)).body.events.some(
            (e) => e.server_id === S2,
          ),
        "the event committed",
      );
      sim.setStatus(PROJECT, S2, "BUILT");
      await waitFor(
        async () =>
          (await getJson<EventsBody>(`${daemon.url}/api/v1/events`)).body.events.some(
            (e) => e.server_id === S2 && e.type === "image_server.status_changed",
          ),
        "the status change committed",
      );
      daemon.child.kill("SIGTERM");
      const exit = await daemon.exited;
      assert.equal(exit.code, 0, daemon.lines.slice(-5).join("\n"));
      assert.ok(daemon.lines.some((l) => l.includes("imagewatch stopped")));
      // Nothing lost: both events are in the database, still pending.
      const store = openSqliteStore(join(dir, "state.db"));
      const events = store.listEvents(100).filter((e) => e.serverId === S2);
      store.close();
      assert.deepEqual(events.map((e) => e.type).sort(), [
        "image_server.discovered",
        "image_server.status_changed",
      ]);
      assert.ok(events.every((e) => e.deliveries.every((d) => d.state === "pending")));
      receiver.setResponder(() => undefined);
      await startApp(t, configPath);
      await waitFor(
        () => receiver.accepted().filter((r) => r.payload?.data.server_id === S2).length === 2,
        "both delivered",
      );
      const order = receiver
        .accepted()
        .filter((r) => r.payload?.data.server_id === S2)
        .map((r) => r.payload?.type);
      assert.deepEqual(
        order,
        ["image_server.discovered", "image_server.status_changed"],
        "per-server order kept",
      );
    } finally {
      daemon.child.kill("SIGKILL");
      await daemon.exited;
      await receiver.close();
      sim.removeServer(PROJECT, S2);
    }
  });

  it("keeps running on the old config when SIGHUP brings a broken one, and applies a good one", async (t) => {
    const dir = makeTempDir(t, "imagewatch-hup-");
    const PROJECT = projectOf(3);
    sim.addProject(PROJECT);
    const receiver = await startReceiver({ secret: SECRET });
    const configPath = writeConfig(dir, PROJECT, simUrl, receiver.url);
    const daemon = await startDaemon(configPath);
    const reloadGauge = async () => {
      const res = await request(`${daemon.url}/metrics`);
      const text = await res.body.text();
      return /^imagewatch_config_last_reload_successful (\S+)$/m.exec(text)?.[1];
    };
    try {
      assert.equal(await reloadGauge(), "1");
      writeFileSync(configPath, "cloud: [this is: not valid\n");
      daemon.child.kill("SIGHUP");
      await waitFor(async () => (await reloadGauge()) === "0", "the failed reload to show in metrics");
      // The log is written asynchronously: the line may follow the metric by a moment.
      await waitFor(
        () => daemon.lines.some((l) => l.includes("config reload failed")),
        "the reload failure logged",
      );
      const healthy = await request(`${daemon.url}/-/healthy`);
      await healthy.body.dump();
      assert.equal(healthy.statusCode, 200);
      assert.equal(daemon.child.exitCode, null, "still running");
      // A valid file whose CA bundle cannot be read: once, this killed the daemon (the new cloud client
      // was built after the swap and the SIGHUP handler's rejection went uncaught).
      const good = readFileSync(writeConfig(dir, PROJECT, simUrl, receiver.url), "utf8");
      writeFileSync(
        configPath,
        good.replace(
          "  requestTimeout:",
          `  caFile: ${JSON.stringify(join(dir, "missing-ca.pem"))}\n  requestTimeout:`,
        ),
      );
      const failedBefore = daemon.lines.filter((l) => l.includes("config reload failed")).length;
      daemon.child.kill("SIGHUP");
      await waitFor(
        () => daemon.lines.filter((l) => l.includes("config reload failed")).length > failedBefore,
        "the caFile reload failure logged",
      );
      assert.equal(await reloadGauge(), "0");
      assert.equal(daemon.child.exitCode, null, "still running after an unreadable caFile");
      // A good config again: the reload succeeds and a new webhook header is used.
      writeConfig(dir, PROJECT, simUrl, `${receiver.url}2`);
      daemon.child.kill("SIGHUP");
      await waitFor(async () => (await reloadGauge()) === "1", "the good reload");
      const S3 = "4b1a2c3d-0000-4111-a222-00000000d003";
      sim.addServer(PROJECT, { id: S3, name: "after-reload", status: "ACTIVE" });
      await waitFor(
        () => receiver.accepted().some((r) => r.payload?.data.server_id === S3 && r.url === "/hook2"),
        "delivery to the reloaded URL",
      );
      sim.removeServer(PROJECT, S3);
    } finally {
      daemon.child.kill("SIGTERM");
      const exit = await daemon.exited;
      assert.equal(exit.code, 0);
      await receiver.close();
    }
  });
});

// Restarts and the replay CLI are not about the process: the daemon runs in-process here (the restart
// on a manual clock), on the same config and database file as above.
describe("the daemon in-process, across restarts and the replay CLI", { concurrency: true }, () => {
  let sim: Simulator;
  let simUrl: string;
  const clock = createManualClock(Date.now());
  before(async () => {
    sim = createSimulator({ clock });
    simUrl = (await sim.start()).url;
  });
  after(async () => {
    await sim.stop();
  });

  it("reports BUILDING → BUILT once, also when the change happened while the daemon was stopped", async (t) => {
    const dir = makeTempDir(t, "imagewatch-restart-");
    const PROJECT = projectOf(4);
    sim.addProject(PROJECT);
    const S4 = "4b1a2c3d-0000-4111-a222-00000000d004";
    const S5 = "4b1a2c3d-0000-4111-a222-00000000d005";
    sim.addServer(PROJECT, { id: S4, name: "live-change", status: "BUILDING" });
    sim.addServer(PROJECT, { id: S5, name: "offline-change", status: "BUILDING" });
    const receiver = await startReceiver({ secret: SECRET });
    t.after(() => receiver.close());
    const configPath = writeConfig(dir, PROJECT, simUrl, receiver.url);
    const changesOf = (id: string) =>
      receiver
        .accepted()
        .filter((r) => r.payload?.data.server_id === id && r.payload.type === "image_server.status_changed");
    /** Lets the polls in flight and the deliveries due finish, then moves the clock one interval on. */
    const step = async (app: App) => {
      await app.scheduler.drain();
      await waitFor(
        () => app.store.dueDeliveries("ops", clock.now(), 1).length === 0,
        "the deliveries due now",
        10_000,
        2,
      );
      await clock.advance(1000);
    };
    let app = await startApp(t, configPath, clock);
    await step(app);
    assert.deepEqual(
      receiver
        .accepted()
        .map((r) => `${String(r.payload?.type)} ${String(r.payload?.data.server_id)}`)
        .sort(),
      [`image_server.discovered ${S4}`, `image_server.discovered ${S5}`],
      "both discovered",
    );
    sim.setStatus(PROJECT, S4, "BUILT");
    for (let i = 0; i < 5 && changesOf(S4).length === 0; i++) await step(app);
    assert.equal(changesOf(S4).length, 1, "the live change");
    await app.stop();

    sim.setStatus(PROJECT, S5, "BUILT");
    app = await startApp(t, configPath, clock);
    await step(app);
    assert.equal(changesOf(S5).length, 1, "the change made while stopped, reported by the first poll");
    assert.equal(changesOf(S5)[0]?.payload?.data.previous_status, "BUILDING");
    // Three more polls: nothing is reported again.
    const polledAt = app.states.get(PROJECT, S5)?.lastPollAt ?? 0;
    for (let i = 0; i < 3; i++) await step(app);
    assert.ok((app.states.get(PROJECT, S5)?.lastPollAt ?? 0) > polledAt, "polled again since");
    assert.equal(changesOf(S4).length, 1);
    assert.equal(changesOf(S5).length, 1);
    assert.ok(
      app.store.listEvents(100).every((e) => e.deliveries.every((d) => d.state === "delivered")),
      "the outbox drained",
    );
  });

  it("replays a dead letter with `imagewatch events replay` while the daemon runs", async (t) => {
    const dir = makeTempDir(t, "imagewatch-replay-");
    const PROJECT = projectOf(5);
    const S6 = "4b1a2c3d-0000-4111-a222-00000000d006";
    sim.addServer(PROJECT, { id: S6, name: "replay-me", status: "ACTIVE" });
    // 400: dead-lettered at once.
    const receiver = await startReceiver({ secret: SECRET, respond: () => ({ status: 400 }) });
    t.after(() => receiver.close());
    const configPath = writeConfig(dir, PROJECT, simUrl, receiver.url);
    // The real clock: the replay CLI re-queues "due now" by it.
    const app = await startApp(t, configPath);
    const dead = await waitFor(
      () =>
        app.store
          .listEvents(100)
          .find((e) => e.serverId === S6 && e.deliveries.some((d) => d.state === "dead")),
      "a dead letter",
    );
    receiver.setResponder(() => undefined);
    // The CLI opens the database the running daemon holds open; the daemon re-reads its outbox.
    const replay = captureContext(["events", "replay", dead.id, "-c", configPath], {
      cwd: resolve(import.meta.dirname, "../.."),
    });
    assert.equal(await runCli(replay.ctx), 0, replay.err());
    await waitFor(() => receiver.accepted().some((r) => r.id === dead.id), "the replayed delivery");
    await waitFor(
      () => app.store.listEvents(100).find((e) => e.id === dead.id)?.deliveries[0]?.state === "delivered",
      "the replayed delivery recorded",
    );
  });
});
