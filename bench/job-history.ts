/**
 * Benchmark (not a test): does a poll tick get dearer as the job history grows? Every target watches its
 * image jobs by default, and a daemon keeps each finished job's record until `state.retention` prunes it:
 * a fleet that builds a few thousand images a day holds tens of thousands.
 *
 * One discover-mode tick of 1,000 steady servers with job watching on (the nine job lists, none holding a
 * job) through `pollTarget`, as app.ts runs it (a JobBook read once, a SQLite file in a temp dir):
 * - baseline: the project has no job record;
 * - candidate: the project keeps JOB_RECORDS finished job records (stored, and read once by the warm-up
 *   tick, as a running daemon has them).
 * Rounds alternate baseline and candidate; the ratio is the median of the per-round CPU ratios (~1: the
 * tick does not grow with the history). Also reported: the longest event-loop block of each, and what
 * reading every record from the store takes (`store.loadJobs`), which each tick did before the JobBook.
 *
 * The simulator runs in a child process (bench/helpers.ts), so this process's CPU is the poller's.
 *
 * Run alone: `node --import tsx bench/job-history.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { type CloudClient, createCloudClient } from "../src/cloud/client.js";
import { parseConfigText } from "../src/config/load.js";
import type { Config } from "../src/config/types.js";
import type { JobRecord } from "../src/domain/observe-jobs.js";
import { systemClock } from "../src/lib/clock.js";
import { createSilentLogger } from "../src/lib/logger.js";
import { JobBook } from "../src/poller/job-book.js";
import { type PollSummary, pollTarget, ServerStates, TargetStates } from "../src/poller/poll-target.js";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import type { Store } from "../src/store/types.js";
import {
  AK,
  cpuMs,
  median,
  PROJECT,
  round2,
  runWhenMain,
  SK,
  serverId,
  startSimChild,
  withLoopDelay,
} from "./helpers.js";
import type { BenchResult } from "./metrics-scrape.js";

const SERVERS = 1_000;
const JOB_RECORDS = 40_000;
const ROUNDS = 15;
const DAY = 86_400_000;

/** This benchmark's result, with the extra figures it measures. */
export interface JobHistoryBenchResult extends BenchResult {
  jobRecords: number;
  servers: number;
  rounds: number;
  maxEventLoopDelayMs: { baseline: number; candidate: number };
  /** One `store.loadJobs` of the candidate's project (median of 5): the per-tick read before the JobBook. */
  loadAllRecordsMs: number;
}

/** `n` finished builds, spread over the servers, that ended a day ago (inside the retention). */
function finishedJobs(n: number, now: number): JobRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const server = serverId(i % SERVERS);
    return {
      projectId: PROJECT,
      jobId: String(200_000_000_000_000_000n + BigInt(i)),
      jobType: "CREATE_SERVER_IMAGE",
      status: "SUCCESS",
      beginTime: now - DAY - 20 * 60_000 - i,
      endTime: now - DAY - i,
      serverId: server,
      name: `image-server-${i % SERVERS}`,
      resources: [{ id: server, name: `image-server-${i % SERVERS}` }],
      subJobsSeen: true,
      failures: [],
      outcomeHandled: true,
      stuckCount: 0,
      firstSeenAt: now - DAY - 20 * 60_000 - i,
    };
  });
}

/** A poller on its own store: `tick()` runs one forced pollTarget of the target. */
function poller(config: Readonly<Config>, cloud: CloudClient, store: Store) {
  const target = config.targets[0];
  if (!target) throw new Error("no target");
  const deps = {
    cloud,
    store,
    states: new ServerStates(),
    targets: new TargetStates(),
    jobBook: new JobBook(store),
    clock: systemClock,
    logger: createSilentLogger(),
    config: () => config,
    memory: new Map(),
    force: true,
  };
  return { tick: (): Promise<PollSummary> => pollTarget(target, deps) };
}

