/**
 * Benchmark (not a test): the scheduler with 100 targets × 100 servers at `schedule.interval` 30 s, each
 * tick a real `pollTarget` (observe, SQLite commit, metrics) over a stub cloud that answers the list at
 * once from memory.
 *
 * - 5 minutes on a manual clock (test/helpers/manual-clock.ts): every target's polls are recorded;
 *   a skipped tick is a `tick_skipped` event or a gap over 1.5 intervals between two polls of a target,
 *   a doubled tick two polls less than half an interval apart.
 * - real time, shortened: the same 100 × 100 at interval 3 s for 30 s on the system clock, with the
 *   event-loop delay (monitorEventLoopDelay, 1 ms resolution) over the whole run: p99 and max.
 * Baseline (for the ratio): the same real-time run with polls that do nothing, i.e. the loop delay the
 * timers alone cause.
 *
 * Run alone: `node --import tsx bench/scheduler.ts`.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { CloudClient } from "../src/cloud/client.js";
import { parseConfigText } from "../src/config/load.js";
import type { Config, TargetConfig } from "../src/config/types.js";
import type { TargetMemory } from "../src/domain/poll-plan.js";
import type { ImageServer } from "../src/domain/types.js";
import { type Clock, systemClock, type Timers } from "../src/lib/clock.js";
import { createSilentLogger } from "../src/lib/logger.js";
import { applyPollToMetrics } from "../src/metrics/apply-poll.js";
import { createMetrics } from "../src/metrics/metrics.js";
import { JobBook } from "../src/poller/job-book.js";
import { pollTarget, ServerStates, TargetStates } from "../src/poller/poll-target.js";
import { createScheduler } from "../src/poller/scheduler.js";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import { createManualClock } from "../test/helpers/manual-clock.js";
import { round2, runWhenMain, serverId } from "./helpers.js";
import type { BenchResult } from "./metrics-scrape.js";

const TARGETS = 100;
const PER_TARGET = 100;

/** This benchmark's result. */
export interface SchedulerBenchResult extends BenchResult {
  manual: {
    minutes: number;
    intervalS: number;
    polls: number;
    skipped: number;
    doubled: number;
    secondPollGapS: { min: number; max: number };
  };
  realTime: {
    seconds: number;
    intervalS: number;
    polls: number;
    skipped: number;
    doubled: number;
    loopDelayP99Ms: number;
    loopDelayMaxMs: number;
  };
  idleLoopDelayP99Ms: number;
}

const project = (t: number) => `${String(t).padStart(8, "0")}${"0".repeat(24)}`;

