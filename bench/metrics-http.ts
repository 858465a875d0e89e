/**
 * Benchmark (not a test): `/metrics` over HTTP at 10,000 image servers, through the real HTTP server
 * (`createHttpServer`) and `createMetrics`, read by an undici client in the same process.
 *
 * - baseline: a bare `node:http` server writing one prebuilt Buffer (the same uncompressed bytes).
 * - candidate, plain: `GET /metrics` without `Accept-Encoding`.
 * - candidate, gzip: `GET /metrics` with `Accept-Encoding: gzip` (what Prometheus sends).
 * Each round scrapes all three once in a rotating order, after a steady poll (every server's poll times
 * moved in place, nothing else: the normal case between two polls); medians of the rounds, after a few
 * untimed warm-up rounds of the same kind.
 * Also measured: the longest event-loop block (`monitorEventLoopDelay`, 1 ms resolution) during the
 * scrapes, and during the render after a poll that changed every server (all
 * families dirty, gzip); and the process CPU time (user + system, all threads) per scrape of each kind,
 * which other load on the machine moves less than wall time (the client's share is the same in all three).
 *
 * Run alone: `node --import tsx bench/metrics-http.ts`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { Agent, request } from "undici";
import type { ServerState } from "../src/domain/types.js";
import { createHttpServer } from "../src/http/server.js";
import { systemClock } from "../src/lib/clock.js";
import { createSilentLogger } from "../src/lib/logger.js";
import { createMetrics } from "../src/metrics/metrics.js";
import { median, round2, runWhenMain, withLoopDelay } from "./helpers.js";
import { type BenchResult, makeState } from "./metrics-scrape.js";

const SERVERS = 10_000;
const ROUNDS = 25;
/** Untimed rotating rounds first, so every path (baseline included) runs JIT-compiled when timed. */
const WARMUP_ROUNDS = 3;

/** This benchmark's result, with the extra figures it measures. */
export interface MetricsHttpBenchResult extends BenchResult {
  servers: number;
  bodyBytes: number;
  gzipBytes: number;
  gzipMedianMs: number;
  maxEventLoopDelayMs: {
    scrapes: number;
    renderAfterFullChange: number;
  };
  cpuMedianMs: { baseline: number; plain: number; gzip: number };
  renderAfterFullChangeMs: number;
  moreRows: BenchResult[];
}

async function get(url: string, dispatcher: Agent, gzip: boolean): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const res = await request(url, { dispatcher, headers: gzip ? { "accept-encoding": "gzip" } : {} });
  let bytes = 0;
  for await (const c of res.body) bytes += (c as Buffer).length;
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  if (gzip && res.headers["content-encoding"] !== "gzip") throw new Error("not gzipped");
  return { ms: performance.now() - t0, bytes };
}

/** Runs the benchmark. */
export async function run(): Promise<MetricsHttpBenchResult> {
  const metrics = createMetrics({ version: "bench" });
  const states: ServerState[] = Array.from({ length: SERVERS }, (_, i) => makeState(i, 0));
  for (const s of states) metrics.setServer(s);
  const http = createHttpServer({
    metrics,
    logger: createSilentLogger(),
    clock: systemClock,
    getBearerToken: () => undefined,
    listServers: () => [],
    listEvents: () => [],
    getEvent: () => undefined,
    isReady: () => true,
    reload: async () => ({ ok: true }),
    version: "bench",
  } as Parameters<typeof createHttpServer>[0]);
  const { url } = await http.start("127.0.0.1", 0);
  const prebuilt = Buffer.concat((await metrics.renderChunks()).chunks);
  const bare = createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": String(prebuilt.length) });
    res.end(prebuilt);
  });
  await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/metrics`;
  const dispatcher = new Agent({ connections: 4 });
  try {
    const base: number[] = [];
    const plain: number[] = [];
    const gz: number[] = [];
    const cpu = { base: [] as number[], plain: [] as number[], gz: [] as number[] };
    let bodyBytes = 0;
    let gzipBytes = 0;
    let timed = false;
    /** One scrape of one kind; timed rounds record its wall time and CPU time. */
    const scrape = async (kind: keyof typeof cpu, target: string, gzip: boolean, into: number[]) => {
      const c0 = process.cpuUsage();
      const r = await get(target, dispatcher, gzip);
      const c = process.cpuUsage(c0);
      if (timed) {
        into.push(r.ms);
        cpu[kind].push((c.user + c.system) / 1000);
      }
      return r;
    };
    const kinds = [
      () => scrape("base", bareUrl, false, base),
      async () => {
        bodyBytes = (await scrape("plain", `${url}/metrics`, false, plain)).bytes;
      },
      async () => {
        gzipBytes = (await scrape("gz", `${url}/metrics`, true, gz)).bytes;
      },
    ];
    const rounds = async (n: number): Promise<void> => {
      for (let round = 0; round < n; round++) {
        // A steady poll: only poll times move, in place.
        const t = Date.now();
        for (const s of states) {
          s.lastPollAt = t;
          s.lastSuccessAt = t;
          metrics.setServer(s);
        }
        for (let k = 0; k < kinds.length; k++)
          await (kinds[(round + k) % kinds.length] as () => Promise<unknown>)();
      }
    };
    // Warm-up: caches filled, connections open, code optimised.
    await rounds(WARMUP_ROUNDS);
    timed = true;
    const { maxDelayMs: scrapeDelay } = await withLoopDelay(() => rounds(ROUNDS));
    // A poll that changed every server, then a gzip scrape: the render of every dirty family.
    for (let i = 0; i < SERVERS; i++) metrics.setServer(makeState(i, 1));
    const full = await withLoopDelay(() => get(`${url}/metrics`, dispatcher, true));
    const bm = median(base);
    const pm = median(plain);
    const gm = median(gz);
    const method =
      `${SERVERS} servers (12 series each), real createHttpServer + createMetrics, undici client in the same ` +
      `process reading the whole body; ${ROUNDS} rotating rounds (after ${WARMUP_ROUNDS} untimed), each after a ` +
      "steady poll; medians";
    return {
      name: "metrics-http plain",
      baseline: { label: "node:http writing one prebuilt Buffer of the same bytes", medianMs: round2(bm) },
      candidate: { label: "GET /metrics, no Accept-Encoding", medianMs: round2(pm) },
      ratio: round2(pm / bm),
      ratioNote: "candidate / baseline (cost factor)",
      method,
      moreRows: [
        {
          name: "metrics-http gzip",
          baseline: { label: "node:http writing one prebuilt Buffer (uncompressed)", medianMs: round2(bm) },
          candidate: { label: "GET /metrics, Accept-Encoding: gzip", medianMs: round2(gm) },
          ratio: round2(gm / bm),
          ratioNote: "candidate / baseline (cost factor)",
          method,
        },
      ],
      servers: SERVERS,
      bodyBytes,
      gzipBytes,
      gzipMedianMs: round2(gm),
      maxEventLoopDelayMs: {
        scrapes: round2(scrapeDelay),
        renderAfterFullChange: round2(full.maxDelayMs),
      },
      cpuMedianMs: {
        baseline: round2(median(cpu.base)),
        plain: round2(median(cpu.plain)),
        gzip: round2(median(cpu.gz)),
      },
      renderAfterFullChangeMs: round2(full.value.ms),
    };
  } finally {
    await dispatcher.close();
    await http.stop();
    await new Promise<void>((resolve) => bare.close(() => resolve()));
  }
}

runWhenMain(import.meta.url, run);