/** Runs the benchmark. */
export async function run(): Promise<JobHistoryBenchResult> {
  const sim = await startSimChild();
  const dir = mkdtempSync(join(tmpdir(), "imagewatch-bench-jobs-"));
  const stores: Store[] = [];
  let cloud: CloudClient | undefined;
  try {
    await sim.addServers(PROJECT, SERVERS, "ACTIVE");
    const configFor = (file: string) =>
      parseConfigText(
        `
cloud:
  region: cn-north-4
  endpoint: ${sim.url}
  iamEndpoint: ${sim.url}
  auth: { kind: aksk, accessKey: ${AK}, secretKey: ${SK} }
  maxRequestsPerSecond: 1000
targets:
  - { projectId: ${PROJECT}, discover: true, jobs: true }
state: { path: ${JSON.stringify(join(dir, file))} }
`,
        {},
        "bench-job-history.yaml",
      ).config;
    const baseConfig = configFor("none.db");
    const histConfig = configFor("history.db");
    cloud = createCloudClient(baseConfig.cloud, { clock: systemClock, logger: createSilentLogger() });
    const baseStore = openSqliteStore(baseConfig.state.path, { clock: systemClock });
    const histStore = openSqliteStore(histConfig.state.path, { clock: systemClock });
    stores.push(baseStore, histStore);
    const now = Date.now();
    const records = finishedJobs(JOB_RECORDS, now);
    for (let i = 0; i < records.length; i += 1_000) {
      histStore.commitPoll({
        servers: [],
        events: [],
        deliveries: [],
        now,
        jobs: { cursor: { projectId: PROJECT, failedCounts: {} }, records: records.slice(i, i + 1_000) },
      });
    }
    const loads: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const n = histStore.loadJobs(PROJECT).jobs.length;
      loads.push(performance.now() - t0);
      if (n !== JOB_RECORDS) throw new Error(`stored ${n} job records`);
    }

    const base = poller(baseConfig, cloud, baseStore);
    const hist = poller(histConfig, cloud, histStore);
    // Warm-up: the first tick of each discovers the servers and reads the job records once.
    for (const p of [base, hist]) {
      const s = await p.tick();
      if (s.observed !== SERVERS) throw new Error(`warm-up observed ${s.observed}`);
    }
    const measure = async (p: ReturnType<typeof poller>) => {
      const c0 = cpuMs();
      const { value, maxDelayMs } = await withLoopDelay(() => p.tick());
      if (value.observed !== SERVERS || value.events !== 0 || value.failed !== 0) {
        throw new Error(`unexpected tick ${JSON.stringify(value)}`);
      }
      return { cpu: cpuMs() - c0, maxDelayMs };
    };
    const baseCpu: number[] = [];
    const histCpu: number[] = [];
    const ratios: number[] = [];
    let baseMax = 0;
    let histMax = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first, so neither always runs right after the other's garbage.
      let b: Awaited<ReturnType<typeof measure>>;
      let h: Awaited<ReturnType<typeof measure>>;
      if (round % 2 === 0) {
        b = await measure(base);
        h = await measure(hist);
      } else {
        h = await measure(hist);
        b = await measure(base);
      }
      baseCpu.push(b.cpu);
      histCpu.push(h.cpu);
      ratios.push(h.cpu / b.cpu);
      baseMax = Math.max(baseMax, b.maxDelayMs);
      histMax = Math.max(histMax, h.maxDelayMs);
    }
    const method =
      `bench-process CPU ms of one forced pollTarget tick, ${SERVERS} steady servers, discover mode, job ` +
      `watching on (nine job lists, all empty); simulator in a child process; ${ROUNDS} alternating rounds ` +
      "after one warm-up tick each; ratio = median of the per-round ratios";
    return {
      name: "job-history tick",
      baseline: { label: "no job record kept", medianMs: round2(median(baseCpu)) },
      candidate: { label: `${JOB_RECORDS} finished job records kept`, medianMs: round2(median(histCpu)) },
      ratio: round2(median(ratios)),
      ratioNote: "candidate / baseline (cost factor)",
      method,
      jobRecords: JOB_RECORDS,
      servers: SERVERS,
      rounds: ROUNDS,
      maxEventLoopDelayMs: { baseline: round2(baseMax), candidate: round2(histMax) },
      loadAllRecordsMs: round2(median(loads)),
    };
  } finally {
    for (const s of stores) s.close();
    await cloud?.close();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, run);
