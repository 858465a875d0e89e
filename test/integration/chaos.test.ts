/**
 * Chaos: the whole daemon in-process (createApp) against the simulator and a loopback
 * receiver, with faults on BOTH sides, a restart in the middle (pending deliveries in the outbox) and one
 * deliberate cloud outage long enough to raise poll_failed. Afterwards the no-loss invariants are checked
 * on what the receiver accepted and on what the store holds.
 *
 * Time: the simulator, the scheduler and delivery share one manual clock, moved in 50 ms steps once the
 * polls in flight finished and every delivery due was attempted; the story's times are on that clock.
 * Only the IO is real (HTTP, the webhook timeout against the receiver's late answers).
 *
 * Seeded: `CHAOS_SEED=<n> node scripts/run-tests.mjs chaos` replays the same story (paths, offsets) and
 * the same sequence of fault choices. Every assertion message names the seed.
 *
 * Cloud-side faults are injected one at a time (1–2 hits) and only while no server has a failed poll, so
 * the random faults alone never reach `pollFailureThreshold` (3): at most 2 polls fail in a row (a
 * malformed answer is not retried, so `malformedJson × 2` fails two polls). The threshold is reached once,
 * on purpose: a 503 outage of the list held until the target has emitted `target.poll_failed` (one
 * event for the whole target, none per server), then lifted; invariant 5 checks that every poll_failed
 * is followed by a poll_recovered (of the target, and of each server).
 *
 * Receiver-side, ~40 % of requests during the story get 503, 500, 429 (Retry-After 0 or 1), a destroyed
 * socket, or a 200 sent after the webhook's timeout (the daemon retries, so the receiver really sees
 * duplicates, which are dropped by `webhook-id` as at-least-once allows); around the restart the receiver
 * answers 503 to everything so deliveries pend across it; after the story everything gets 200.
 *
 * A scripted change is applied only once the daemon has observed the server's previous scripted status
 * (and ≥ 3 s after the previous change), so a slow machine, the restart or the outage can delay the
 * story but never collapse two changes into one poll: the expected sequence is exactly the script.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type App, createApp } from "../../src/app.js";
import { parseConfigText } from "../../src/config/load.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import type { FaultSpec } from "../../src/simulator/index.js";
import { createSimulator } from "../../src/simulator/index.js";
import type { DeliveryRecord, StoredEvent } from "../../src/store/types.js";
import { waitFor } from "../helpers/daemon.js";
import { createManualClock } from "../helpers/manual-clock.js";
import { type ReceivedRequest, type ReceiverAction, startReceiver } from "../helpers/receiver.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { AK, PROJECT, SK } from "../helpers/world.js";

const SEED = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const WEBHOOK = "chaos";
const ALL_EVENTS = [
  "status_changed",
  "stuck",
  "stuck_resolved",
  "poll_failed",
  "poll_recovered",
  "discovered",
  "disappeared",
  "target.poll_failed",
  "target.poll_recovered",
];

/** Status paths a server may follow: the first entry is its status at start, each next one a change. */
const PATHS: ReadonlyArray<readonly string[]> = [
  ["CREATING", "ACTIVE", "BUILDING", "BUILT"],
  ["BUILDING", "ERROR"],
  ["ACTIVE", "BUILDING", "BUILT"],
  ["CREATING", "ERROR"],
  ["BUILDING", "ERROR", "BUILDING", "BUILT"],
  ["ACTIVE", "BUILDING", "ERROR"],
];
const SERVERS = 8;
/** Minimum time between two changes of one server. */
const SPACING_MS = 3000;
/** The story lasts at least this long, and the chaos goes on this long after its last change. */
const MIN_STORY_MS = 12_000;
const TRAILING_CHAOS_MS = 1500;
/** When the restart (with the receiver down, so deliveries pend) and the outage begin. */
const RESTART_AT_MS = 5000;
const OUTAGE_AT_MS = 8500;
/** The webhook's timeout, and how late the receiver's "late 200" answers (after the daemon gave up). */
const WEBHOOK_TIMEOUT_MS = 250;
const LATE_ANSWER_MS = 500;
/** How far the manual clock moves per step of the story. */
const STEP_MS = 50;
/** Hard bounds: the story loop and the final drain. */
const STORY_DEADLINE_MS = 45_000;
const DRAIN_DEADLINE_MS = 30_000;

