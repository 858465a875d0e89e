/**
 * A manual clock for tests: a Clock and Timers that only move when told to. Timers run on their own
 * monotonic timeline, as node's do, so `set()` (a wall-clock step, possibly backwards) does not fire or
 * delay them; `advance()` moves both and fires every timer that falls due, in order.
 */
import { setImmediate } from "node:timers/promises";
import type { Clock, TimerHandle, Timers } from "../../src/lib/clock.js";

/** A Clock and Timers moved by hand. */
export interface ManualClock extends Clock, Timers {
  /** Sets the wall clock (ms since epoch), forwards or backwards; pending timers are not affected. */
  set(ms: number): void;
  /**
   * Moves time forward by `ms`, firing the timers that fall due one by one (the clock reads each one's due
   * time while it runs) and letting the promises they start settle before the next one, and once more at
   * the end (so `advance(0)` lets pending work settle). With no timer due in the window it moves time at
   * once, synchronously, so callers that use no timers need not await it.
   */
  advance(ms: number): Promise<void>;
  /** How many timers are pending. */
  pendingTimers(): number;
}

interface Pending {
  id: number;
  /** Due time on the monotonic timeline. */
  at: number;
  fn: () => void;
}

/** Creates a manual clock starting at `start` (ms since epoch, or an ISO string). */
export function createManualClock(start: number | string = "2026-11-27T10:00:00.000Z"): ManualClock {
  let wall = typeof start === "string" ? Date.parse(start) : start;
  let mono = 0;
  let nextId = 1;
  const pending = new Map<number, Pending>();

  const nextDue = (until: number): Pending | undefined => {
    let best: Pending | undefined;
    // Equal due times fire in the order they were set (ids grow).
    for (const p of pending.values()) if (p.at <= until && (!best || p.at < best.at)) best = p;
    return best;
  };

  return {
    now: () => wall,
    set: (ms) => {
      wall = ms;
    },
    setTimeout: (fn, ms) => {
      const id = nextId++;
      pending.set(id, { id, at: mono + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout: (handle: TimerHandle) => {
      pending.delete(handle as number);
    },
    pendingTimers: () => pending.size,
    async advance(ms) {
      const until = mono + ms;
      // Work already started (promise chains, immediates) runs first, as it would before a real timer.
      if (nextDue(until)) await setImmediate();
      for (let p = nextDue(until); p; p = nextDue(until)) {
        pending.delete(p.id);
        wall += p.at - mono;
        mono = p.at;
        p.fn();
        // Let the work the timer started run (promise chains, immediates) before the next one fires.
        await setImmediate();
      }
      wall += until - mono;
      mono = until;
      await setImmediate();
    },
  };
}
