/**
 * Benchmark (not a test): delivery latency of the built daemon (`node dist/main.js run`, interval 1 s,
 * one `standard` webhook) from the simulator serving a new status to the receiver getting its webhook.
 *
 * The simulator runs in a child process behind a small proxy in this process: the proxy notes when it
 * finished sending the first list page that shows a server's new status (the moment the daemon could
 * know it), the receiver notes when the webhook for that change arrived; latency = the difference. A
 * different server changes status about every 1.3 s, unaligned with the poll grid. 100 servers.
 * Baseline: the same proxy and receiver with the bench process itself POSTing to the receiver the moment
 * the proxy served the page (what the loopback hop alone costs).
 *
 * Run alone: `node --import tsx bench/latency.ts`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Agent, request } from "undici";
import { buildDist, configText, freePort, startDaemon } from "./daemon.js";
import { median, PROJECT, round2, runWhenMain, startSimChild } from "./helpers.js";
import type { BenchResult } from "./metrics-scrape.js";

const SERVERS = 100;
const CHANGES = 30;
const SECRET = `whsec_${Buffer.alloc(32, 9).toString("base64")}`;

/** This benchmark's result. */
export interface LatencyBenchResult extends BenchResult {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  baselineP99Ms: number;
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

/** The status a list page body gives server `id`, if it lists it. */
function statusIn(text: string, id: string): string | undefined {
  try {
    const body = JSON.parse(text) as { items?: Array<{ id?: string; status?: string }> };
    return body.items?.find((s) => s.id === id)?.status;
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = "";
  for await (const c of req) body += c;
  return body;
}

/** Runs the benchmark. */
export async function run(): Promise<LatencyBenchResult> {
  buildDist();
  const sim = await startSimChild();
  const dir = mkdtempSync(join(tmpdir(), "imagewatch-bench-latency-"));
  const dispatcher = new Agent({ connections: 8 });
  /** `serverId/status` → when the proxy finished serving it first, and when the webhook came. */
  const served = new Map<string, number>();
  const received = new Map<string, number>();
  const baselineReceived = new Map<string, number>();
  let watching = new Set<string>();
  const receiverHits: Array<() => void> = [];
  const receiver = createServer(async (req, res) => {
    const body = await readBody(req);
    const now = performance.now();
    try {
      const e = JSON.parse(body) as {
        type?: string;
        data?: { server_id?: string; status?: string };
        baseline?: string;
      };
      if (e.baseline) baselineReceived.set(e.baseline, now);
      else if (e.type === "image_server.status_changed" && e.data?.server_id && e.data.status) {
        const key = `${e.data.server_id}/${e.data.status}`;
        if (!received.has(key)) received.set(key, now);
      }
    } catch {
      // not ours
    }
    res.writeHead(204).end();
    for (const hit of receiverHits.splice(0)) hit();
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const proxy = createServer(async (req, res) => {
    const upstream = await request(`${sim.url}${req.url}`, {
      method: req.method as "GET",
      headers: req.headers as Record<string, string>,
      body: req.method === "GET" ? null : await readBody(req),
      dispatcher,
    });
    const text = await upstream.body.text();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(upstream.headers)) if (typeof v === "string") headers[k] = v;
    delete headers["transfer-encoding"];
    headers["content-length"] = String(Buffer.byteLength(text));
    const hits = [...watching].filter(
      (key) => !served.has(key) && text.includes(key.split("/")[0] as string),
    );
    res.writeHead(upstream.statusCode, headers);
    res.end(text, () => {
      const now = performance.now();
      for (const key of hits) {
        const [id, status] = key.split("/") as [string, string];
        // The page lists the server with its new status.
        const m = statusIn(text, id) === status;
        if (m && !served.has(key)) {
          served.set(key, now);
          // Baseline: the loopback hop alone, a POST to the receiver right now.
          void request(receiverUrl, { method: "POST", body: JSON.stringify({ baseline: key }), dispatcher });
        }
      }
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  try {
    const ids = await sim.addServers(PROJECT, SERVERS, "ACTIVE");
    const port = await freePort();
    const configPath = join(dir, "imagewatch.yaml");
    writeFileSync(
      configPath,
      configText(
        proxyUrl,
        port,
        join(dir, "state.db"),
        `webhooks:\n  - { name: bench, url: "${receiverUrl}", format: standard, secret: "${SECRET}" }\n`,
      ),
    );
    const daemon = await startDaemon(configPath, port, dispatcher);
    try {
      for (let i = 0; i < CHANGES; i++) {
        const id = ids[(i * 7) % SERVERS] as string;
        // Each change is a different server, ACTIVE → BUILDING.
        const status = "BUILDING";
        const key = `${id}/${status}`;
        watching = new Set([...watching, key]);
        await sim.setStatus(PROJECT, [id], status);
        const deadline = performance.now() + 5000;
        while (!received.has(key) && performance.now() < deadline) {
          await new Promise<void>((resolve) => {
            receiverHits.push(resolve);
            setTimeout(resolve, 50);
          });
        }
        // Unaligned with the 1 s poll grid.
        await new Promise((r) => setTimeout(r, 300 + ((i * 137) % 700)));
      }
    } finally {
      await daemon.stop();
    }
  } finally {
    await dispatcher.close();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const lat: number[] = [];
  const base: number[] = [];
  for (const [key, at] of served) {
    const got = received.get(key);
    if (got !== undefined) lat.push(got - at);
    const b = baselineReceived.get(key);
    if (b !== undefined) base.push(b - at);
  }
  if (lat.length < CHANGES / 2) throw new Error(`only ${lat.length} of ${CHANGES} changes measured`);
  const p99 = percentile(lat, 99);
  const bp99 = percentile(base, 99);
  return {
    name: "delivery latency p99",
    baseline: {
      label: "bench POSTs to the receiver when the page was served (loopback hop)",
      medianMs: round2(bp99),
    },
    candidate: { label: "daemon: poll → observe → commit → signed webhook", medianMs: round2(p99) },
    ratio: round2(p99 / bp99),
    ratioNote: "candidate / baseline (p99 latency)",
    method: `${lat.length} status changes of ${SERVERS} servers, interval 1 s; from the proxy finishing the list page with the new status to the receiver getting the webhook; p99 (≈ max of ${lat.length})`,
    samples: lat.length,
    p50Ms: round2(median(lat)),
    p99Ms: round2(p99),
    maxMs: round2(Math.max(...lat)),
    baselineP99Ms: round2(bp99),
  };
}

runWhenMain(import.meta.url, run);
