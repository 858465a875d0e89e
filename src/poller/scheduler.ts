/**
 * The scheduler: ONE croner job per target (never one per server), each with a deterministic phase offset,
 * `protect` so a target's ticks never overlap, and a shared limit of `schedule.concurrency` polls in
 * flight. It only schedules: every tick calls `poll(target)`. A failing tick is logged and counted; the
 * loop never dies.
 */
import { createHash } from "node:crypto";
import { Cron } from "croner";
import type { TargetConfig } from "../config/types.js";
import { coerceError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { targetKey } from "./poll-target.js";

export interface SchedulerDeps {
  logger: Logger;
  /** Polls one target (the app binds pollTarget with its deps). `first` is true for the start-up poll. */
  poll: (target: TargetConfig, first: boolean) => Promise<unknown>;
  /** A tick threw (pollTarget itself failed, not a server's poll). */
  onTickError?: (target: TargetConfig, err: Error) => void;
}

export interface SchedulerOptions {
  targets: readonly TargetConfig[];
  /** schedule.interval (ms): the tick period of every target. */
  interval: number;
  concurrency: number;
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

export interface Scheduler {
  /** Runs the first poll of every target at once (bounded by concurrency), then ticks on schedule. */
  start(): void;
  /** Replaces the targets and timing (config reload). In-flight polls finish. */
  update(options: SchedulerOptions): void;
  /** True once the first poll of every current target finished (successfully or not). */
  firstPollsDone(): boolean;
  /** Waits for the polls in flight now (ticking goes on). */
  drain(): Promise<void>;
  /** Stops ticking and waits for polls in flight. */
  stop(): Promise<void>;
}

export function createScheduler(initial: SchedulerOptions, deps: SchedulerDeps): Scheduler {
  let options = initial;
  const semaphore = new Semaphore(options.concurrency);
  let jobs: Cron[] = [];
  const inFlight = new Map<string, Promise<void>>();
  const firstDone = new Set<string>();
  let stopped = false;
  const log = deps.logger.child({ component: "scheduler" });

  const runTick = async (target: TargetConfig, first: boolean): Promise<void> => {
    const key = targetKey(target);
    // No overlap per target: croner's protect covers ticks; this also covers the start-up poll.
    if (inFlight.has(key) || stopped) return;
    const run = (async () => {
      const release = await semaphore.acquire();
      try {
        if (!stopped) await deps.poll(target, first);
      } catch (e) {
        const err = coerceError(e);
        log.error({ err, projectId: target.projectId }, "poll tick failed");
        deps.onTickError?.(target, err);
      } finally {
        release();
        firstDone.add(key);
      }
    })();
    inFlight.set(key, run);
    try {
      await run;
    } finally {
      inFlight.delete(key);
    }
  };

  let phaseTimers: NodeJS.Timeout[] = [];
  const clearJobs = () => {
    for (const t of phaseTimers) clearTimeout(t);
    phaseTimers = [];
    for (const job of jobs) job.stop();
    jobs = [];
  };

  const schedule = () => {
    clearJobs();
    const seconds = Math.max(1, Math.round(options.interval / 1000));
    for (const target of options.targets) {
      // The phase is applied by a one-off timer, not croner's `startAt`: with `interval`, croner 11 walks
      // from `startAt` to now on every reschedule, a cost that grows with uptime (weeks → 100s of ms).
      const timer = setTimeout(
        () => {
          if (stopped) return;
          const job = new Cron(
            "* * * * * *",
            {
              interval: seconds,
              protect: true,
              catch: (e: unknown) => log.error({ err: coerceError(e) }, "scheduler callback failed"),
            },
            () => runTick(target, false),
          );
          jobs.push(job);
        },
        phaseOffset(target, options.interval),
      );
      timer.unref();
      phaseTimers.push(timer);
    }
  };

  return {
    start() {
      stopped = false;
      for (const target of options.targets) void runTick(target, true);
      schedule();
    },
    update(next) {
      options = next;
      semaphore.resize(next.concurrency);
      const keys = new Set(next.targets.map(targetKey));
      for (const k of [...firstDone]) if (!keys.has(k)) firstDone.delete(k);
      if (!stopped) {
        for (const target of next.targets) if (!firstDone.has(targetKey(target))) void runTick(target, true);
        schedule();
      }
    },
    firstPollsDone() {
      return options.targets.every((t) => firstDone.has(targetKey(t)));
    },
    async drain() {
      await Promise.allSettled([...inFlight.values()]);
    },
    async stop() {
      stopped = true;
      clearJobs();
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}
