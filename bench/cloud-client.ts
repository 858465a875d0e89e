/**
 * Benchmark (not a test): client-side CPU cost of one GET through our cloud client.
 *
 * - baseline: a raw undici `Pool.request` + `body.json()` of the same URL, with AK/SK headers signed ONCE
 *   per round and reused (so the simulator does the same work and sends the same 200 body for both).
 * - candidate: `createCloudClient(...).getImageServer()` over an injected `Pool` with the same options:
 *   per-request AK/SK signing, shared rate limiter (set very high: it never waits), p-retry (3 attempts,
 *   never used), timeout guard, response classification and validation (`parseImageServer`).
 *
 * The simulator runs in a child process (bench/helpers.ts), so this process's `process.cpuUsage()` holds
 * only client work. Each round runs every side once, in a rotating order; ratio = candidate CPU per request
 * / baseline CPU per request (how many times more CPU our client spends per GET). A third side, for
 * attribution only, runs the client's own transport (`sendHttp`) + `JSON.parse` + `parseImageServer`
 * with pre-signed headers.
 *
 * Run alone: `node --import tsx bench/cloud-client.ts`.
 */
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { createCloudClient } from "../src/cloud/client.js";
import { parseImageServer } from "../src/cloud/parse.js";
import { signRequest } from "../src/cloud/signer.js";
import { sendHttp } from "../src/cloud/transport.js";
import { parseConfigText } from "../src/config/load.js";
import { systemClock } from "../src/lib/clock.js";
import { createSilentLogger } from "../src/lib/logger.js";
import { AK, cpuMs, median, PROJECT, round2, runWhenMain, SK, startSimChild } from "./helpers.js";
import type { BenchResult } from "./metrics-scrape.js";

/** This benchmark's result, with the extra figures it measures. */
export interface CloudClientBenchResult extends BenchResult {
  concurrency: number;
  requestsPerRound: number;
  rounds: number;
  baselineReqPerSec: number;
  candidateReqPerSec: number;
  baselineCpuUsPerReq: number;
  candidateCpuUsPerReq: number;
  /**
   * Attribution: the client's own transport (`sendHttp`, pre-signed headers) + `JSON.parse` +
   * `parseImageServer`, without signing, limiter, retry or classification; CPU µs per GET.
   */
  transportParseCpuUsPerReq: number;
  /** `signRequest` alone, µs per call (tight loop): part of the candidate's extra cost. */
  signOnlyUsPerCall: number;
}

const CONCURRENCY = 64;
const REQUESTS_PER_ROUND = 3000;
const ROUNDS = 7;
const WARMUP_REQUESTS = 1500;

interface RoundStats {
  reqPerSec: number;
  cpuUsPerReq: number;
}

/** Runs `total` calls of `fn` with `concurrency` in flight; returns wall ms and this process's CPU ms. */
async function drive(total: number, concurrency: number, fn: () => Promise<void>): Promise<RoundStats> {
  let started = 0;
  const worker = async () => {
    while (started < total) {
      started++;
      await fn();
    }
  };
  const cpu0 = cpuMs();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - t0;
  const cpu = cpuMs() - cpu0;
  return { reqPerSec: (total / wallMs) * 1000, cpuUsPerReq: (cpu * 1000) / total };
}

