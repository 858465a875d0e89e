/**
 * The scheduler: one timer per target (never one per server), each target on its own grid of ticks with
 * a deterministic phase offset, no overlapping ticks per target, and a shared limit of
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
  async acquire(): Promise<() => void> {
    if (this.#inUse < this.#size) this.#inUse++;
    else await new Promise<void>((resolve) => this.#waiters.push(resolve));
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

/** One scheduled target. */
interface Entry {
  target: TargetConfig;
  interval: number;
  /** Wall-clock time of its next tick. */
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

  const newEntry = (target: TargetConfig, interval: number): Entry => ({
    target,
    interval,
    nextDue: clock.now() + phaseOffset(target, interval),
    firstDone: false,
  });

  const runTick = (entry: Entry, first: boolean): void => {
    // No overlap per target: a tick due while the last one runs is skipped, not queued.
    if (entry.running) {
      emit("tick_skipped", { target: entry.target, first });
      return;
    }
    const run = (async () => {
      const release = await semaphore.acquire();
      const started = clock.now();
      let ok = true;
      try {
        if (!active) return;
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
    // A wall clock stepped backwards must not stall a target: never wait longer than one interval.
    if (entry.nextDue - now > entry.interval) entry.nextDue = now + entry.interval;
    entry.timer = timers.setTimeout(() => fire(entry), Math.max(0, entry.nextDue - now));
  };

  const fire = (entry: Entry): void => {
    entry.timer = undefined;
    if (!active || entries.get(targetKey(entry.target)) !== entry) return;
    runTick(entry, false);
    // The next point of the target's grid after now; ticks missed while the clock jumped are dropped.
    const now = clock.now();
    entry.nextDue += entry.interval;
    if (entry.nextDue <= now) {
      entry.nextDue += (Math.floor((now - entry.nextDue) / entry.interval) + 1) * entry.interval;
    }
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
          arm(entry);
          runTick(entry, true);
        }
        continue;
      }
      old.target = target;
      if (old.interval !== options.interval) {
        old.interval = options.interval;
        // Keep a tick that was coming sooner anyway.
        old.nextDue = Math.min(old.nextDue, now + phaseOffset(target, options.interval));
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
        entry.nextDue = now + phaseOffset(entry.target, entry.interval);
        arm(entry);
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
