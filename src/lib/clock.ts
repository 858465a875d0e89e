/** The source of time. Everything that reads the time takes a Clock, so tests can move it by hand. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The real wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock for tests: it only moves when told to, and may be moved backwards. */
export interface ManualClock extends Clock {
  set(ms: number): void;
  advance(ms: number): void;
}

/** Creates a manual clock starting at `start` (ms since epoch, or an ISO string). */
export function createManualClock(start: number | string = "2026-11-27T10:00:00.000Z"): ManualClock {
  let t = typeof start === "string" ? Date.parse(start) : start;
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}