/** Runs the benchmark. */
export async function run(): Promise<CloudClientBenchResult> {
  const sim = await startSimChild();
  const poolOptions = { connections: CONCURRENCY, keepAliveTimeout: 30_000 };
  const basePool = new Pool(sim.url, poolOptions);
  const candPool = new Pool(sim.url, poolOptions);
  const transPool = new Pool(sim.url, poolOptions);
  try {
    const [id] = await sim.addServers(PROJECT, 1, "ACTIVE");
    if (id === undefined) throw new Error("simulator returned no server");
    const { config } = parseConfigText(
      `
cloud:
  region: cn-north-4
  endpoint: ${sim.url}
  iamEndpoint: ${sim.url}
  auth: { kind: aksk, accessKey: ${AK}, secretKey: ${SK} }
  requestTimeout: 10s
  maxRequestsPerSecond: 1000000
  retry: { attempts: 3, minDelay: 100ms, maxDelay: 1s }
targets:
  - { projectId: ${PROJECT}, serverIds: [${id}] }
`,
      {},
      "bench-cloud-client.yaml",
    );
    const client = createCloudClient(config.cloud, {
      clock: systemClock,
      logger: createSilentLogger(),
      dispatcher: candPool,
    });
    const path = `/v1/${PROJECT}/image-servers/${id}`;
    const url = new URL(path, sim.url);

    // Signed once per round; the simulator accepts a signature for 15 minutes.
    const signedHeaders = () =>
      signRequest(
        { method: "GET", url, headers: { Accept: "application/json" } },
        { accessKey: AK, secretKey: SK },
        {
          now: Date.now(),
          projectId: PROJECT,
        },
      );

    let baseHeaders = signedHeaders();
    const baselineCall = async () => {
      const res = await basePool.request({ method: "GET", path, headers: baseHeaders });
      const body = (await res.body.json()) as { id?: unknown };
      if (res.statusCode !== 200 || body.id !== id) throw new Error(`baseline got HTTP ${res.statusCode}`);
    };
    const candidateCall = async () => {
      const answer = await client.getImageServer(PROJECT, id);
      if (answer.kind !== "ok" || answer.server.id !== id) throw new Error("candidate got another server");
    };

    const transportCall = async () => {
      const res = await sendHttp(
        { method: "GET", url, headers: baseHeaders },
        { dispatcher: transPool, timeoutMs: 10_000 },
      );
      const server = parseImageServer(JSON.parse(res.text));
      if (res.status !== 200 || server.id !== id) throw new Error(`transport got HTTP ${res.status}`);
    };

    // Warm-up (JIT, connections), untimed.
    await drive(WARMUP_REQUESTS, CONCURRENCY, baselineCall);
    await drive(WARMUP_REQUESTS, CONCURRENCY, candidateCall);
    await drive(WARMUP_REQUESTS, CONCURRENCY, transportCall);

    const base: RoundStats[] = [];
    const cand: RoundStats[] = [];
    const trans: RoundStats[] = [];
    const sides: Array<[() => Promise<void>, RoundStats[]]> = [
      [baselineCall, base],
      [candidateCall, cand],
      [transportCall, trans],
    ];
    for (let round = 0; round < ROUNDS; round++) {
      baseHeaders = signedHeaders();
      // Rotate which side goes first, so drift (thermal, other load) hits every side alike.
      for (let k = 0; k < sides.length; k++) {
        const [fn, out] = sides[(round + k) % sides.length] as [() => Promise<void>, RoundStats[]];
        out.push(await drive(REQUESTS_PER_ROUND, CONCURRENCY, fn));
      }
    }
    await client.close();

    // Signing alone, for attribution.
    const SIGN_CALLS = 20_000;
    const s0 = performance.now();
    for (let i = 0; i < SIGN_CALLS; i++) {
      signRequest(
        { method: "GET", url, headers: { Accept: "application/json" } },
        { accessKey: AK, secretKey: SK },
        {
          now: Date.now(),
          projectId: PROJECT,
        },
      );
    }
    const signOnlyUsPerCall = ((performance.now() - s0) * 1000) / SIGN_CALLS;

    const baseCpu = median(base.map((r) => r.cpuUsPerReq));
    const candCpu = median(cand.map((r) => r.cpuUsPerReq));
    const baseRps = median(base.map((r) => r.reqPerSec));
    const candRps = median(cand.map((r) => r.reqPerSec));
    return {
      name: "cloud-client",
      baseline: { label: "undici Pool.request + body.json(), pre-signed", medianMs: round4(baseCpu / 1000) },
      candidate: { label: "createCloudClient().getImageServer()", medianMs: round4(candCpu / 1000) },
      ratio: round2(candCpu / baseCpu),
      ratioNote: "candidate / baseline (CPU cost factor)",
      method:
        `client CPU ms per GET (process.cpuUsage of the bench process; simulator in a child process), ` +
        `concurrency ${CONCURRENCY} over a Pool of ${CONCURRENCY} connections, ${REQUESTS_PER_ROUND} GETs per round, ` +
        `median of ${ROUNDS} rotating rounds after ${WARMUP_REQUESTS} warm-up GETs each; ratio = candidate / baseline CPU`,
      concurrency: CONCURRENCY,
      requestsPerRound: REQUESTS_PER_ROUND,
      rounds: ROUNDS,
      baselineReqPerSec: Math.round(baseRps),
      candidateReqPerSec: Math.round(candRps),
      baselineCpuUsPerReq: round2(baseCpu),
      candidateCpuUsPerReq: round2(candCpu),
      transportParseCpuUsPerReq: round2(median(trans.map((r) => r.cpuUsPerReq))),
      signOnlyUsPerCall: round2(signOnlyUsPerCall),
    };
  } finally {
    await Promise.allSettled([basePool.close(), candPool.close(), transPool.close()]);
    await sim.stop();
  }
}

function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}

runWhenMain(import.meta.url, run);