function world(clock: Clock, timers: Timers, intervalMs: number, work: boolean) {
  const seconds = intervalMs / 1000;
  const { config } = parseConfigText(
    `
cloud: { region: cn-north-4, auth: { kind: token, token: t0000000000000000 } }
targets:
${Array.from({ length: TARGETS }, (_, t) => `  - { projectId: "${project(t)}", discover: true }`).join("\n")}
schedule: { interval: ${seconds}s, steadyInterval: ${seconds}s, concurrency: 4 }
state: { path: ":memory:" }
`,
    {},
    "bench-scheduler.yaml",
  );
  const lists = new Map<string, ImageServer[]>();
  for (let t = 0; t < TARGETS; t++) {
    lists.set(
      project(t),
      Array.from({ length: PER_TARGET }, (_, i) => {
        const id = serverId(t * PER_TARGET + i);
        return {
          id,
          name: `build-${i}`,
          status: "ACTIVE",
          updateTime: 1_764_000_000_000,
          createTime: 1_764_000_000_000,
          imageId: "",
          imageType: "private",
          serverGroupId: "",
          appGroupId: "",
          apsServerId: "",
          instanceId: "",
          raw: { id, status: "ACTIVE" },
        };
      }),
    );
  }
  const cloud: CloudClient = {
    getImageServer: () => Promise.reject(new Error("not used")),
    listImageServers: async (projectId) =>
      (lists.get(projectId) ?? []).map((s) => ({ ...s, raw: { ...s.raw } })),
    listImageJobs: () => Promise.reject(new Error("not used")),
    listAllImageJobs: () => Promise.reject(new Error("not used")),
    listImageSubJobs: () => Promise.reject(new Error("not used")),
    showImageJob: () => Promise.reject(new Error("not used")),
    exportListings: () => ({ v: 1, listings: [] }),
    seedListings: () => {},
    close: async () => {},
  };
  const logger = createSilentLogger();
  const store = openSqliteStore(":memory:", { clock, logger });
  const metrics = createMetrics({ version: "bench", collectDefault: false });
  const states = new ServerStates();
  const targets = new TargetStates();
  const jobBook = new JobBook(store);
  const memory = new Map<string, TargetMemory>();
  const polls = new Map<string, number[]>();
  const poll = async (target: TargetConfig, first: boolean) => {
    const list = polls.get(target.projectId) ?? [];
    list.push(clock.now());
    polls.set(target.projectId, list);
    if (!work) return;
    await pollTarget(target, {
      cloud,
      store,
      states,
      targets,
      jobBook,
      clock,
      logger,
      config: () => config as Readonly<Config>,
      memory,
      force: first,
      onCommitted: (s, _e, tr) => {
        void applyPollToMetrics(metrics, s, tr);
      },
    });
  };
  const scheduler = createScheduler(
    { targets: config.targets, interval: intervalMs, concurrency: 4 },
    { logger, clock, timers, poll },
  );
  let skippedEvents = 0;
  scheduler.on("tick_skipped", () => {
    skippedEvents++;
  });
  const count = () => {
    let total = 0;
    let skipped = skippedEvents;
    let doubled = 0;
    let minSecond = Number.POSITIVE_INFINITY;
    let maxSecond = 0;
    for (const times of polls.values()) {
      total += times.length;
      for (let i = 1; i < times.length; i++) {
        const gap = (times[i] as number) - (times[i - 1] as number);
        if (i === 1) {
          minSecond = Math.min(minSecond, gap);
          maxSecond = Math.max(maxSecond, gap);
          continue;
        }
        if (gap > intervalMs * 1.5) skipped++;
        if (gap < intervalMs / 2) doubled++;
      }
    }
    return {
      polls: total,
      skipped,
      doubled,
      secondPollGapS: { min: round2(minSecond / 1000), max: round2(maxSecond / 1000) },
    };
  };
  return { scheduler, count, close: () => store.close() };
}

async function realTime(seconds: number, intervalMs: number, work: boolean) {
  const w = world(
    systemClock,
    { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    intervalMs,
    work,
  );
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  w.scheduler.start();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await w.scheduler.stop();
  h.disable();
  w.close();
  return { ...w.count(), p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
}

/** Runs the benchmark. */
export async function run(): Promise<SchedulerBenchResult> {
  const clock = createManualClock();
  const m = world(clock, clock, 30_000, true);
  m.scheduler.start();
  for (let s = 0; s < 300; s++) await clock.advance(1000);
  await m.scheduler.stop();
  m.close();
  const manual = m.count();
  const idle = await realTime(15, 3000, false);
  const real = await realTime(30, 3000, true);
  return {
    name: "scheduler loop delay p99",
    baseline: { label: "same timers, polls doing nothing (15 s)", medianMs: round2(idle.p99) },
    candidate: {
      label: "100 targets × 100 servers, real pollTarget, interval 3 s (30 s)",
      medianMs: round2(real.p99),
    },
    ratio: round2(real.p99 / idle.p99),
    ratioNote: "candidate / baseline (p99 event-loop delay)",
    method:
      "manual clock: 5 min at interval 30 s, skipped/doubled counted per target; real time shortened to 30 s at interval 3 s, monitorEventLoopDelay p99",
    manual: { minutes: 5, intervalS: 30, ...manual },
    realTime: {
      seconds: 30,
      intervalS: 3,
      polls: real.polls,
      skipped: real.skipped,
      doubled: real.doubled,
      loopDelayP99Ms: round2(real.p99),
      loopDelayMaxMs: round2(real.max),
    },
    idleLoopDelayP99Ms: round2(idle.p99),
  };
}

runWhenMain(import.meta.url, run);