/** mulberry32: a small seeded PRNG in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Plan {
  id: string;
  path: readonly string[];
  /** Delay of the first change after the story starts. */
  firstAfterMs: number;
  /** Changes applied so far (path[applied] is the simulator's status now). */
  applied: number;
  lastChangeAt: number;
}

type StoreEvent = StoredEvent & { deliveries: DeliveryRecord[] };

const str = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

describe("chaos: no notification is lost", () => {
  it("delivers every scripted change, in order, through cloud faults, receiver faults, a restart and an outage", {
    timeout: 120_000,
  }, async (t) => {
    const tag = `[seed ${SEED}]`;
    t.diagnostic(`chaos seed ${SEED} (replay with CHAOS_SEED=${SEED})`);
    const rngStory = prng(SEED);
    const rngCloud = prng(SEED ^ 0x5bd1e995);
    const rngReceiver = prng(SEED ^ 0x27d4eb2f);

    // ---- the receiver: chaos (~40 % of requests: 503, 500, 429 with Retry-After 0/1, socket destroyed, or
    // 200 after the daemon's timeout), down (all 503) around the restart, ok (200) after the story
    let receiverMode: "chaos" | "down" | "ok" = "chaos";
    const receiverFaults = { 503: 0, 500: 0, 429: 0, destroy: 0, late: 0, down: 0 };
    const chaosAction = (): ReceiverAction | undefined => {
      if (receiverMode === "ok") return undefined;
      if (receiverMode === "down") {
        receiverFaults.down++;
        return { status: 503 };
      }
      if (rngReceiver() >= 0.4) return undefined;
      const k = Math.floor(rngReceiver() * 5);
      if (k === 0) {
        receiverFaults[503]++;
        return { status: 503 };
      }
      if (k === 1) {
        receiverFaults[500]++;
        return { status: 500 };
      }
      if (k === 2) {
        receiverFaults[429]++;
        return { status: 429, headers: { "retry-after": rngReceiver() < 0.5 ? "0" : "1" } };
      }
      if (k === 3) {
        receiverFaults.destroy++;
        return { destroy: true };
      }
      // Accepted, but only after the daemon's timeout: the daemon retries, the receiver gets a duplicate.
      receiverFaults.late++;
      return { status: 200, delayMs: LATE_ANSWER_MS };
    };
    const receiver = await startReceiver({ secret: SECRET, respond: () => chaosAction() });

    // ---- the simulator and the story
    // One manual clock for the simulator, the scheduler and delivery, started at the real time (the
    // receiver checks webhook timestamps against it). It moves in steps once the work due has been done.
    const clock = createManualClock(Date.now());
    const sim = createSimulator({ clock });
    const { url: simUrl } = await sim.start();
    const shift = Math.floor(rngStory() * PATHS.length);
    const plans: Plan[] = [];
    for (let i = 0; i < SERVERS; i++) {
      const path = PATHS[(i + shift) % PATHS.length] as readonly string[];
      const id = `chaos-${i}`;
      sim.addServer(PROJECT, { id, name: `build-${i}`, status: path[0] ?? "ACTIVE" });
      plans.push({
        id,
        path,
        firstAfterMs: 500 + Math.floor(rngStory() * 2500),
        applied: 0,
        lastChangeAt: 0,
      });
    }
    const storyText = plans.map((p) => `${p.id}: ${p.path.join("→")} (+${p.firstAfterMs}ms)`).join("; ");
    t.diagnostic(`story: ${storyText}`);

    const dir = makeTempDir(t, "imagewatch-chaos-");
    const yaml = `
cloud:
  region: cn-north-4
  endpoint: ${simUrl}
  iamEndpoint: ${simUrl}
  auth: { kind: aksk, accessKey: ${AK}, secretKey: ${SK} }
  requestTimeout: 2s
  maxRequestsPerSecond: 1000
  retry: { attempts: 2, minDelay: 20ms, maxDelay: 100ms }
targets:
  - { projectId: ${PROJECT}, discover: true, jobs: false }
schedule: { interval: 1s, steadyInterval: 1s }
stuck: { BUILDING: 2s }
alerts: { pollFailureThreshold: 3 }
webhooks:
  - name: ${WEBHOOK}
    url: "${receiver.url}"
    format: standard
    secret: "${SECRET}"
    events: [${ALL_EVENTS.join(", ")}]
    timeout: ${WEBHOOK_TIMEOUT_MS}ms
    retry: { minDelay: 20ms, maxDelay: 200ms }
    maxAge: 1h
server: { listen: "127.0.0.1:0" }
state: { path: ${JSON.stringify(join(dir, "state.db"))} }
`;
    const loaded = parseConfigText(yaml, {}, "chaos.yaml");
    // The outbox is re-read every 20 real ms, so a retry falls due soon after the manual clock reaches it.
    const makeApp = () =>
      createApp(loaded, {
        logger: createSilentLogger(),
        env: {},
        clock,
        timers: clock,
        deliveryPollIntervalMs: 20,
      });

    let app: App = makeApp();
    let appRunning = true;
    let restartPromise: Promise<void> | undefined;
    // Teardown in order: the daemon (after a restart in progress), the simulator, the receiver, the files.
    t.after(async () => {
      await restartPromise?.catch(() => undefined);
      if (appRunning) await app.stop();
      await sim.stop();
      await receiver.close();
    });
    await app.start();
    await waitFor(
      () => app.isReady() && plans.every((p) => app.states.get(PROJECT, p.id)?.status === p.path[0]),
      `${tag} the first poll discovering every server`,
      20_000,
    );

    // ---- the story loop: scripted changes, cloud faults, the restart, the outage
    const storyStart = clock.now();
    const storyDeadline = storyStart + STORY_DEADLINE_MS;
    const cloudFaults: string[] = [];
    let nextFaultAt = storyStart + 300;
    // In an object: the restart finishes in a closure, which narrowing of a plain `let` would ignore.
    const phase: {
      restart: "before" | "draining" | "restarting" | "done";
      outage: "before" | "on" | "recovering" | "done";
    } = { restart: "before", outage: "before" };
    let restartWaitStart = 0;
    let restartError: unknown;
    let pendingAtRestart = -1;
    let outageStart = 0;
    let lastChangeAt = storyStart;
    const state = (id: string) => app.states.get(PROJECT, id);
    /**
     * One step of the story: the polls in flight finish and every delivery due now has been attempted
     * (accepted, refused or timed out), then time moves on by STEP_MS, firing the ticks due.
     */
    const step = async () => {
      await app.scheduler.drain();
      if (phase.restart !== "restarting") {
        // Attempted, or held back: a 429 pauses the whole webhook until its Retry-After, rows untouched.
        await waitFor(
          () =>
            app.store.dueDeliveries(WEBHOOK, clock.now(), 1).length === 0 ||
            (app.delivery.pausedUntil(WEBHOOK) > 0 && app.delivery.inFlight().size === 0),
          `${tag} the deliveries due now`,
          30_000,
          2,
        );
      }
      await clock.advance(STEP_MS);
    };
    const noFailures = () => plans.every((p) => (state(p.id)?.consecutiveFailures ?? 0) === 0);

    for (;;) {
      const now = clock.now();
      const elapsed = now - storyStart;
      if (restartError) throw restartError;
      assert.ok(
        now < storyDeadline,
        `${tag} the story did not finish within ${STORY_DEADLINE_MS} ms: restart ${phase.restart}, outage ${phase.outage}, ` +
          plans
            .map(
              (p) => `${p.id} applied ${p.applied}/${p.path.length - 1}, daemon sees ${state(p.id)?.status}`,
            )
            .join("; "),
      );

      // Scripted changes, gated on the daemon having seen the previous scripted status.
      for (const p of plans) {
        if (p.applied >= p.path.length - 1) continue;
        const dueAt = p.applied === 0 ? storyStart + p.firstAfterMs : p.lastChangeAt + SPACING_MS;
        if (now < dueAt || state(p.id)?.status !== p.path[p.applied]) continue;
        p.applied++;
        p.lastChangeAt = now;
        lastChangeAt = now;
        sim.setStatus(PROJECT, p.id, p.path[p.applied] ?? null);
      }

      // The restart: take the receiver down so deliveries pend, then stop and start a new app (a deploy).
      if (phase.restart === "before" && elapsed >= RESTART_AT_MS) {
        receiverMode = "down";
        phase.restart = "draining";
        restartWaitStart = now;
      } else if (phase.restart === "draining") {
        const pending = app.store
          .listEvents(10_000)
          .filter((e) => e.deliveries.some((d) => d.state === "pending")).length;
        if (pending > 0 || now - restartWaitStart > 4000) {
          pendingAtRestart = pending;
          phase.restart = "restarting";
          const old = app;
          restartPromise = (async () => {
            appRunning = false;
            await old.stop();
            const next = makeApp();
            app = next;
            appRunning = true;
            await next.start();
            receiverMode = "chaos";
            phase.restart = "done";
          })();
          restartPromise.catch((e: unknown) => {
            restartError = e;
          });
        }
      }

      // The outage: 503 on every list call until the target has raised poll_failed, then lifted.
      if (
        phase.outage === "before" &&
        phase.restart === "done" &&
        elapsed >= OUTAGE_AT_MS &&
        sim.pendingFaults().length === 0 &&
        noFailures()
      ) {
        sim.injectFault({ route: "list", status: 503, count: 10_000 });
        cloudFaults.push("outage:503");
        phase.outage = "on";
        outageStart = now;
      } else if (phase.outage === "on") {
        assert.ok(
          now - outageStart < 20_000,
          `${tag} the outage raised no target.poll_failed within 20 s: ` +
            `target failures ${app.targets.get(PROJECT).consecutiveFailures}`,
        );
        if (app.targets.get(PROJECT).pollFailedNotified) {
          sim.clearFaults();
          phase.outage = "recovering";
        }
      } else if (phase.outage === "recovering" && noFailures()) {
        phase.outage = "done";
      }

      // Random cloud faults, one at a time, never while a server has a failed poll (see the file's TSDoc).
      if (
        (phase.outage === "before" || phase.outage === "done") &&
        now >= nextFaultAt &&
        sim.pendingFaults().length === 0 &&
        noFailures()
      ) {
        const count = 1 + Math.floor(rngCloud() * 2);
        const k = Math.floor(rngCloud() * 5);
        const kinds: Array<[string, FaultSpec]> = [
          ["503", { status: 503 }],
          ["429", { status: 429, retryAfter: rngCloud() < 0.5 ? 0 : 1 }],
          ["reset", { reset: true }],
          ["malformed", { malformedJson: true }],
          ["delay300", { delayMs: 300 }],
        ];
        const [name, spec] = kinds[k] as [string, FaultSpec];
        sim.injectFault({ route: "list", count, ...spec });
        cloudFaults.push(`${name}×${count}`);
        nextFaultAt = now + 400 + Math.floor(rngCloud() * 800);
      }

      const scriptDone = plans.every((p) => p.applied === p.path.length - 1);
      if (
        scriptDone &&
        phase.restart === "done" &&
        phase.outage === "done" &&
        elapsed >= MIN_STORY_MS &&
        now - lastChangeAt >= TRAILING_CHAOS_MS
      ) {
        break;
      }
      await step();
    }

    // ---- the story is over: no more faults; wait for the outbox to drain
    receiverMode = "ok";
    sim.clearFaults();
    const storyMs = clock.now() - storyStart;
    const finalOf = (p: Plan) => p.path[p.path.length - 1];
    const acceptedFinal = (p: Plan) =>
      receiver
        .accepted()
        .some(
          (r) =>
            r.payload?.type === "image_server.status_changed" &&
            r.payload.data.server_id === p.id &&
            r.payload.data.status === finalOf(p),
        );
    // Drained = the daemon committed every server's final change and no delivery is pending any more (a
    // dead one ends the wait too: the invariants below then say exactly what was lost).
    const finalCommitted = (events: StoreEvent[], p: Plan) =>
      events.some(
        (e) =>
          e.serverId === p.id && e.type === "image_server.status_changed" && e.data.status === finalOf(p),
      );
    const drained = (events: StoreEvent[]) =>
      plans.every((p) => finalCommitted(events, p)) &&
      events.every((e) => e.deliveries.length > 0 && e.deliveries.every((d) => d.state !== "pending"));
    try {
      for (const drainStart = clock.now(); !drained(app.store.listEvents(10_000)); ) {
        if (clock.now() - drainStart > DRAIN_DEADLINE_MS) throw new Error("not drained");
        await step();
      }
    } catch {
      const events = app.store.listEvents(10_000);
      const pending = events
        .filter((e) => e.deliveries.some((d) => d.state === "pending"))
        .map((e) => `${e.seq}:${e.type}:${e.serverId} (${e.deliveries.map((d) => d.lastError).join("|")})`);
      assert.fail(
        `${tag} not drained within ${DRAIN_DEADLINE_MS} ms: pending [${pending.join(", ")}]; ` +
          `final change not committed for [${plans
            .filter((p) => !finalCommitted(events, p))
            .map((p) => `${p.id}→${finalOf(p)} (daemon sees ${state(p.id)?.status})`)
            .join(", ")}]`,
      );
    }
    // Late answers still open finish (accepted duplicates), so the snapshot below is complete.
    await receiver.waitFor(() => receiver.open() === 0, 10_000, `${tag} the receiver's late answers`);
    const events = app.store.listEvents(10_000).reverse(); // oldest first
    const requests = [...receiver.requests];
    const accepted = receiver.accepted();
    const nonOk = requests.length - accepted.length;
    // First accepted delivery of each event id (at-least-once: later copies are duplicates).
    const first = new Map<string, ReceivedRequest>();
    for (const r of accepted) if (r.id !== undefined && !first.has(r.id)) first.set(r.id, r);
    const typeCounts: Record<string, number> = {};
    for (const e of events) {
      const k = e.type.replace("image_server.", "");
      typeCounts[k] = (typeCounts[k] ?? 0) + 1;
    }
    t.diagnostic(
      `story ${storyMs} ms; ${events.length} events ${JSON.stringify(typeCounts)}; ${requests.length} requests, ${accepted.length} accepted (${accepted.length - first.size} duplicates), ` +
        `${nonOk} refused/destroyed ${JSON.stringify(receiverFaults)}; pending at restart ${pendingAtRestart}; ` +
        `cloud faults [${cloudFaults.join(", ")}]`,
    );

    // The chaos really happened (the test cannot pass vacuously).
    assert.ok(phase.restart === "done", `${tag} the restart happened`);
    assert.ok(pendingAtRestart > 0, `${tag} deliveries were pending when the daemon restarted`);
    assert.ok(nonOk > 0, `${tag} the receiver refused some requests`);
    assert.ok(
      cloudFaults.length > 1 && sim.requests().some((r) => r.fault !== undefined),
      `${tag} cloud faults were injected`,
    );

    // 3. Every request verifies with standardwebhooks; webhook-id = data.event_id.
    const unverified = requests.filter((r) => !r.verified);
    assert.deepEqual(
      unverified.map((r) => `#${r.index} ${r.id}: ${r.verifyError}`),
      [],
      `${tag} every request verifies with the standardwebhooks library`,
    );
    for (const r of accepted) {
      assert.equal(
        r.id,
        r.payload?.data.event_id,
        `${tag} request #${r.index}: webhook-id equals data.event_id (${r.payload?.type})`,
      );
    }

    const byId = new Map(events.map((e) => [e.id, e] as const));
    const describeEvent = (e: StoreEvent) =>
      `seq ${e.seq} ${e.type.replace("image_server.", "")} ${str(e.data.previous_status ?? "")}→${str(e.data.status)}`;

    // 4. Every stored event: one delivery to the webhook, delivered — none dead, none pending.
    for (const e of events) {
      assert.deepEqual(
        e.deliveries.map((d) => `${d.webhook}:${d.state}`),
        [`${WEBHOOK}:delivered`],
        `${tag} ${e.serverId} ${describeEvent(e)} (${e.id}): one delivered delivery; last error ${e.deliveries[0]?.lastError}`,
      );
    }
    assert.deepEqual(
      plans.filter((p) => !acceptedFinal(p)).map((p) => `${p.id}→${finalOf(p)}`),
      [],
      `${tag} the receiver accepted the final status of every server`,
    );
    // No loss on the wire, no invention: stored ids and accepted ids are the same set.
    assert.deepEqual(
      events.filter((e) => !first.has(e.id)).map((e) => `${e.serverId} ${describeEvent(e)}`),
      [],
      `${tag} every stored event was accepted by the receiver`,
    );
    assert.deepEqual(
      [...first.values()]
        .filter((r) => r.id === undefined || !byId.has(r.id))
        .map((r) => `${r.id} ${r.payload?.type}`),
      [],
      `${tag} the receiver accepted no event the store does not hold`,
    );

    // 5a. The outage of the list failed the whole target: target events alternate, ending recovered.
    const targetFailures = events
      .filter((e) => e.type.startsWith("target."))
      .map((e) => (e.type === "target.poll_failed" ? "failed" : "recovered"));
    assert.ok(targetFailures.length >= 2, `${tag} the outage raised target.poll_failed [${targetFailures}]`);
    assert.deepEqual(
      targetFailures,
      targetFailures.map((_, i) => (i % 2 === 0 ? "failed" : "recovered")),
      `${tag} every target.poll_failed is followed by a target.poll_recovered`,
    );
    assert.equal(targetFailures.length % 2, 0, `${tag} the last target.poll_failed was recovered`);

    for (const p of plans) {
      const ofServer = [...first.values()].filter((r) => r.payload?.data.server_id === p.id);
      const typesOf = (type: string) => ofServer.filter((r) => r.payload?.type === `image_server.${type}`);

      // 1. The accepted status_changed events are exactly the script, chained.
      const changes = typesOf("status_changed").map((r) => ({
        from: str(r.payload?.data.previous_status),
        to: str(r.payload?.data.status),
      }));
      const seen = changes.map((c) => `${c.from}→${c.to}`);
      let current = p.path[0];
      for (const [i, c] of changes.entries()) {
        assert.equal(
          c.from,
          current,
          `${tag} ${p.id}: change #${i + 1} starts from the status before it (script ${p.path.join("→")}, accepted ${seen.join(", ")})`,
        );
        current = c.to;
      }
      const expected = p.path.slice(1).map((to, i) => `${p.path[i]}→${to}`);
      assert.deepEqual(
        seen,
        expected,
        `${tag} ${p.id}: the accepted status changes are exactly the script ${p.path.join("→")}`,
      );
      const discovered = typesOf("discovered").map((r) => str(r.payload?.data.status));
      assert.deepEqual(discovered, [p.path[0]], `${tag} ${p.id}: discovered once, in its first status`);
      assert.deepEqual(typesOf("disappeared").length, 0, `${tag} ${p.id}: never reported disappeared`);

      // 2. Per-server order: first acceptances follow the commit order (seq).
      const committed = events.filter((e) => e.serverId === p.id);
      const deliveredOrder = [...committed].sort(
        (a, b) => (first.get(a.id)?.index ?? 0) - (first.get(b.id)?.index ?? 0),
      );
      assert.deepEqual(
        deliveredOrder.map(describeEvent),
        committed.map(describeEvent),
        `${tag} ${p.id}: events reach the receiver in the order they were committed`,
      );

      // 5. Every poll_failed is followed by a poll_recovered (strict alternation, ending recovered).
      const failures = committed
        .filter((e) => e.type === "image_server.poll_failed" || e.type === "image_server.poll_recovered")
        .map((e) => (e.type === "image_server.poll_failed" ? "failed" : "recovered"));
      assert.deepEqual(
        failures,
        failures.map((_, i) => (i % 2 === 0 ? "failed" : "recovered")),
        `${tag} ${p.id}: every poll_failed is followed by a poll_recovered`,
      );
      assert.equal(
        failures.length % 2,
        0,
        `${tag} ${p.id}: the last poll_failed was recovered [${failures}]`,
      );
      for (const e of committed.filter((x) => x.type === "image_server.poll_failed")) {
        assert.ok(
          Number(e.data.consecutive_failures) >= 3,
          `${tag} ${p.id}: poll_failed only at the threshold (${describeEvent(e)}, ${str(e.data.consecutive_failures)})`,
        );
      }

      // 6. Stuck episodes (BUILDING > 2 s) alternate with their resolution; none is left open.
      const stuck = committed
        .filter((e) => e.type === "image_server.stuck" || e.type === "image_server.stuck_resolved")
        .map((e) => (e.type === "image_server.stuck" ? "stuck" : "resolved"));
      assert.deepEqual(
        stuck,
        stuck.map((_, i) => (i % 2 === 0 ? "stuck" : "resolved")),
        `${tag} ${p.id}: stuck and stuck_resolved alternate`,
      );
      assert.equal(stuck.length % 2, 0, `${tag} ${p.id}: no stuck episode is left open [${stuck}]`);
    }
  });
});
