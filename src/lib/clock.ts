/** The source of time. Everything that reads the time takes a Clock, so tests can move it by hand. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The real wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** An opaque handle of a pending timer, given back to `clearTimeout`. */
export type TimerHandle = unknown;

/**
 * One-shot timers. Whatever schedules work takes Timers beside its Clock, so a test drives both with one
 * manual clock instead of waiting for real time.
 */
export interface Timers {
  /** Calls `fn` once, `ms` from now (a delay, not a wall-clock time: a clock step does not move it). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a pending timer; a handle that already fired or was cleared is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** Node's timers, unref'd: a pending timer never keeps the process alive on its own. */
export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
