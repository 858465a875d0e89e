/**
 * Benchmark (not a test): the daemon as a process — `node dist/main.js run` (built first as
 * `npm run build` does: the bundle, so no TypeScript loader sits in its memory) against the simulator in
 * another child process.
 *
 * - RSS: 0, 10,000 and 50,000 servers in one discover target, `schedule.interval` and `steadyInterval`
 *   1 s, json logging at warn, one gzip scrape of `/metrics` a second from this process; VmRSS of the
 *   daemon read from /proc after 60 s of polling (counted from ready).
 * - Restart to ready: the 10,000-server daemon is stopped (SIGTERM) and started again on the same
 *   state file; the time from spawn to the first `/-/ready` 200 (polled every 10 ms). Its baseline is
 *   the same daemon with 0 servers (the process's own start: imports, config, database, listen).
 *
 * The daemon runs with the environment the shipped systemd unit sets (`daemonEnv`), as in production.
 *
 * Run alone: `node --import tsx bench/daemon.ts`.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Agent, request } from "undici";
import { AK, median, PROJECT, ROOT, round2, runWhenMain, SK, startSimChild } from "./helpers.js";
import type { BenchResult } from "./metrics-scrape.js";

const POLL_SECONDS = Number(process.env.IMAGEWATCH_BENCH_RSS_SECONDS ?? 60);
const SIZES = (process.env.IMAGEWATCH_BENCH_SIZES ?? "0,10000,50000").split(",").map(Number);
const RESTARTS = Number(process.env.IMAGEWATCH_BENCH_RESTARTS ?? 3);
/** Node flags for the daemon only (to measure e.g. `--max-old-space-size`), space-separated. */
const NODE_FLAGS = (process.env.IMAGEWATCH_BENCH_DAEMON_NODE_FLAGS ?? "").split(" ").filter(Boolean);
/** The unit whose `Environment=` lines the daemon runs with: the service as it is shipped. */
const UNIT = join(ROOT, "deploy/systemd/imagewatch.service");

/**
 * The daemon's environment: this process's, plus the `Environment=` lines of the shipped systemd unit
 * (the Dockerfile sets the same), plus `IMAGEWATCH_BENCH_DAEMON_ENV` (`NAME=value …`, space-separated;
 * `NAME=` removes one, to measure without it).
 */
