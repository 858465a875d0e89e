import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createWorld, PROJECT } from "../helpers/world.js";

const S1 = "4b1a2c3d-0000-4111-a222-000000000001";
const S2 = "4b1a2c3d-0000-4111-a222-000000000002";

const types = (events: Array<{ type: string }>) => events.map((e) => e.type.replace("image_server.", ""));

describe("pollTarget with the simulator and a real SQLite file", () => {
  it("BUILDING → BUILT gives exactly one status_changed", async () => {
    const w = await createWorld({ target: `{ projectId: ${PROJECT}, serverIds: [${S1}], jobs: false }` });
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "build-one", status: "BUILDING", update_time: "-1m" });
      await w.poll();
      w.clock.advance(30_000);
      await w.poll();
      w.clock.advance(5_000);
      w.sim.setStatus(PROJECT, S1, "BUILT");
      w.clock.advance(25_000);
      await w.poll();
      w.clock.advance(30_000);
      await w.poll();
      w.clock.advance(300_000);
      await w.poll();
      const changed = w.events().filter((e) => e.type === "image_server.status_changed");
      assert.equal(changed.length, 1);
      assert.equal(changed[0]?.data.previous_status, "BUILDING");
      assert.equal(changed[0]?.data.status, "BUILT");
      // update_time of the change (10:00:35) is the start of BUILT, not the poll that saw it.
      assert.equal(changed[0]?.data.status_since, "2026-11-27T10:00:35.000Z");
      assert.deepEqual(types(w.events()), ["discovered", "status_changed"]);
      assert.equal(w.states.get(PROJECT, S1)?.status, "BUILT");
    } finally {
      await w.close();
    }
  });

  it("reports a server whose update_time is older than its threshold as stuck on the first poll", async () => {
    const w = await createWorld({
      target: `{ projectId: ${PROJECT}, serverIds: [${S1}], jobs: false }`,
      extra: "stuck: { BUILDING: 60m }",
    });
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "slow", status: "BUILDING", update_time: "-2h" });
      const summary = await w.poll();
      assert.equal(summary.events, 2);
      assert.deepEqual(types(w.events()), ["discovered", "stuck"]);
      const stuck = w.events()[1];
      assert.equal(stuck?.data.stuck_threshold_seconds, 3600);
      assert.equal(w.states.get(PROJECT, S1)?.stuck, true);
      // Once per episode: later polls of the same stuck status emit nothing more.
      w.clock.advance(60_000);
      await w.poll();
      assert.equal(w.events().length, 2);
    } finally {
      await w.close();
    }
  });

  it("reports a change made while the daemon was stopped after the restart, once", async () => {
    const w = await createWorld({
      target: `{ projectId: ${PROJECT}, serverIds: [${S1}, ${S2}], jobs: false }`,
    });
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "a", status: "BUILDING", update_time: "-1m" });
      w.sim.addServer(PROJECT, { id: S2, name: "b", status: "ACTIVE", update_time: "-1h" });
      await w.poll();
      assert.deepEqual(types(w.events()), ["discovered", "discovered"]);
      // The daemon stops; meanwhile the build finishes.
      w.restart();
      w.clock.advance(600_000);
      w.sim.setStatus(PROJECT, S1, "BUILT");
      w.clock.advance(60_000);
      await w.poll();
      await w.poll();
      const changed = w.events().filter((e) => e.type === "image_server.status_changed");
      assert.equal(changed.length, 1);
      assert.equal(changed[0]?.data.previous_status, "BUILDING");
      assert.equal(changed[0]?.serverId, S1);
      // Another restart and poll reports nothing again.
      w.restart();
      w.clock.advance(600_000);
      await w.poll();
      assert.equal(w.events().filter((e) => e.type === "image_server.status_changed").length, 1);
      assert.equal(w.events().length, 3);
    } finally {
      await w.close();
    }
  });

  it("watches 250 servers in discover mode with at most 3 list calls per cycle", async () => {
    const w = await createWorld({ target: `{ projectId: ${PROJECT}, discover: true, jobs: false }` });
    try {
      for (let i = 0; i < 250; i++) {
        w.sim.addServer(PROJECT, {
          id: `srv-${String(i).padStart(4, "0")}`,
          name: `n${i}`,
          status: i % 5 === 0 ? "BUILDING" : "ACTIVE",
        });
      }
      for (let cycle = 0; cycle < 3; cycle++) {
        w.sim.resetCounters();
        const summary = await w.poll(false);
        const counts = w.sim.counts();
        assert.equal(summary.mode, "list");
        assert.ok(counts.byRoute.list <= 3, `cycle ${cycle}: ${counts.byRoute.list} list calls`);
        assert.equal(counts.byRoute.get, 0);
        w.clock.advance(w.config.schedule.interval);
      }
      assert.equal(w.states.all().filter((s) => s.present).length, 250);
      assert.equal(w.events().filter((e) => e.type === "image_server.discovered").length, 250);
    } finally {
      await w.close();
    }
  });

  it("uses single GETs for a few servers and reports a 404 as disappeared, never as a poll failure", async () => {
    const w = await createWorld({ target: `{ projectId: ${PROJECT}, serverIds: [${S1}], jobs: false }` });
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "a", status: "ACTIVE" });
      await w.poll();
      w.sim.removeServer(PROJECT, S1);
      w.clock.advance(600_000);
      w.sim.resetCounters();
      const summary = await w.poll(false);
      assert.equal(summary.mode, "get");
      assert.equal(w.sim.counts().byRoute.get, 1);
      assert.deepEqual(types(w.events()), ["discovered", "disappeared"]);
      assert.equal(w.states.get(PROJECT, S1)?.consecutiveFailures, 0);
    } finally {
      await w.close();
    }
  });

  it("never reports disappearance from a failed list, and reports the target's poll_failed after the threshold", async () => {
    const w = await createWorld({
      target: `{ projectId: ${PROJECT}, discover: true, jobs: false }`,
      extra: "alerts: { pollFailureThreshold: 2 }",
    });
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "a", status: "ACTIVE" });
      await w.poll();
      w.sim.injectFault({ route: "list", count: 2, status: 503 });
      await w.poll();
      await w.poll();
      await w.poll();
      // A failed list in discover mode fails the whole target: one target event, none per server.
      assert.deepEqual(types(w.events()), ["discovered", "target.poll_failed", "target.poll_recovered"]);
      const error = w.events()[1]?.data.error;
      assert.equal(error?.kind, "http_5xx");
      assert.equal(error?.http_status, 503);
      assert.ok(error?.request_id, "the request id is kept");
    } finally {
      await w.close();
    }
  });

  it("polls transitional servers every interval and steady ones every steadyInterval", async () => {
    const w = await createWorld({
      target: `{ projectId: ${PROJECT}, serverIds: [${S1}, ${S2}], jobs: false }`,
      extra: "schedule: { interval: 30s, steadyInterval: 5m }",
    });
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "building", status: "BUILDING" });
      w.sim.addServer(PROJECT, { id: S2, name: "steady", status: "ACTIVE" });
      await w.poll();
      const polledIds = () =>
        w.sim
          .requests()
          .filter((r) => r.route === "get")
          .map((r) => r.path.split("/").pop());
      for (let i = 1; i <= 10; i++) {
        w.sim.resetCounters();
        w.clock.advance(30_000);
        await w.poll(false);
        const ids = polledIds();
        const lists = w.sim.counts().byRoute.list;
        if (i < 10) {
          // Only the transitional one is due: one GET.
          assert.deepEqual(ids, [S1], `tick ${i}`);
          assert.equal(lists, 0);
        } else {
          // At 5 minutes both are due: one list call is cheaper than two GETs.
          assert.deepEqual(ids, [], "tick 10: no GETs");
          assert.equal(lists, 1, "tick 10: one list");
          assert.equal(w.states.get(PROJECT, S2)?.lastPollAt, w.clock.now());
        }
      }
    } finally {
      await w.close();
    }
  });

  it("keeps servers of another target in the same project out of a discover target's disappearances", async () => {
    const w = await createWorld({
      target: `{ projectId: ${PROJECT}, discover: true, serverName: build-, jobs: false }\n  - { projectId: ${PROJECT}, serverIds: [${S2}], jobs: false }`,
    });
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "build-one", status: "ACTIVE" });
      w.sim.addServer(PROJECT, { id: S2, name: "golden", status: "ACTIVE" });
      for (let i = 0; i < 3; i++) {
        await w.poll(true, 0);
        await w.poll(true, 1);
        w.clock.advance(30_000);
      }
      w.sim.setStatus(PROJECT, S2, "BUILDING");
      await w.poll(true, 0);
      await w.poll(true, 1);
      const ofS2 = w
        .events()
        .filter((e) => e.serverId === S2)
        .map((e) => e.type.replace("image_server.", ""));
      assert.deepEqual(ofS2, ["discovered", "status_changed"]);
      assert.equal(w.events().filter((e) => e.type === "image_server.disappeared").length, 0);
    } finally {
      await w.close();
    }
  });

  it("retries a failing steady server every interval, so poll_failed comes after threshold × interval", async () => {
    const w = await createWorld({
      target: `{ projectId: ${PROJECT}, serverIds: [${S1}], jobs: false }`,
      extra: "schedule: { interval: 30s, steadyInterval: 5m }\nalerts: { pollFailureThreshold: 3 }",
    });
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "steady", status: "ACTIVE" });
      await w.poll();
      w.clock.advance(300_000);
      w.sim.injectFault({ route: "get", count: 10, status: 503 });
      await w.poll(false);
      for (let i = 0; i < 2; i++) {
        w.clock.advance(30_000);
        const summary = await w.poll(false);
        assert.equal(summary.mode, "get", `retry ${i + 1} after one interval`);
      }
      assert.deepEqual(types(w.events()), ["discovered", "poll_failed"]);
    } finally {
      await w.close();
    }
  });

  it("does not rewrite a steady server's row when only its poll time moved", async () => {
    const w = await createWorld({ target: `{ projectId: ${PROJECT}, serverIds: [${S1}], jobs: false }` });
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "steady", status: "ACTIVE" });
      await w.poll();
      const firstPollAt = w.clock.now();
      w.clock.advance(300_000);
      await w.poll();
      assert.equal(w.states.get(PROJECT, S1)?.lastPollAt, w.clock.now(), "memory has the latest poll");
      assert.equal(w.store.loadServers()[0]?.lastPollAt, firstPollAt, "the row was not rewritten");
      // A real change is written.
      w.sim.setStatus(PROJECT, S1, "BUILDING");
      await w.poll();
      assert.equal(w.store.loadServers()[0]?.status, "BUILDING");
    } finally {
      await w.close();
    }
  });

  it("keeps the stored state and API object of a steady server, moving only its poll times", async () => {
    const w = await createWorld({ target: `{ projectId: ${PROJECT}, serverIds: [${S1}] }` });
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "steady", status: "ACTIVE" });
      await w.poll();
      const first = w.states.get(PROJECT, S1);
      w.clock.advance(300_000);
      await w.poll();
      const second = w.states.get(PROJECT, S1);
      assert.equal(second, first, "the same state object");
      assert.equal(second?.server, first?.server, "the same API object");
      assert.equal(second?.lastPollAt, w.clock.now());
      assert.equal(second?.lastSuccessAt, w.clock.now());
      // A change replaces the object.
      w.sim.setStatus(PROJECT, S1, "BUILDING");
      await w.poll();
      assert.notEqual(w.states.get(PROJECT, S1), first);
      assert.equal(w.states.get(PROJECT, S1)?.status, "BUILDING");
    } finally {
      await w.close();
    }
  });

  it("a discover list keeps the held API object of an unchanged server and replaces a changed one", async () => {
    const w = await createWorld({ target: `{ projectId: ${PROJECT}, discover: true }` });
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "steady", status: "ACTIVE" });
      w.sim.addServer(PROJECT, { id: S2, name: "moving", status: "ACTIVE" });
      await w.poll();
      const [one, two] = [w.states.get(PROJECT, S1), w.states.get(PROJECT, S2)];
      w.sim.setStatus(PROJECT, S2, "BUILDING");
      w.clock.advance(300_000);
      await w.poll();
      assert.equal(w.states.get(PROJECT, S1), one, "unchanged: the same state object");
      assert.equal(w.states.get(PROJECT, S1)?.server, one?.server, "unchanged: the same API object");
      assert.equal(w.states.get(PROJECT, S1)?.lastPollAt, w.clock.now());
      assert.notEqual(w.states.get(PROJECT, S2)?.server, two?.server);
      assert.equal(w.states.get(PROJECT, S2)?.status, "BUILDING");
    } finally {
      await w.close();
    }
  });

  it("the scheduler polls a BUILDING server every interval through pollTarget, however often the config is reloaded", async () => {
    const w = await createWorld({
      target: `{ projectId: ${PROJECT}, serverIds: [${S1}], jobs: false }`,
      extra: "schedule: { interval: 30s, steadyInterval: 5m }",
    });
    const s = w.scheduler();
    try {
      w.sim.addServer(PROJECT, { id: S1, name: "building", status: "BUILDING" });
      s.start();
      await s.drain();
      w.sim.resetCounters();
      const { interval, concurrency } = w.config.schedule;
      // Five minutes with a reload every 7.5 s; each step fires at most one tick, whose poll drain() awaits.
      for (let i = 0; i < 40; i++) {
        await w.clock.advance(7_500);
        await s.drain();
        s.update({ targets: w.config.targets.map((t) => ({ ...t })), interval, concurrency });
      }
      const gets = w.sim.counts().byRoute.get;
      assert.ok(gets >= 9 && gets <= 10, `${gets} GETs in 10 intervals`);
    } finally {
      await s.stop();
      await w.close();
    }
  });
});
