import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TargetConfig } from "../../src/config/types.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createScheduler, phaseOffset } from "../../src/poller/scheduler.js";
import { waitFor } from "../helpers/daemon.js";

const target = (projectId: string): TargetConfig => ({ projectId, serverIds: [], discover: true });

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("scheduler", () => {
  it("gives each target a deterministic phase offset inside the interval", () => {
    const a = phaseOffset(target("a"), 30_000);
    assert.equal(a, phaseOffset(target("a"), 30_000));
    assert.ok(a >= 0 && a < 30_000);
    const offsets = new Set(Array.from({ length: 50 }, (_, i) => phaseOffset(target(`p${i}`), 30_000)));
    assert.ok(offsets.size > 40, "targets spread over the interval");
  });

  it("polls every target at start, reports readiness after the first polls, then keeps ticking", async () => {
    const calls: Array<{ projectId: string; first: boolean }> = [];
    const gate = deferred();
    const s = createScheduler(
      { targets: [target("a"), target("b")], interval: 1000, concurrency: 4 },
      {
        logger: createSilentLogger(),
        poll: async (t, first) => {
          calls.push({ projectId: t.projectId, first });
          if (first) await gate.promise;
        },
      },
    );
    s.start();
    try {
      await waitFor(() => calls.length === 2, "the start-up polls");
      assert.deepEqual(
        calls.map((c) => c.first),
        [true, true],
      );
      assert.equal(s.firstPollsDone(), false, "not ready while first polls run");
      gate.resolve();
      await waitFor(() => s.firstPollsDone(), "readiness");
      await waitFor(
        () => calls.filter((c) => c.projectId === "a" && !c.first).length >= 1,
        "a scheduled tick",
        10_000,
      );
    } finally {
      await s.stop();
    }
  });

  it("never overlaps polls of one target, and a failing tick does not stop the loop", async () => {
    let aCalls = 0;
    let bCalls = 0;
    const errors: string[] = [];
    const blockA = deferred();
    const s = createScheduler(
      { targets: [target("a"), target("b")], interval: 1000, concurrency: 4 },
      {
        logger: createSilentLogger(),
        poll: async (t) => {
          if (t.projectId === "a") {
            aCalls++;
            await blockA.promise;
            return;
          }
          bCalls++;
          throw new Error(`tick ${bCalls} failed`);
        },
        onTickError: (_t, err) => errors.push(err.message),
      },
    );
    s.start();
    try {
      // b fails on every tick and keeps being called; meanwhile a's first poll is still running.
      await waitFor(() => bCalls >= 3, "three ticks of b", 15_000);
      assert.equal(aCalls, 1, "a's ticks are skipped while its poll runs");
      assert.ok(errors.length >= 3);
      assert.equal(errors[0], "tick 1 failed");
    } finally {
      blockA.resolve();
      await s.stop();
    }
  });

  it("keeps at most `concurrency` polls in flight, and stop() waits for them", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let done = 0;
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const s = createScheduler(
      { targets: ["a", "b", "c"].map(target), interval: 60_000, concurrency: 1 },
      {
        logger: createSilentLogger(),
        poll: async (t) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          const g = deferred();
          gates.set(t.projectId, g);
          await g.promise;
          inFlight--;
          done++;
        },
      },
    );
    s.start();
    await waitFor(() => gates.size === 1, "the first poll");
    const first = [...gates.values()][0];
    first?.resolve();
    await waitFor(() => gates.size === 2, "the second poll");
    assert.equal(maxInFlight, 1);
    const stopping = s.stop();
    let stopped = false;
    void stopping.then(() => {
      stopped = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(stopped, false, "stop waits for the poll in flight");
    for (const g of gates.values()) g.resolve();
    await stopping;
    assert.equal(maxInFlight, 1);
    assert.ok(done >= 2);
  });

  it("applies a new concurrency on update without exceeding it while old polls finish", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const gates: Array<() => void> = [];
    const targets = ["a", "b", "c", "d"].map(target);
    const s = createScheduler(
      { targets, interval: 60_000, concurrency: 1 },
      {
        logger: createSilentLogger(),
        poll: async () => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise<void>((r) => gates.push(r));
          inFlight--;
        },
      },
    );
    s.start();
    try {
      await waitFor(() => gates.length === 1, "one poll in flight");
      s.update({ targets, interval: 60_000, concurrency: 2 });
      await waitFor(() => gates.length === 2, "a second poll admitted by the larger limit");
      assert.equal(inFlight, 2);
      gates[0]?.();
      await waitFor(() => gates.length === 3, "the next poll");
      assert.equal(maxInFlight, 2, "never more than the new limit");
    } finally {
      for (const g of gates) g();
      const stopping = s.stop();
      await waitFor(() => {
        for (const g of gates) g();
        return inFlight === 0;
      }, "all polls done");
      await stopping;
    }
  });
});
