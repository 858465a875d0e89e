import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TargetConfig } from "../../src/config/types.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import {
  createScheduler,
  phaseOffset,
  type Scheduler,
  type SchedulerEvents,
  type SchedulerOptions,
} from "../../src/poller/scheduler.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";

const target = (projectId: string): TargetConfig => ({
  projectId,
  serverIds: [],
  discover: true,
  jobs: false,
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The next `event` of `s` that satisfies `pred`. */
function nextEvent<K extends keyof SchedulerEvents>(
  s: Scheduler,
  event: K,
  pred: (e: SchedulerEvents[K]) => boolean = () => true,
): Promise<SchedulerEvents[K]> {
  return new Promise((resolve) => {
    const off = s.on(event, (e) => {
      if (!pred(e)) return;
      off();
      resolve(e);
    });
  });
}

interface Call {
  projectId: string;
  first: boolean;
  at: number;
}

/** A scheduler on a manual clock whose polls are recorded (and run `poll`, if given). */
function setup(
  options: SchedulerOptions,
  poll: (t: TargetConfig, first: boolean) => Promise<unknown> = async () => {},
): { s: Scheduler; clock: ManualClock; calls: Call[]; t0: number } {
  const clock = createManualClock();
  const calls: Call[] = [];
  const s = createScheduler(options, {
    logger: createSilentLogger(),
    clock,
    timers: clock,
    poll: (t, first) => {
      calls.push({ projectId: t.projectId, first, at: clock.now() });
      return poll(t, first);
    },
  });
  return { s, clock, calls, t0: clock.now() };
}

const ticksOf = (calls: Call[], projectId: string) =>
  calls.filter((c) => c.projectId === projectId && !c.first);

/**
 * The ticks (ms after start) of a target polled at start: its grid `phase + k × interval`, from the first
 * point at least ¾ interval after the start-up poll, up to `until`.
 */
function expectedTicks(projectId: string, interval: number, until: number): number[] {
  const phase = phaseOffset(target(projectId), interval);
  const out: number[] = [];
  for (let at = phase; at <= until; at += interval) if (at >= interval * 0.75) out.push(at);
  return out;
}

describe("scheduler", () => {
  it("gives each target a deterministic phase offset inside the interval", () => {
    const a = phaseOffset(target("a"), 30_000);
    assert.equal(a, phaseOffset(target("a"), 30_000));
    assert.ok(a >= 0 && a < 30_000);
    const offsets = new Set(Array.from({ length: 50 }, (_, i) => phaseOffset(target(`p${i}`), 30_000)));
    assert.ok(offsets.size > 40, "targets spread over the interval");
  });

  it("polls every target at start, is ready after the first polls, then ticks at phase + k × interval from ¾ interval on", async () => {
    const gate = deferred();
    const { s, clock, calls, t0 } = setup(
      { targets: [target("a"), target("b")], interval: 1000, concurrency: 4 },
      async (_t, first) => {
        if (first) await gate.promise;
      },
    );
    s.start();
    try {
      await clock.advance(0);
      assert.deepEqual(
        calls.map((c) => [c.projectId, c.first]),
        [
          ["a", true],
          ["b", true],
        ],
      );
      assert.equal(s.firstPollsDone(), false, "not ready while first polls run");
      const bothDone = Promise.all([
        nextEvent(s, "tick", (e) => e.first && e.target.projectId === "a"),
        nextEvent(s, "tick", (e) => e.first && e.target.projectId === "b"),
      ]);
      gate.resolve();
      const [doneA] = await bothDone;
      assert.equal(doneA.ok, true);
      assert.equal(s.firstPollsDone(), true);
      await clock.advance(3000);
      assert.deepEqual(
        ticksOf(calls, "a").map((c) => c.at - t0),
        expectedTicks("a", 1000, 3000),
      );
      assert.equal(clock.pendingTimers(), 2, "one timer per target");
    } finally {
      await s.stop();
    }
  });

  it("never overlaps polls of one target (skips, not queues), and a failing tick does not stop the loop", async () => {
    const blockA = deferred();
    let bCalls = 0;
    const { s, clock, calls } = setup(
      { targets: [target("a"), target("b")], interval: 1000, concurrency: 4 },
      async (t) => {
        if (t.projectId === "a") return await blockA.promise;
        bCalls++;
        throw new Error(`tick ${bCalls} failed`);
      },
    );
    const errors: string[] = [];
    const failedTicks: boolean[] = [];
    let skippedA = 0;
    s.on("tick_error", (e) => errors.push(e.error.message));
    s.on("tick", (e) => {
      if (e.target.projectId === "b") failedTicks.push(e.ok);
    });
    s.on("tick_skipped", (e) => {
      if (e.target.projectId === "a") skippedA++;
    });
    s.start();
    try {
      await clock.advance(3000);
      // b: the start-up poll and its ticks, each failing; a: its first poll is still running.
      const bPolls = 1 + expectedTicks("b", 1000, 3000).length;
      assert.ok(bPolls >= 3);
      assert.equal(bCalls, bPolls);
      assert.deepEqual(
        errors,
        Array.from({ length: bPolls }, (_, i) => `tick ${i + 1} failed`),
      );
      assert.deepEqual(failedTicks, Array(bPolls).fill(false));
      assert.equal(calls.filter((c) => c.projectId === "a").length, 1, "a's ticks are skipped");
      assert.equal(skippedA, expectedTicks("a", 1000, 3000).length);
      // Once a's poll ends, its next tick runs (not the three it missed).
      blockA.resolve();
      await clock.advance(1000);
      assert.equal(calls.filter((c) => c.projectId === "a").length, 2);
    } finally {
      blockA.resolve();
      await s.stop();
    }
  });

  it("keeps at most `concurrency` polls in flight, and stop() waits for them", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let done = 0;
    const gates: Array<() => void> = [];
    const { s, clock } = setup(
      { targets: ["a", "b", "c"].map(target), interval: 60_000, concurrency: 1 },
      async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise<void>((r) => gates.push(r));
        inFlight--;
        done++;
      },
    );
    s.start();
    await clock.advance(0);
    assert.equal(gates.length, 1, "one poll admitted");
    gates[0]?.();
    await clock.advance(0);
    assert.equal(gates.length, 2, "the next one after the first finished");
    assert.equal(maxInFlight, 1);
    let stopped = false;
    const stopping = s.stop().then(() => {
      stopped = true;
    });
    await clock.advance(0);
    assert.equal(stopped, false, "stop waits for the poll in flight");
    gates[1]?.();
    await stopping;
    assert.equal(maxInFlight, 1);
    assert.equal(done, 2, "the poll still waiting for a slot at stop never ran");
    assert.equal(clock.pendingTimers(), 0, "no timer left");
    await clock.advance(120_000);
    assert.equal(gates.length, 2, "no tick after stop");
  });

  it("applies a new concurrency on update without exceeding it while old polls finish", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const gates: Array<() => void> = [];
    const targets = ["a", "b", "c", "d"].map(target);
    const { s, clock } = setup({ targets, interval: 60_000, concurrency: 1 }, async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((r) => gates.push(r));
      inFlight--;
    });
    s.start();
    await clock.advance(0);
    assert.equal(gates.length, 1);
    s.update({ targets, interval: 60_000, concurrency: 2 });
    await clock.advance(0);
    assert.equal(gates.length, 2, "a second poll admitted by the larger limit");
    assert.equal(inFlight, 2);
    gates[0]?.();
    await clock.advance(0);
    assert.equal(gates.length, 3, "the next poll");
    assert.equal(maxInFlight, 2, "never more than the new limit");
    const stopping = s.stop();
    for (const g of gates) g();
    await stopping;
    assert.equal(inFlight, 0);
  });

  it("keeps polling when the config is reloaded four times a second (each target keeps its next due time)", async () => {
    const options = { targets: [target("a"), target("b")], interval: 1000, concurrency: 4 };
    const { s, clock, calls } = setup(options);
    s.start();
    try {
      for (let i = 0; i < 32; i++) {
        await clock.advance(250);
        // A reload builds new target objects; identity is the target's key.
        s.update({ ...options, targets: options.targets.map((t) => ({ ...t })) });
      }
      for (const p of ["a", "b"]) {
        const n = ticksOf(calls, p).length;
        assert.ok(n >= 7 && n <= 9, `${p}: ${n} ticks in 8 s`);
        assert.equal(calls.filter((c) => c.projectId === p && c.first).length, 1, "no second start-up poll");
      }
      assert.equal(clock.pendingTimers(), 2, "still one timer per target");
    } finally {
      await s.stop();
    }
  });

  it("on update: a new target gets its start-up poll, a removed one stops, an unchanged one keeps its grid", async () => {
    const options = { targets: [target("a"), target("b")], interval: 1000, concurrency: 4 };
    const { s, clock, calls, t0 } = setup(options);
    s.start();
    try {
      await clock.advance(2500);
      s.update({ ...options, targets: [target("a"), target("c")] });
      await clock.advance(0);
      assert.deepEqual(
        calls.filter((c) => c.projectId === "c").map((c) => [c.first, c.at - t0]),
        [[true, 2500]],
        "c polled at once",
      );
      assert.equal(s.firstPollsDone(), true);
      const bBefore = calls.filter((c) => c.projectId === "b").length;
      await clock.advance(3000);
      assert.equal(calls.filter((c) => c.projectId === "b").length, bBefore, "b no longer ticks");
      assert.deepEqual(
        ticksOf(calls, "a").map((c) => c.at - t0),
        expectedTicks("a", 1000, 5500),
        "a's ticks did not move",
      );
      assert.ok(ticksOf(calls, "c").length >= 2, "c ticks on its own grid");
      assert.equal(clock.pendingTimers(), 2);
    } finally {
      await s.stop();
    }
  });

  it("reschedules on an interval change: a shorter interval takes effect without waiting out the old one", async () => {
    const options = { targets: [target("a")], interval: 60_000, concurrency: 4 };
    const { s, clock, calls } = setup(options);
    s.start();
    try {
      await clock.advance(60_000);
      const before = ticksOf(calls, "a").length;
      s.update({ ...options, interval: 1000 });
      await clock.advance(5000);
      assert.ok(ticksOf(calls, "a").length - before >= 4, "about one tick a second now");
    } finally {
      await s.stop();
    }
  });

  it("keeps ticking every interval when the wall clock steps backwards", async () => {
    const { s, clock, calls } = setup({ targets: [target("a")], interval: 1000, concurrency: 4 });
    s.start();
    try {
      await clock.advance(1000);
      const before = ticksOf(calls, "a").length;
      clock.set(clock.now() - 3_600_000);
      await clock.advance(3000);
      assert.equal(
        ticksOf(calls, "a").length - before,
        3,
        "one tick a second after the clock went back an hour",
      );
    } finally {
      await s.stop();
    }
  });

  it("drops the ticks missed while the wall clock jumped forward instead of firing them in a burst", async () => {
    const { s, clock, calls } = setup({ targets: [target("a")], interval: 1000, concurrency: 4 });
    s.start();
    try {
      await clock.advance(1000);
      const before = ticksOf(calls, "a").length;
      clock.set(clock.now() + 3_600_000);
      await clock.advance(1000);
      assert.equal(ticksOf(calls, "a").length - before, 1, "one tick, not the 3,600 missed");
    } finally {
      await s.stop();
    }
  });

  it("never skips or doubles a tick when its timer fires a few ms early by the wall clock", async () => {
    const interval = 30_000;
    const { s, clock, calls, t0 } = setup({ targets: [target("a")], interval, concurrency: 4 });
    const skipped: number[] = [];
    s.on("tick_skipped", () => skipped.push(clock.now()));
    s.start();
    try {
      // Every timer fires 3 ms before its grid point by the wall clock (the wall clock runs 3 ms behind
      // the timers after each tick), for 20 intervals.
      for (let i = 0; i < 20; i++) {
        await clock.advance(interval);
        clock.set(clock.now() - 3);
      }
      const ticks = ticksOf(calls, "a").map((c) => c.at - t0);
      assert.ok(ticks.length >= 18, `${ticks.length} ticks`);
      const phase = phaseOffset(target("a"), interval);
      // Each tick on its grid point by the wall clock, each one interval after the last: none skipped,
      // none run twice, no drift.
      for (const [i, at] of ticks.entries()) {
        assert.equal((at - phase) % interval, 0, `tick ${i} at ${at} is on the grid`);
        if (i > 0) assert.equal(at - (ticks[i - 1] as number), interval, `tick ${i}`);
      }
      assert.deepEqual(skipped, []);
    } finally {
      await s.stop();
    }
  });

  it("a start-up poll that waited for a slot moves the second poll with it instead of skipping it", async () => {
    const gate = deferred();
    const interval = 1000;
    // Concurrency 1: b's start-up poll waits for a's, which runs 1.5 intervals.
    const { s, clock, calls, t0 } = setup(
      { targets: [target("a"), target("b")], interval, concurrency: 1 },
      async (t, first) => {
        if (first && t.projectId === "a") await gate.promise;
      },
    );
    const skipped: string[] = [];
    s.on("tick_skipped", (e) => skipped.push(e.target.projectId));
    s.start();
    try {
      await clock.advance(1500);
      gate.resolve();
      await clock.advance(3000);
      const bFirst = calls.find((c) => c.projectId === "b" && c.first);
      assert.equal(bFirst?.at, t0 + 1500, "b's start-up poll ran when a's ended");
      const bSecond = ticksOf(calls, "b")[0];
      assert.ok(bSecond, "b polled a second time");
      const gap = bSecond.at - (bFirst?.at ?? 0);
      assert.ok(gap >= interval * 0.75 && gap < interval * 1.75, `second poll ${gap} ms after the first`);
      assert.equal((bSecond.at - t0 - phaseOffset(target("b"), interval)) % interval, 0, "on b's grid");
      assert.ok(!skipped.includes("b"), "no tick of b skipped");
    } finally {
      gate.resolve();
      await s.stop();
    }
  });

  it("drain() waits for the polls in flight while ticking goes on", async () => {
    const gate = deferred();
    const { s, clock, calls } = setup(
      { targets: [target("a")], interval: 1000, concurrency: 4 },
      async (_t, first) => {
        if (first) await gate.promise;
      },
    );
    s.start();
    try {
      let drained = false;
      const draining = s.drain().then(() => {
        drained = true;
      });
      await clock.advance(0);
      assert.equal(drained, false);
      gate.resolve();
      await draining;
      await clock.advance(2000);
      assert.ok(ticksOf(calls, "a").length >= 1, "ticking went on after drain");
    } finally {
      await s.stop();
    }
  });
});
