/**
 * The scheduler: one timer per target (never one per server), each target on its own grid of ticks
 * (`anchor + k × interval`, the anchor carrying a deterministic phase offset), no overlapping ticks per
 * target, and a shared limit of
 * `schedule.concurrency` polls in flight. It only schedules: every tick calls `poll(target)`. A failing
 * tick is logged and reported; the loop never dies. Time comes from an injected Clock and Timers, so
 * tests drive it with a manual clock.
 */
import { createHash } from "node:crypto";
import type { TargetConfig } from "../config/types.js";
import type { Clock, TimerHandle, Timers } from "../lib/clock.js";
import { coerceError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { targetKey } from "./poll-target.js";

/** What the scheduler needs. */
export interface SchedulerDeps {
  logger: Logger;
  clock: Clock;
  timers: Timers;
  /** Polls one target (the app binds pollTarget with its deps). `first` is true for the start-up poll. */
  poll: (target: TargetConfig, first: boolean) => Promise<unknown>;
}

/** The targets and timing the scheduler runs. */
export interface SchedulerOptions {
  targets: readonly TargetConfig[];
  /** schedule.interval (ms): the tick period of every target. */
  interval: number;
  concurrency: number;
}

/** What the scheduler reports, by event name. */
export interface SchedulerEvents {
  /** A poll finished; `ok` is false when it threw (then `tick_error` came first). */
  tick: { target: TargetConfig; first: boolean; ok: boolean; durationMs: number };
  /** A poll threw (pollTarget itself failed, not a server's poll). */
  tick_error: { target: TargetConfig; first: boolean; error: Error };
  /** A tick fell due while the target's previous poll was still running (or waiting for a slot). */
  tick_skipped: { target: TargetConfig; first: boolean };
}

/** The scheduler's lifecycle and events. */
export interface Scheduler {
  /** Runs the first poll of every target at once (bounded by concurrency), then ticks on schedule. */
  start(): void;
  /**
   * Replaces the targets and timing (config reload). A target whose identity and interval did not
   * change keeps its next due time; a changed or new one is (re)scheduled, and a new one gets its
   * start-up poll; a removed one stops ticking. Polls in flight finish.
   */
  update(options: SchedulerOptions): void;
  /** True once the first poll of every current target finished (successfully or not). */
  firstPollsDone(): boolean;
  /** Waits for the polls in flight now (ticking goes on). */
  drain(): Promise<void>;
  /** Stops ticking and waits for polls in flight. */
  stop(): Promise<void>;
  /** Listens to one kind of event; returns the function that stops listening. */
  on<K extends keyof SchedulerEvents>(event: K, listener: (e: SchedulerEvents[K]) => void): () => void;
}

/** A small counting semaphore whose size can change (a reload) without dropping the permits in use. */
class Semaphore {
  #size: number;
  #inUse = 0;
  readonly #waiters: Array<() => void> = [];
  constructor(n: number) {
    this.#size = n;
  }
  resize(n: number): void {
    this.#size = n;
    this.#drain();
  }
  #drain(): void {
    while (this.#inUse < this.#size && this.#waiters.length > 0) {
      this.#inUse++;
      this.#waiters.shift()?.();
    }
  }
  /** A permit now if one is free (no await, so a tick with a free slot starts at once), else undefined. */
  tryAcquire(): (() => void) | undefined {
    if (this.#inUse >= this.#size) return undefined;
    this.#inUse++;
    return this.#releaser();
  }
  async acquire(): Promise<() => void> {
    if (this.#inUse < this.#size) this.#inUse++;
    else await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.#releaser();
  }
  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inUse--;
      this.#drain();
    };
  }
}

/** Phase offset (ms) in [0, interval) derived from the target's identity, so targets spread out. */
export function phaseOffset(target: TargetConfig, interval: number): number {
  const h = createHash("sha256").update(targetKey(target)).digest();
  return h.readUInt32BE(0) % Math.max(1, interval);
}

/**
 * How early (as a share of the interval) the poll plan already counts a server due again (its slack of a
 * quarter interval, domain/poll-plan): the second poll of a target comes no sooner than this after the
 * start-up poll began, so it is never a tick with nothing due.
 */
const REPOLL_AFTER = 3 / 4;

/** One scheduled target. */
interface Entry {
  target: TargetConfig;
  interval: number;
  /** A point of the target's grid: its ticks fall at `anchor + k × interval`. */
  anchor: number;
  /** Wall-clock time of its next tick, a point of the grid. */
  nextDue: number;
  timer?: TimerHandle;
  /** The poll in flight (or waiting for a slot), if any. */
  running?: Promise<void>;
  firstDone: boolean;
}

