/**
 * Benchmark (not a test): one /metrics render for 10,000 image servers.
 *
 * - baseline: one prom-client Gauge child per per-server series, rendered by `registry.metrics()`
 *   (what DESIGN §5 rules out; the toolchain notes measured 0.7–0.8 s for a similar shape).
 * Each timed render ends with the UTF-8 bytes a scrape sends (the baseline encodes its string; the candidate
 * returns its cached chunks, rebuilding dirty ones).
 *
 * - candidate: `createMetrics()` — per-server text cached per family, rebuilt only for families that changed.
 *
 * Before every timed render both sides get the same update of all 10,000 servers (untimed): a new status,
 * new timestamps and a changed info label for every server, so every cached family of the candidate is dirty
 * and must be rebuilt — its worst case. A "typical" figure (only poll timestamps changed, as after a poll
 * round with no status change) is reported too. The max event-loop delay during renders is taken from
 * `perf_hooks.monitorEventLoopDelay`.
 *
 * Run alone: `node --import tsx bench/metrics-scrape.ts`.
 */
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { Gauge, Registry } from "prom-client";
import { KNOWN_STATUSES, type ServerState } from "../src/domain/types.js";
import { createMetrics, METRIC_NAMES } from "../src/metrics/metrics.js";
import { runWhenMain } from "./helpers.js";

/** The result every benchmark reports. */
export interface BenchResult {
  name: string;
  baseline: { label: string; medianMs: number };
  candidate: { label: string; medianMs: number };
  /** baseline / candidate (how many times faster the candidate is) unless `ratioNote` says otherwise. */
  ratio: number;
  method: string;
  /** How `ratio` is computed when it is not baseline / candidate (e.g. "candidate / baseline"). */
  ratioNote?: string;
}

/** This benchmark's result, with the extra figures it measures. */
export interface MetricsScrapeBenchResult extends BenchResult {
  servers: number;
  bodyBytes: number;
  typicalCandidateMedianMs: number;
  setServerAllMedianMs: number;
  maxEventLoopDelayMs: { baseline: number; candidate: number };
  /** What one `createMetrics` holds at SERVERS servers after a plain and a gzip render, after a full GC. */
  retainedMiB: { heap: number; external: number; total: number };
}

const SERVERS = 10_000;
const BASELINE_RUNS = 5;
const CANDIDATE_RUNS = 9;
const PROJECT = "0123456789abcdef0123456789abcdef";
const STATUS_CYCLE = [...KNOWN_STATUSES, "UNKNOWN"];

function serverId(i: number): string {
  return `4b1a2c3d-0000-1111-2222-${String(i).padStart(12, "0")}`;
}

