/**
 * Benchmark (not a test): one discover-mode poll cycle of 5,000 image servers through `pollTarget`.
 *
 * - baseline: a bare client fetching the same pages — undici `Pool.request`, AK/SK signing of every
 *   request (`signRequest`), `JSON.parse` of each body; the first two pages, then the other 48 four at
 *   a time, as the cloud client does. This is the floor any poller pays for the IO.
 * - candidate: the full cycle as app.ts runs it — `listImageServers` (the cloud client: signing, rate
 *   limiter, retry, validation), `observe` of every server, ONE SQLite commit (a real file in a temp dir),
 *   then what app.ts's `onCommitted` does (applyPollToMetrics: metrics.setServer for each observed state,
 *   recordTransition for each change, in slices with a yield between them); the cycle ends when those
 *   metrics are applied. Two cases: steady (no server changed) and 10% changed (500 servers flipped
 *   ACTIVE ⇄ BUILT before the cycle, untimed: 500 status_changed events and 500 delivery rows).
 * Each round runs: baseline, steady, baseline, changed — every candidate right after its own baseline —
 * and a ratio is taken per pair; the medians of the paired ratios are reported.
 *
 * The simulator runs in a child process (bench/helpers.ts), so this process's CPU time and event loop
 * carry only the poller's work. Per cycle: wall ms, this process's CPU ms, the longest event-loop block
 * (monitorEventLoopDelay, 1 ms resolution), and a breakdown (list / commitPoll / metrics — the synchronous time of the
 * slices — / rest = observe, bookkeeping and the yields between slices). Rounds run every kind once in a rotating order; medians are reported.
 *
 * The headline ratio is CPU: candidate bench-process CPU ms / baseline CPU ms of the pair, also given per
 * 1,000 observations. Wall time is reported too, but the simulator itself spends tens of ms CPU per page
 * (it sorts and clones the whole project for every page), so wall time here mostly measures the simulator.
 *
 * Last, a no-IO scaling check: steady cycles at 1,250 / 2,500 / 5,000 servers with a stub cloud returning
 * an already-fetched list; µs per server that grows with the size would reveal an O(n²) step.
 *
 * Run alone: `node --import tsx bench/poll-cycle.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { type CloudClient, createCloudClient, LIST_CONCURRENCY, LIST_LIMIT } from "../src/cloud/client.js";
import { signRequest } from "../src/cloud/signer.js";
import { parseConfigText } from "../src/config/load.js";
import type { Config, TargetConfig } from "../src/config/types.js";
import type { TargetMemory } from "../src/domain/poll-plan.js";
import type { ImageServer, ServerState } from "../src/domain/types.js";
import { systemClock } from "../src/lib/clock.js";
import { mapLimit } from "../src/lib/concurrency.js";
import { createSilentLogger } from "../src/lib/logger.js";
import { applyPollToMetrics } from "../src/metrics/apply-poll.js";
import { createMetrics, type Metrics } from "../src/metrics/metrics.js";
import { JobBook } from "../src/poller/job-book.js";
import {
  type PollDeps,
  type PollSummary,
  pollTarget,
  ServerStates,
  TargetStates,
} from "../src/poller/poll-target.js";
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
  startSimChild,
  withLoopDelay,
} from "./helpers.js";
import type { BenchResult } from "./metrics-scrape.js";

/** One kind of cycle's medians. */
export interface CycleFigures {
  wallMs: number;
  cpuMs: number;
  maxEventLoopDelayMs: number;
  listMs: number;
  commitMs: number;
  onCommittedMs: number;
  /** wall − list − commit − onCommitted: observe, maps, sorting, deliveries matching. */
  restMs: number;
}

/** This benchmark's result, with the extra figures it measures. */
export interface PollCycleBenchResult extends BenchResult {
  servers: number;
  rounds: number;
  baselineFigures: Pick<CycleFigures, "wallMs" | "cpuMs" | "maxEventLoopDelayMs">;
  steady: CycleFigures;
  changed: CycleFigures & { changedServers: number; events: number };
  /** The first cycle (10,000 servers discovered, 10,000 events), run once. */
  firstCycle: { wallMs: number; cpuMs: number; maxEventLoopDelayMs: number; events: number };
  /** The simulator child's CPU per list of 10,000 (median): where the baseline's wall time goes. */
  simulatorCpuMsPerList: number;
  /** Size of one server's state as the store writes it (JSON), bytes: every cycle rewrites every row. */
  stateJsonBytesPerServer: number;
  /**
   * The poller alone, without IO (a cloud stub returning an already-fetched list), steady cycles at
   * several sizes: a per-server cost that grows with the size would show an O(n²) step.
   */
  scalingNoIo: ScalingPoint[];
  /** The other cases, as rows of the summary table. */
  moreRows: BenchResult[];
}