/** Creates a scheduler for `initial`; nothing runs before `start()`. */
export function createScheduler(initial: SchedulerOptions, deps: SchedulerDeps): Scheduler {
  const { clock, timers } = deps;
  const log = deps.logger.child({ component: "scheduler" });
  const semaphore = new Semaphore(initial.concurrency);
  const inFlight = new Set<Promise<void>>();
  const listeners: { [K in keyof SchedulerEvents]: Set<(e: SchedulerEvents[K]) => void> } = {
    tick: new Set(),
    tick_error: new Set(),
    tick_skipped: new Set(),
  };
  let entries = new Map<string, Entry>();
  let active = false;

  const emit = <K extends keyof SchedulerEvents>(event: K, e: SchedulerEvents[K]): void => {
    for (const listener of listeners[event]) {
      try {
        listener(e);
      } catch (err) {
        log.error({ err: coerceError(err), event }, "scheduler listener failed");
      }
    }
  };

  const newEntry = (target: TargetConfig, interval: number): Entry => {
    const anchor = clock.now() + phaseOffset(target, interval);
    return { target, interval, anchor, nextDue: anchor, firstDone: false };
  };

  /** The first point of the entry's grid at or after `t`, computed from the anchor (no accumulated drift). */
  const gridPointFrom = (entry: Entry, t: number): number =>
    entry.anchor + Math.ceil((t - entry.anchor) / entry.interval) * entry.interval;

  const runTick = (entry: Entry, first: boolean): void => {
    // No overlap per target: a tick due while the last one runs is skipped, not queued.
    if (entry.running) {
      emit("tick_skipped", { target: entry.target, first });
      return;
    }
    const run = (async () => {
      const release = semaphore.tryAcquire() ?? (await semaphore.acquire());
      const started = clock.now();
      let ok = true;
      try {
        if (!active) return;
        // Waited for a slot: the second poll moves with the start-up poll.
        if (first && entries.get(targetKey(entry.target)) === entry) armSecond(entry, started);
        try {
          await deps.poll(entry.target, first);
        } catch (e) {
          ok = false;
          const error = coerceError(e);
          log.error({ err: error, projectId: entry.target.projectId }, "poll tick failed");
          emit("tick_error", { target: entry.target, first, error });
        }
        entry.firstDone = true;
        emit("tick", { target: entry.target, first, ok, durationMs: Math.max(0, clock.now() - started) });
      } finally {
        release();
      }
    })().finally(() => {
      inFlight.delete(run);
      if (entry.running === run) entry.running = undefined;
    });
    entry.running = run;
    inFlight.add(run);
  };

  const arm = (entry: Entry): void => {
    if (entry.timer !== undefined) timers.clearTimeout(entry.timer);
    const now = clock.now();
    // A wall clock stepped backwards must not stall a target: never wait longer than two intervals (the
    // longest a due time lies ahead: the second poll, up to 1¾ intervals after the start-up poll).
    const wait = Math.min(Math.max(0, entry.nextDue - now), 2 * entry.interval);
    entry.timer = timers.setTimeout(() => fire(entry), wait);
  };

  /**
   * Arms the second poll of a target whose start-up poll starts at `startedAt`: the first grid point at
   * which the servers that poll sees are due again, so the start-up poll (however long it waited for a
   * slot) neither collides with the second nor turns it into a tick with nothing due.
   */
  const armSecond = (entry: Entry, startedAt: number): void => {
    const due = gridPointFrom(entry, startedAt + entry.interval * REPOLL_AFTER);
    if (entry.timer !== undefined && due === entry.nextDue) return;
    entry.nextDue = due;
    arm(entry);
  };

  const fire = (entry: Entry): void => {
    entry.timer = undefined;
    if (!active || entries.get(targetKey(entry.target)) !== entry) return;
    const now = clock.now();
    const early = entry.nextDue - now;
    if (early > 0 && early <= entry.interval / 4) {
      // The timer fired a little before its grid point by the wall clock (timers and Date.now disagree by a
      // few ms): wait out the rest, so this tick runs once, on time, and the next is one interval later.
      entry.timer = timers.setTimeout(() => fire(entry), early);
      return;
    }
    runTick(entry, false);
    // The next grid point after now. Ticks missed while the clock jumped forward are dropped; after a
    // step backwards the grid goes on from the clock's new time.
    entry.nextDue = gridPointFrom(entry, now + 1);
    arm(entry);
  };

  const disarm = (entry: Entry): void => {
    if (entry.timer !== undefined) timers.clearTimeout(entry.timer);
    entry.timer = undefined;
  };

  const setOptions = (given: SchedulerOptions): void => {
    // The config allows no interval under 1s; a zero one would spin.
    const options = { ...given, interval: Math.max(1, given.interval) };
    semaphore.resize(options.concurrency);
    const now = clock.now();
    const next = new Map<string, Entry>();
    for (const target of options.targets) {
      const key = targetKey(target);
      if (next.has(key)) continue;
      const old = entries.get(key);
      if (!old) {
        const entry = newEntry(target, options.interval);
        next.set(key, entry);
        if (active) {
          armSecond(entry, now);
          runTick(entry, true);
        }
        continue;
      }
      old.target = target;
      if (old.interval !== options.interval) {
        old.interval = options.interval;
        // A new grid; keep a tick that was coming sooner anyway.
        old.anchor = Math.min(old.nextDue, now + phaseOffset(target, options.interval));
        old.nextDue = old.anchor;
        if (active) arm(old);
      }
      next.set(key, old);
    }
    for (const [key, entry] of entries) if (!next.has(key)) disarm(entry);
    entries = next;
  };

  setOptions(initial);

  return {
    start() {
      if (active) return;
      active = true;
      const now = clock.now();
      for (const entry of entries.values()) {
        entry.anchor = now + phaseOffset(entry.target, entry.interval);
        armSecond(entry, now);
        runTick(entry, true);
      }
    },
    update(options) {
      setOptions(options);
    },
    firstPollsDone() {
      for (const entry of entries.values()) if (!entry.firstDone) return false;
      return true;
    },
    async drain() {
      await Promise.allSettled([...inFlight]);
    },
    async stop() {
      active = false;
      for (const entry of entries.values()) disarm(entry);
      await Promise.allSettled([...inFlight]);
    },
    on(event, listener) {
      const set = listeners[event] as Set<typeof listener>;
      set.add(listener);
      return () => {
        set.delete(listener);
      };
    },
  };
}