function daemonEnv(): { env: NodeJS.ProcessEnv; set: Record<string, string> } {
  const set: Record<string, string> = {};
  for (const line of readFileSync(UNIT, "utf8").split("\n")) {
    const m = /^Environment=([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) set[m[1] as string] = m[2] as string;
  }
  for (const pair of (process.env.IMAGEWATCH_BENCH_DAEMON_ENV ?? "").split(" ").filter(Boolean)) {
    const at = pair.indexOf("=");
    set[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const env = { ...process.env };
  for (const [k, v] of Object.entries(set)) {
    if (v === "") delete env[k];
    else env[k] = v;
  }
  return { env, set };
}
const DAEMON_ENV = daemonEnv();

/** This benchmark's result. */
export interface DaemonBenchResult extends BenchResult {
  rssMiB: Array<{
    servers: number;
    afterReadyMiB: number;
    afterPollingMiB: number;
    /** The daemon's CPU seconds during the polling window. */
    pollingCpuSeconds: number;
    ticks: number;
  }>;
  /** IMAGEWATCH_BENCH_DAEMON_NODE_FLAGS, when set. */
  daemonNodeFlags: string[];
  /** What the daemon's environment adds to this process's (the unit's lines, then the override). */
  daemonEnv: Record<string, string>;
  restartToReadyMs: { servers0: number[]; servers10000: number[] };
  pollSeconds: number;
  moreRows: BenchResult[];
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The daemon's CPU seconds (user + system) so far, from /proc/<pid>/stat (clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** A daemon child process, ready. */
export interface Daemon {
  child: ChildProcess;
  url: string;
  /** ms from spawn to the first /-/ready 200. */
  readyMs: number;
  stop(): Promise<void>;
}

/** Spawns `node dist/main.js run --config` and waits for its first `/-/ready` 200. */
export async function startDaemon(configPath: string, port: number, dispatcher: Agent): Promise<Daemon> {
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, join(ROOT, "dist/main.js"), "run", "--config", configPath],
    {
      stdio: ["ignore", process.env.DAEMON_STDOUT ? "inherit" : "ignore", "inherit"],
      env: DAEMON_ENV.env,
    },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  child.once("exit", () => {
    gone = true;
  });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (gone) throw new Error("daemon exited before ready");
    if (performance.now() - t0 > 120_000) throw new Error("daemon not ready within 120 s");
    try {
      const res = await request(`${url}/-/ready`, { dispatcher });
      await res.body.dump();
      if (res.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const readyMs = performance.now() - t0;
  return {
    child,
    url,
    readyMs,
    async stop() {
      if (!gone) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The daemon config of these benchmarks: one discover target at interval 1 s; `extra` is appended. */
export function configText(simUrl: string, port: number, statePath: string, extra = ""): string {
  return `
cloud:
  region: cn-north-4
  endpoint: ${simUrl}
  iamEndpoint: ${simUrl}
  auth: { kind: aksk, accessKey: ${AK}, secretKey: ${SK} }
  requestTimeout: 30s
  maxRequestsPerSecond: 10000
  retry: { attempts: 3, minDelay: 100ms, maxDelay: 1s }
targets:
  - { projectId: ${PROJECT}, discover: true }
schedule: { interval: 1s, steadyInterval: 1s, concurrency: 4 }
server: { listen: "127.0.0.1:${port}" }
state: { path: ${JSON.stringify(statePath)} }
log: { level: error, format: json }
${extra}`;
}

/**
 * Builds dist/ as `npm run build` does (tsc, then the bundle dist/main.js), so the daemon runs as
 * shipped, without a TypeScript loader.
 */
export function buildDist(): void {
  const opts = { cwd: ROOT, stdio: "inherit" } as const;
  execFileSync(
    process.execPath,
    [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
    opts,
  );
  execFileSync(process.execPath, [join(ROOT, "scripts/bundle.mjs")], opts);
}

/** Runs the benchmark. */
export async function run(): Promise<DaemonBenchResult> {
  buildDist();
  const dispatcher = new Agent({ connections: 2 });
  const rss: DaemonBenchResult["rssMiB"] = [];
  const restart: DaemonBenchResult["restartToReadyMs"] = { servers0: [], servers10000: [] };
  try {
    for (const n of SIZES) {
      const sim = await startSimChild();
      const dir = mkdtempSync(join(tmpdir(), "imagewatch-bench-daemon-"));
      try {
        if (n > 0) await sim.addServers(PROJECT, n, "ACTIVE");
        const port = await freePort();
        const configPath = join(dir, "imagewatch.yaml");
        writeFileSync(configPath, configText(sim.url, port, join(dir, "state.db")));
        const d = await startDaemon(configPath, port, dispatcher);
        const pid = d.child.pid as number;
        const afterReady = rssMiB(pid);
        const cpuAtReady = cpuSeconds(pid);
        let ticks = 0;
        const until = performance.now() + POLL_SECONDS * 1000;
        while (performance.now() < until) {
          const started = performance.now();
          const res = await request(`${d.url}/metrics`, {
            dispatcher,
            headers: { "accept-encoding": "gzip" },
          });
          await res.body.dump();
          ticks++;
          await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (performance.now() - started))));
        }
        rss.push({
          servers: n,
          afterReadyMiB: round2(afterReady),
          afterPollingMiB: round2(rssMiB(pid)),
          pollingCpuSeconds: round2(cpuSeconds(pid) - cpuAtReady),
          ticks,
        });
        await d.stop();
        if (n === 0 || n === 10_000) {
          for (let i = 0; i < RESTARTS; i++) {
            const again = await startDaemon(configPath, port, dispatcher);
            (n === 0 ? restart.servers0 : restart.servers10000).push(round2(again.readyMs));
            await again.stop();
          }
        }
      } finally {
        await sim.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await dispatcher.close();
  }
  const r0 = median(restart.servers0);
  const r10 = median(restart.servers10000);
  const at = (n: number) => rss.find((r) => r.servers === n)?.afterPollingMiB ?? Number.NaN;
  return {
    name: "daemon restart to ready",
    baseline: { label: "same daemon, 0 servers persisted", medianMs: round2(r0) },
    candidate: {
      label: "10,000 servers persisted (first poll of 100 pages included)",
      medianMs: round2(r10),
    },
    ratio: round2(r10 / r0),
    ratioNote: "candidate / baseline (cost factor)",
    method: `node dist/main.js run, spawn → first /-/ready 200 (10 ms polling), median of ${RESTARTS} restarts`,
    moreRows: [
      {
        name: "daemon RSS after polling",
        baseline: { label: "0 servers (MiB, not ms)", medianMs: at(0) },
        candidate: { label: "10,000 servers (MiB, not ms)", medianMs: at(10_000) },
        ratio: round2(at(10_000) / at(0)),
        ratioNote: "candidate / baseline (memory factor)",
        method: `VmRSS after ${POLL_SECONDS} s of polling at 1 s and one gzip scrape a second; environment of the systemd unit: ${JSON.stringify(DAEMON_ENV.set)}`,
      },
    ],
    rssMiB: rss,
    restartToReadyMs: restart,
    pollSeconds: POLL_SECONDS,
    daemonNodeFlags: NODE_FLAGS,
    daemonEnv: DAEMON_ENV.set,
  };
}

runWhenMain(import.meta.url, run);
