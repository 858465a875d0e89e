/**
 * Benchmark (not a test): rendering the status page (`GET /`) for 10,000 image servers.
 *
 * - baseline: `JSON.stringify` of the same 10,000 server states, the `/api/v1/servers` body: the least
 *   a page about every server could cost.
 * - candidate: `renderStatusPage()` with 24 hours of status changes (2 per server), a job result per
 *   tenth server, 500 build durations and 50 events: the page lists the servers that need attention
 *   (5% of the fleet here, first 200) and counts the steady ones behind a link.
 * - also: the steady view's second page (`?view=steady&page=2`).
 *
 * Rounds alternate baseline and candidate. Bytes are the UTF-8 size of the page.
 *
 * Run alone: `node --import tsx bench/status-page.ts`.
 */
import { performance } from "node:perf_hooks";
import { gzipSync } from "node:zlib";
import type { ServerState } from "../src/domain/types.js";
import { renderStatusPage, type StatusPageInput } from "../src/http/status-page.js";
import type { JobResult, StatusChange } from "../src/store/types.js";
import { median, PROJECT, round2, runWhenMain, serverId } from "./helpers.js";
import type { BenchResult } from "./metrics-scrape.js";

/** This benchmark's result, with the page sizes. */
export interface StatusPageBenchResult extends BenchResult {
  servers: number;
  rows: number;
  pageBytes: number;
  /** The page gzipped (level 6), as a compressing proxy would send it. */
  pageGzipBytes: number;
  baselineBytes: number;
  steadyPageMedianMs: number;
  steadyPageBytes: number;
}

const SERVERS = 10_000;
const ROUNDS = 15;
const NOW = 1_764_237_600_000;

function makeState(i: number): ServerState {
  const id = serverId(i);
  const attention = i % 20 === 0;
  const status = attention ? (i % 40 === 0 ? "ERROR" : "BUILDING") : "BUILT";
  return {
    projectId: PROJECT,
    serverId: id,
    name: `build-${i}`,
    status,
    statusSince: NOW - 3_600_000 - i * 1000,
    present: true,
    stuck: attention && i % 60 === 0,
    stuckNotifiedAt: null,
    stuckCount: 0,
    consecutiveFailures: i % 100 === 0 ? 3 : 0,
    pollFailedNotified: false,
    lastPollAt: NOW - 10_000,
    lastPollOk: i % 100 !== 0,
    lastSuccessAt: NOW - 10_000,
    lastError: i % 100 === 0 ? { kind: "http_5xx", http_status: 503, error_msg: "busy" } : null,
    server: null,
  };
}

function makeInput(): StatusPageInput {
  const servers = Array.from({ length: SERVERS }, (_, i) => makeState(i));
  const statusChanges: StatusChange[] = [];
  for (const s of servers) {
    statusChanges.push(
      {
        projectId: PROJECT,
        serverId: s.serverId,
        occurredAt: NOW - 20 * 3_600_000,
        previousStatus: "CREATING",
        previousSince: null,
        status: "BUILDING",
      },
      {
        projectId: PROJECT,
        serverId: s.serverId,
        occurredAt: s.statusSince,
        previousStatus: "BUILDING",
        previousSince: null,
        status: s.status,
      },
    );
  }
  statusChanges.sort((a, b) => a.occurredAt - b.occurredAt);
  const jobs: JobResult[] = servers
    .filter((_, i) => i % 10 === 0)
    .map((s) => ({
      projectId: PROJECT,
      serverId: s.serverId,
      occurredAt: NOW - 60_000,
      eventType: "image_job.failed",
      jobType: "CREATE_SERVER_IMAGE",
      status: "FAILED",
      reason: "WKS.0042: disk full",
    }));
  return {
    servers,
    events: [],
    now: NOW,
    version: "bench",
    statusChanges,
    jobs,
    buildDurations: Array.from({ length: 500 }, (_, i) => 600 + i),
    stuckThresholdFor: () => 3_600_000,
  };
}

/** Runs the benchmark. */
export async function run(): Promise<StatusPageBenchResult> {
  const input = makeInput();
  const base: number[] = [];
  const cand: number[] = [];
  const steadyTimes: number[] = [];
  let page = "";
  let json = "";
  let steady = "";
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ["b", "c", "s"] : ["c", "s", "b"];
    for (const which of order) {
      const t0 = performance.now();
      if (which === "b") json = JSON.stringify({ servers: input.servers });
      else if (which === "c") page = renderStatusPage(input);
      else steady = renderStatusPage({ ...input, view: "steady", page: 2 });
      const ms = performance.now() - t0;
      (which === "b" ? base : which === "c" ? cand : steadyTimes).push(ms);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const b = median(base);
  const c = median(cand);
  return {
    name: "status-page",
    baseline: { label: "JSON.stringify of 10,000 server states", medianMs: round2(b) },
    candidate: { label: "renderStatusPage, 10,000 servers (500 need attention)", medianMs: round2(c) },
    ratio: round2(c / b),
    ratioNote: "candidate / baseline",
    method: `${ROUNDS} alternating rounds in one process; medians`,
    servers: SERVERS,
    rows: page.match(/<tr class="server/g)?.length ?? 0,
    pageBytes: Buffer.byteLength(page),
    pageGzipBytes: gzipSync(page).length,
    baselineBytes: Buffer.byteLength(json),
    steadyPageMedianMs: round2(median(steadyTimes)),
    steadyPageBytes: Buffer.byteLength(steady),
  };
}

runWhenMain(import.meta.url, run);