/** One size of the no-IO scaling check. */
export interface ScalingPoint {
  servers: number;
  steadyCycleMs: number;
  usPerServer: number;
  maxEventLoopDelayMs: number;
}

const SERVERS = 5_000;
const SCALING_SIZES = [1_250, 2_500, 5_000];
const SCALING_ROUNDS = 3;
const ROUNDS = 11;
const CHANGED_FRACTION_EVERY = 10; // every 10th server changes in a "changed" cycle

interface Sample {
  wallMs: number;
  cpuMs: number;
  maxDelayMs: number;
  listMs: number;
  commitMs: number;
  onCommittedMs: number;
  summary?: PollSummary;
}

/** Runs the benchmark. */
export async function run(): Promise<PollCycleBenchResult> {
  const sim = await startSimChild();
  const dir = mkdtempSync(join(tmpdir(), "imagewatch-bench-poll-"));
  const logger = createSilentLogger();
  let cloud: CloudClient | undefined;
  let store: Store | undefined;
  let closeBare: () => Promise<void> = async () => {};
  try {
    const ids = await sim.addServers(PROJECT, SERVERS, "ACTIVE");
    const statuses = ids.map(() => "ACTIVE");
    const secret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    const { config } = parseConfigText(
      `
cloud:
  region: cn-north-4
  endpoint: ${sim.url}
  iamEndpoint: ${sim.url}
  auth: { kind: aksk, accessKey: ${AK}, secretKey: ${SK} }
  requestTimeout: 30s
  maxRequestsPerSecond: 1000
  retry: { attempts: 3, minDelay: 100ms, maxDelay: 1s }
targets:
  - { projectId: ${PROJECT}, discover: true }
webhooks:
  - name: ops
    url: http://127.0.0.1:9/never-called
    format: standard
    secret: ${secret}
state: { path: ${JSON.stringify(join(dir, "state.db"))} }
`,
      {},
      "bench-poll-cycle.yaml",
    );
    const target = config.targets[0];
    if (!target) throw new Error("no target");

    const metrics = createMetrics({ version: "bench", collectDefault: false });
    const client = createCloudClient(config.cloud, {
      clock: systemClock,
      logger,
      onRequest: (r) => metrics.recordRequest(r.projectId, r.outcome, r.durationSeconds),
    });
    cloud = client;
    const realStore = openSqliteStore(config.state.path, { clock: systemClock, logger });
    store = realStore;
    const states = new ServerStates();
    const jobBook = new JobBook(realStore);
    const memory = new Map<string, TargetMemory>();

    // Phase timers, reset before each cycle.
    let listMs = 0;
    let commitMs = 0;
    let onCommittedMs = 0;
    const timedCloud: CloudClient = {
      ...client,
      getImageServer: (...a) => client.getImageServer(...a),
      async listImageServers(...a) {
        const t0 = performance.now();
        try {
          return await client.listImageServers(...a);
        } finally {
          listMs += performance.now() - t0;
        }
      },
      close: () => client.close(),
    };
    const timedStore = new Proxy(realStore, {
      get(t, prop, receiver) {
        if (prop === "commitPoll") {
          return (commit: Parameters<Store["commitPoll"]>[0]) => {
            const t0 = performance.now();
            try {
              return t.commitPoll(commit);
            } finally {
              commitMs += performance.now() - t0;
            }
          };
        }
        const v = Reflect.get(t, prop, receiver) as unknown;
        return typeof v === "function" ? (v as (...args: unknown[]) => unknown).bind(t) : v;
      },
    });
    const applier = createMetricsApplier(metrics, (ms) => {
      onCommittedMs += ms;
    });
    const onCommitted = applier.onCommitted;

    const measure = async (fn: () => Promise<PollSummary | undefined>): Promise<Sample> => {
      listMs = 0;
      commitMs = 0;
      onCommittedMs = 0;
      const c0 = cpuMs();
      const { value, maxDelayMs } = await withLoopDelay(async () => {
        const start = performance.now();
        const summary = await fn();
        return { summary, wall: performance.now() - start };
      });
      const cpu = cpuMs() - c0;
      return {
        wallMs: value.wall,
        // The loop-delay window adds ~10 ms of idle time around the cycle; CPU in it is negligible.
        cpuMs: cpu,
        maxDelayMs,
        listMs,
        commitMs,
        onCommittedMs,
        ...(value.summary ? { summary: value.summary } : {}),
      };
    };

    // A cycle ends when its metrics are applied too (app.ts applies them after the commit, in slices).
    const cycle = async () => {
      const summary = await pollTarget(target, {
        cloud: timedCloud,
        store: timedStore,
        states,
        targets: new TargetStates(),
        jobBook,
        clock: systemClock,
        logger,
        config: () => config,
        memory,
        onCommitted,
        force: true,
      });
      await applier.settled();
      return summary;
    };
    const lastList: ImageServer[] = await client.listImageServers(PROJECT, {});
    const barePool = new Pool(sim.url, { connections: 8, keepAliveTimeout: 30_000 });
    const pagePath = (offset: number) => `/v1/${PROJECT}/image-servers?limit=${LIST_LIMIT}&offset=${offset}`;
    const bareGet = async (offset: number): Promise<{ count: number; items: unknown[] }> => {
      const path = pagePath(offset);
      const headers = signRequest(
        { method: "GET", url: new URL(path, sim.url), headers: { Accept: "application/json" } },
        { accessKey: AK, secretKey: SK },
        { now: Date.now(), projectId: PROJECT },
      );
      const res = await barePool.request({ method: "GET", path, headers });
      const body = JSON.parse(await res.body.text()) as { count: number; items: unknown[] };
      if (res.statusCode !== 200) throw new Error(`bare client got HTTP ${res.statusCode}`);
      return body;
    };
    closeBare = () => barePool.close();
    /** The baseline: the same pages, bare (first page, then the rest LIST_CONCURRENCY at a time). */
    const bareList = async () => {
      const first = await bareGet(0);
      const offsets: number[] = [];
      // By the items a page holds, as the client does (the simulator may cap pages below the limit);
      // the second page alone, then the rest LIST_CONCURRENCY at a time, as the client does.
      const step = first.items.length;
      let n = first.items.length;
      if (step < first.count) n += (await bareGet(step)).items.length;
      for (let o = 2 * step; o < first.count; o += step) offsets.push(o);
      await mapLimit(offsets, LIST_CONCURRENCY, async (o) => {
        const page = await bareGet(o);
        n += page.items.length;
      });
      if (n !== SERVERS) throw new Error(`bare list returned ${n} servers`);
      return undefined;
    };
    const expect = (s: Sample, what: string, events: number) => {
      const sum = s.summary;
      if (
        !sum ||
        sum.observed !== SERVERS ||
        sum.failed !== 0 ||
        sum.events !== events ||
        sum.mode !== "list"
      ) {
        throw new Error(
          `${what} cycle: unexpected summary ${JSON.stringify(sum)} (expected ${events} events)`,
        );
      }
    };

    // First cycle: everything discovered (kept out of the medians, reported once). It also warms up the
    // list path and the commit path; no further warm-up, since every cycle costs the simulator ~5 s.
    const first = await measure(cycle);
    expect(first, "first", SERVERS);

    let flipRound = 0;
    const flip = async () => {
      const changed: string[] = [];
      const toActive: string[] = [];
      const toBuilt: string[] = [];
      for (let i = flipRound % CHANGED_FRACTION_EVERY; i < SERVERS; i += CHANGED_FRACTION_EVERY) {
        const next = statuses[i] === "ACTIVE" ? "BUILT" : "ACTIVE";
        statuses[i] = next;
        (next === "ACTIVE" ? toActive : toBuilt).push(ids[i] as string);
        changed.push(ids[i] as string);
      }
      flipRound++;
      if (toActive.length) await sim.setStatus(PROJECT, toActive, "ACTIVE");
      if (toBuilt.length) await sim.setStatus(PROJECT, toBuilt, "BUILT");
      return changed.length;
    };

    const base: Sample[] = [];
    const steady: Sample[] = [];
    const changed: Sample[] = [];
    const steadyRatios: number[] = [];
    const changedRatios: number[] = [];
    const simCpu: number[] = [];
    let changedServers = 0;
    const baseline = async (): Promise<Sample> => {
      const c0 = await sim.cpuMs();
      const b = await measure(bareList);
      simCpu.push((await sim.cpuMs()) - c0);
      base.push(b);
      return b;
    };
    // Warm-up of the bare path (the candidate's was the first cycle).
    await bareList();
    for (let round = 0; round < ROUNDS; round++) {
      const b1 = await baseline();
      const s = await measure(cycle);
      expect(s, "steady", 0);
      steady.push(s);
      steadyRatios.push(s.cpuMs / b1.cpuMs);
      const b2 = await baseline();
      changedServers = await flip();
      const c = await measure(cycle);
      expect(c, "changed", changedServers);
      changed.push(c);
      changedRatios.push(c.cpuMs / b2.cpuMs);
    }

    const figures = (xs: Sample[]): CycleFigures => {
      const wallMs = median(xs.map((x) => x.wallMs));
      const list = median(xs.map((x) => x.listMs));
      const commit = median(xs.map((x) => x.commitMs));
      const onC = median(xs.map((x) => x.onCommittedMs));
      return {
        wallMs: round2(wallMs),
        cpuMs: round2(median(xs.map((x) => x.cpuMs))),
        maxEventLoopDelayMs: round2(Math.max(...xs.map((x) => x.maxDelayMs))),
        listMs: round2(list),
        commitMs: round2(commit),
        onCommittedMs: round2(onC),
        restMs: round2(median(xs.map((x) => x.wallMs - x.listMs - x.commitMs - x.onCommittedMs))),
      };
    };
    const scale = await scaling(lastList, config, target, dir);
    const baseF = figures(base);
    const steadyF = figures(steady);
    const changedF = figures(changed);
    const common =
      `simulator in a child process, SQLite file store, one webhook; ${ROUNDS} rounds of (baseline, steady, ` +
      `baseline, changed) after one discovery cycle; ratio = median of the per-pair ratios`;
    const per1000 = (ms: number) => round2((ms * 1000) / SERVERS);
    const row = (
      name: string,
      key: "cpuMs" | "wallMs",
      cand: CycleFigures,
      label: string,
      how: string,
      ratio: number,
    ): BenchResult => ({
      name,
      baseline: {
        label: `bare client: undici + AK/SK signing + JSON.parse of the same ${SERVERS / LIST_LIMIT} pages, ${how}`,
        medianMs: key === "cpuMs" ? per1000(baseF.cpuMs) : baseF.wallMs,
      },
      candidate: { label: `${label}, ${how}`, medianMs: key === "cpuMs" ? per1000(cand.cpuMs) : cand.wallMs },
      ratio: round2(ratio),
      method: `${how}${key === "cpuMs" ? " per 1,000 observations" : " per cycle"}, ${SERVERS} servers, discover mode; ${common}`,
      ratioNote: "candidate / baseline (cost factor)",
    });
    const sample = states.all()[0];
    return {
      ...row(
        "poll-cycle steady",
        "cpuMs",
        steadyF,
        "full pollTarget cycle, no change",
        "bench-process CPU ms",
        median(steadyRatios),
      ),
      moreRows: [
        row(
          "poll-cycle 10% changed",
          "cpuMs",
          changedF,
          `full cycle, ${SERVERS / CHANGED_FRACTION_EVERY} changed`,
          "bench-process CPU ms",
          median(changedRatios),
        ),
        row(
          "poll-cycle steady (wall)",
          "wallMs",
          steadyF,
          "full pollTarget cycle, no change",
          "wall ms",
          steadyF.wallMs / baseF.wallMs,
        ),
      ],
      servers: SERVERS,
      rounds: ROUNDS,
      baselineFigures: {
        wallMs: baseF.wallMs,
        cpuMs: baseF.cpuMs,
        maxEventLoopDelayMs: baseF.maxEventLoopDelayMs,
      },
      steady: steadyF,
      changed: { ...changedF, changedServers, events: changedServers },
      firstCycle: {
        wallMs: round2(first.wallMs),
        cpuMs: round2(first.cpuMs),
        maxEventLoopDelayMs: round2(first.maxDelayMs),
        events: first.summary?.events ?? 0,
      },
      simulatorCpuMsPerList: round2(median(simCpu)),
      stateJsonBytesPerServer: sample ? Buffer.byteLength(JSON.stringify(sample)) : 0,
      scalingNoIo: scale,
    };
  } finally {
    store?.close();
    await cloud?.close();
    await closeBare();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What app.ts does after a commit (its log line and delivery.wake() aside): metrics.setServer /
 * removeServer for every written state and recordTransition for each change, chained after earlier
 * commits and applied in slices with a yield between them. `onTime` gets the synchronous ms of each slice.
 */
function createMetricsApplier(
  metrics: Metrics,
  onTime: (ms: number) => void,
): { onCommitted: NonNullable<PollDeps["onCommitted"]>; settled(): Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  // The same work as app.ts after a commit (applyPollToMetrics), timed.
  const apply = async (
    written: readonly ServerState[],
    transitions: ReadonlyArray<{ from: string; to: string }>,
  ) => {
    const t0 = performance.now();
    await applyPollToMetrics(metrics, written, transitions);
    onTime(performance.now() - t0);
  };
  return {
    onCommitted(written, _events, transitions) {
      chain = chain.then(() => apply(written, transitions));
    },
    settled: () => chain,
  };
}

/**
 * Steady cycles of the poller alone at several sizes: the list comes from a stub (no IO), the rest is
 * the real thing (observe, a SQLite commit per cycle, metrics.setServer for every written state).
 */
async function scaling(
  listed: readonly ImageServer[],
  config: Readonly<Config>,
  target: TargetConfig,
  dir: string,
): Promise<ScalingPoint[]> {
  const logger = createSilentLogger();
  const points: ScalingPoint[] = [];
  for (const n of SCALING_SIZES) {
    const servers = listed.slice(0, n);
    if (servers.length !== n) throw new Error(`scaling: only ${servers.length} servers listed`);
    const store = openSqliteStore(join(dir, `scaling-${n}.db`), { clock: systemClock, logger });
    try {
      const metrics = createMetrics({ version: "bench", collectDefault: false });
      const stub: CloudClient = {
        getImageServer: () => Promise.reject(new Error("not used")),
        listImageServers: async () => [...servers],
        listImageJobs: () => Promise.reject(new Error("not used")),
        listAllImageJobs: () => Promise.reject(new Error("not used")),
        listImageSubJobs: () => Promise.reject(new Error("not used")),
        showImageJob: () => Promise.reject(new Error("not used")),
        exportListings: () => ({ v: 1, listings: [] }),
        seedListings: () => {},
        close: async () => {},
      };
      const states = new ServerStates();
      const jobBook = new JobBook(store);
      const memory = new Map<string, TargetMemory>();
      const applier = createMetricsApplier(metrics, () => {});
      const cycle = async () => {
        const summary = await pollTarget(target, {
          cloud: stub,
          store,
          states,
          targets: new TargetStates(),
          jobBook,
          clock: systemClock,
          logger,
          config: () => config,
          memory,
          onCommitted: applier.onCommitted,
          force: true,
        });
        await applier.settled();
        return summary;
      };
      const first = await cycle();
      if (first.observed !== n) throw new Error(`scaling: first cycle observed ${first.observed}`);
      const times: number[] = [];
      let maxDelay = 0;
      for (let i = 0; i < SCALING_ROUNDS; i++) {
        const { value, maxDelayMs } = await withLoopDelay(async () => {
          const t0 = performance.now();
          const summary = await cycle();
          return { ms: performance.now() - t0, summary };
        });
        if (value.summary.observed !== n || value.summary.events !== 0) {
          throw new Error(`scaling: unexpected summary ${JSON.stringify(value.summary)}`);
        }
        times.push(value.ms);
        maxDelay = Math.max(maxDelay, maxDelayMs);
      }
      const ms = median(times);
      points.push({
        servers: n,
        steadyCycleMs: round2(ms),
        usPerServer: round2((ms * 1000) / n),
        maxEventLoopDelayMs: round2(maxDelay),
      });
    } finally {
      store.close();
    }
  }
  return points;
}

runWhenMain(import.meta.url, run);