/** A state of server `i` in `round` (status, info and timestamps move with the round). */
export function makeState(i: number, round: number): ServerState {
  const id = serverId(i);
  const status = STATUS_CYCLE[(i + round) % STATUS_CYCLE.length] as string;
  const t = 1_764_237_600_000 + round * 30_000;
  return {
    projectId: PROJECT,
    serverId: id,
    name: `build-${i}`,
    status,
    statusSince: t - i,
    present: true,
    stuck: (i + round) % 10 === 0,
    stuckNotifiedAt: null,
    stuckCount: 0,
    consecutiveFailures: 0,
    pollFailedNotified: false,
    lastPollAt: t,
    lastPollOk: true,
    lastSuccessAt: t,
    lastError: null,
    server: {
      id,
      name: `build-${i}`,
      status,
      updateTime: t,
      createTime: 1_764_000_000_000 + i,
      imageId: `img-${i}-${round}`,
      imageType: "private",
      serverGroupId: "sg-1",
      appGroupId: "ag-1",
      apsServerId: `aps-${i}`,
      instanceId: `ecs-${i}`,
      raw: {},
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Measures `render` after `update` (untimed) `runs` times; returns durations and the max loop delay. */
async function measure(
  runs: number,
  update: (round: number) => void,
  render: () => Promise<number>,
): Promise<{ times: number[]; maxDelayMs: number; bytes: number }> {
  const times: number[] = [];
  let maxDelayMs = 0;
  let bytes = 0;
  for (let round = 1; round <= runs; round++) {
    update(round);
    await yieldToLoop();
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    // The histogram records from its second tick on: let it tick before the render starts.
    await new Promise((r) => setTimeout(r, 5));
    const t0 = performance.now();
    const bytesOut = await render();
    times.push(performance.now() - t0);
    // Let the histogram see the loop turn that follows the render.
    await new Promise((r) => setTimeout(r, 5));
    h.disable();
    maxDelayMs = Math.max(maxDelayMs, h.max / 1e6);
    bytes = bytesOut;
  }
  return { times, maxDelayMs, bytes };
}

/** A full garbage collection, without needing `--expose-gc` on the command line. */
function collectGarbage(): void {
  v8.setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  for (let i = 0; i < 3; i++) gc();
}

/** Heap and external bytes in use after a full GC. */
function inUse(): { heap: number; external: number } {
  collectGarbage();
  return { heap: v8.getHeapStatistics().used_heap_size, external: process.memoryUsage().external };
}

/**
 * The memory one `createMetrics` retains for SERVERS servers, after one plain and one gzip render: heap and
 * external (Buffer) bytes in use after a full GC, minus the same before it was created. The states stay
 * referenced by the caller throughout, so they count in neither.
 */
async function measureRetained(): Promise<{ heap: number; external: number; total: number }> {
  const states = Array.from({ length: SERVERS }, (_, i) => makeState(i, 0));
  const before = inUse();
  const metrics = createMetrics({ version: "bench", collectDefault: false });
  for (const s of states) metrics.setServer(s);
  await metrics.renderChunks();
  await metrics.renderChunks({ gzip: true });
  const after = inUse();
  const mib = (n: number) => round2(n / 1048576);
  const heap = after.heap - before.heap;
  const external = after.external - before.external;
  // Keep both alive until measured.
  if (states.length !== SERVERS || metrics.registry === undefined) throw new Error("unreachable");
  return { heap: mib(heap), external: mib(external), total: mib(heap + external) };
}

/** The baseline: the same series as prom-client children on a registry. */
function createBaseline(): { update(round: number): void; render(): Promise<number> } {
  const registry = new Registry();
  const registers = [registry];
  const ids = ["project_id", "server_id"] as const;
  const status = new Gauge({
    name: METRIC_NAMES.serverStatus,
    help: "status",
    labelNames: [...ids, "status"],
    registers,
  });
  const info = new Gauge({
    name: METRIC_NAMES.serverInfo,
    help: "info",
    labelNames: [
      ...ids,
      "name",
      "image_id",
      "image_type",
      "server_group_id",
      "app_group_id",
      "aps_server_id",
      "instance_id",
    ],
    registers,
  });
  const simple = [
    METRIC_NAMES.serverStatusChanged,
    METRIC_NAMES.serverCreated,
    METRIC_NAMES.serverStuck,
    METRIC_NAMES.serverPollSuccess,
    METRIC_NAMES.serverLastPollSuccess,
  ].map((name) => new Gauge({ name, help: name, labelNames: [...ids], registers }));
  const lastInfo = new Map<string, Record<string, string>>();
  const lastExtra = new Map<string, string>();
  return {
    update(round) {
      for (let i = 0; i < SERVERS; i++) {
        const s = makeState(i, round);
        const key = { project_id: s.projectId, server_id: s.serverId };
        for (const st of KNOWN_STATUSES) status.set({ ...key, status: st }, st === s.status ? 1 : 0);
        const extra = lastExtra.get(s.serverId);
        if (extra !== undefined) status.remove({ ...key, status: extra });
        if (!(KNOWN_STATUSES as readonly string[]).includes(s.status as string)) {
          status.set({ ...key, status: s.status as string }, 1);
          lastExtra.set(s.serverId, s.status as string);
        } else lastExtra.delete(s.serverId);
        const srv = s.server!;
        const labels = {
          ...key,
          name: srv.name,
          image_id: srv.imageId,
          image_type: srv.imageType,
          server_group_id: srv.serverGroupId,
          app_group_id: srv.appGroupId,
          aps_server_id: srv.apsServerId,
          instance_id: srv.instanceId,
        };
        const old = lastInfo.get(s.serverId);
        if (old) info.remove(old);
        info.set(labels, 1);
        lastInfo.set(s.serverId, labels);
        const [changed, created, stuck, ok, lastOk] = simple as [Gauge, Gauge, Gauge, Gauge, Gauge];
        changed.set(key, s.statusSince / 1000);
        created.set(key, (srv.createTime ?? 0) / 1000);
        stuck.set(key, s.stuck ? 1 : 0);
        ok.set(key, s.lastPollOk ? 1 : 0);
        lastOk.set(key, (s.lastSuccessAt ?? 0) / 1000);
      }
    },
    // Producing the bytes is part of a scrape (node:http encodes the string on send).
    render: async () => Buffer.from(await registry.metrics(), "utf8").length,
  };
}

/** Runs the benchmark. */
export async function run(): Promise<MetricsScrapeBenchResult> {
  const retainedMiB = await measureRetained();
  // Candidate, worst case: every family dirty before each render.
  const metrics = createMetrics({ version: "bench", collectDefault: false });
  // What the HTTP server does: the exposition as UTF-8 chunks, sent without concatenation.
  const renderCandidate = async (): Promise<number> => {
    const { chunks } = await metrics.renderChunks();
    let n = 0;
    for (const c of chunks) n += c.length;
    return n;
  };
  const setTimes: number[] = [];
  const candidate = await measure(
    CANDIDATE_RUNS,
    (round) => {
      const t0 = performance.now();
      for (let i = 0; i < SERVERS; i++) metrics.setServer(makeState(i, round));
      setTimes.push(performance.now() - t0);
    },
    renderCandidate,
  );

  // Candidate, typical: a poll round that only moved the poll timestamps.
  const typical = await measure(
    CANDIDATE_RUNS,
    (round) => {
      for (let i = 0; i < SERVERS; i++) {
        const s = makeState(i, CANDIDATE_RUNS);
        metrics.setServer({
          ...s,
          lastPollAt: s.lastPollAt! + round,
          lastSuccessAt: s.lastSuccessAt! + round,
        });
      }
    },
    renderCandidate,
  );

  const baselineImpl = createBaseline();
  const baseline = await measure(BASELINE_RUNS, (round) => baselineImpl.update(round), baselineImpl.render);

  const baselineMs = median(baseline.times);
  const candidateMs = median(candidate.times);
  return {
    name: "metrics-scrape",
    baseline: { label: "prom-client child per series, registry.metrics()", medianMs: round2(baselineMs) },
    candidate: { label: "cached per-server text (all families dirty)", medianMs: round2(candidateMs) },
    ratio: round2(baselineMs / candidateMs),
    method:
      `${SERVERS} servers (~${Math.round(candidate.bytes / 1024)} KiB of text); before each timed render every server ` +
      `gets a new status, timestamps and info label (untimed). Medians of ${BASELINE_RUNS} baseline and ` +
      `${CANDIDATE_RUNS} candidate renders in one process; max event-loop delay via monitorEventLoopDelay.`,
    servers: SERVERS,
    bodyBytes: candidate.bytes,
    typicalCandidateMedianMs: round2(median(typical.times)),
    setServerAllMedianMs: round2(median(setTimes)),
    maxEventLoopDelayMs: { baseline: round2(baseline.maxDelayMs), candidate: round2(candidate.maxDelayMs) },
    retainedMiB,
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

runWhenMain(import.meta.url, run);
