/**
 * Shared pieces of the benchmarks (not tests): statistics, CPU and event-loop measurement, and the
 * simulator run in a CHILD process so the bench process's `process.cpuUsage()` and event loop carry
 * only the client's work.
 *
 * Run as `node --import tsx bench/helpers.ts sim-child`, this file is that child: it starts
 * `createSimulator` on 127.0.0.1:0 (system clock, demo credentials), sends `{op: "ready", url}` over
 * the IPC channel and then answers control messages (see `SimChild`). It exits when the parent
 * disconnects, so it never outlives the bench.
 */
import { type ChildProcess, fork } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";

/** Project id used by every benchmark. */
export const PROJECT = "0123456789abcdef0123456789abcdef";
/** The simulator's demo access key (its default scenario). */
export const AK = "DEMOACCESSKEY0000001";
/** The simulator's demo secret key (its default scenario). */
export const SK = "demo-secret-key-0000000000000000000000000";

/**
 * Runs a benchmark module's `run()` when the module is the script node was started with
 * (`node --import tsx bench/<name>.ts`), printing its JSON; `bench/run.ts` imports it instead.
 */
export function runWhenMain(moduleUrl: string, run: () => Promise<unknown>): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  run().then(
    (result) => process.stdout.write(`${JSON.stringify(result, null, 2)}\n`),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Rounds to 2 decimals (for printing). */
export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** Lets the event loop turn once. */
export { yieldToLoop } from "../src/lib/yield.js";

/** CPU time (user + system) this process has used so far, in ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** A stable UUID-shaped server id for index `i`. */
export function serverId(i: number): string {
  return `4b1a2c3d-0000-1111-2222-${String(i).padStart(12, "0")}`;
}

/**
 * Measures the longest event-loop block while `fn` runs (resolution 1 ms). The histogram only records
 * from its second tick on, so it is given a few ms before and after `fn`.
 */
export async function withLoopDelay<T>(fn: () => Promise<T>): Promise<{ value: T; maxDelayMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, 5));
  const value = await fn();
  await new Promise((r) => setTimeout(r, 5));
  h.disable();
  return { value, maxDelayMs: h.max / 1e6 };
}

/** Messages the parent sends to the simulator child. */
type ChildRequest =
  | { id: number; op: "addServers"; projectId: string; count: number; status: string }
  | { id: number; op: "setStatus"; projectId: string; ids: string[]; status: string }
  | { id: number; op: "cpu" };

/** A request without its id (distributed over the union). */
type ChildAsk = ChildRequest extends infer R ? (R extends ChildRequest ? Omit<R, "id"> : never) : never;

type ChildReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** A simulator running in a child process. */
export interface SimChild {
  /** Base URL, `http://127.0.0.1:PORT`. */
  url: string;
  /** Adds `count` servers `serverId(0..count-1)` (named `build-i`) with `status`; resolves with their ids. */
  addServers(projectId: string, count: number, status: string): Promise<string[]>;
  /** Sets the status of the given servers (update_time moves to now). */
  setStatus(projectId: string, ids: readonly string[], status: string): Promise<void>;
  /** The child's CPU time so far (user + system), ms. */
  cpuMs(): Promise<number>;
  /** Ends the child and waits for it to exit. */
  stop(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);
/**
 * Whether this is the compiled bench (`npm run bench` runs `bench-build/`, compiled by
 * `tsconfig.bench.json`, so the code measured is what `dist/` ships, without the TypeScript loader and
 * the helpers it inserts), rather than `node --import tsx bench/<name>.ts`.
 */
const COMPILED = SELF.endsWith(".js");
/** The repository's root directory. */
export const ROOT = fileURLToPath(new URL(COMPILED ? "../.." : "..", import.meta.url));

/** Forks this file as a simulator child and waits until it listens (at most 30 s). */
export async function startSimChild(): Promise<SimChild> {
  const child: ChildProcess = fork(SELF, ["sim-child"], {
    execArgv: COMPILED ? [] : ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true;
      for (const p of pending.values()) p.reject(new Error("simulator child exited"));
      pending.clear();
      resolve();
    });
  });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("simulator child did not start within 30 s")), 30_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`simulator child exited early (code ${code})`));
    });
    child.on("message", (msg: unknown) => {
      const m = msg as { op?: string; url?: string } & Partial<ChildReply>;
      if (m.op === "ready" && typeof m.url === "string") {
        clearTimeout(timer);
        resolve(m.url);
        return;
      }
      if (typeof m.id !== "number") return;
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.ok) p.resolve((m as { result: unknown }).result);
      else p.reject(new Error(`simulator child: ${(m as { error: string }).error}`));
    });
  });

  function ask(req: ChildAsk): Promise<unknown> {
    if (exited) return Promise.reject(new Error("simulator child exited"));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      child.send({ ...req, id });
    });
  }

  return {
    url,
    addServers: async (projectId, count, status) =>
      (await ask({ op: "addServers", projectId, count, status })) as string[],
    setStatus: async (projectId, ids, status) => {
      await ask({ op: "setStatus", projectId, ids: [...ids], status });
    },
    cpuMs: async () => (await ask({ op: "cpu" })) as number,
    async stop() {
      if (!exited) child.disconnect();
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}

/** The child side: a simulator answering control messages over IPC. */
async function simChildMain(): Promise<void> {
  const { createSimulator } = await import("../src/simulator/index.js");
  const sim = createSimulator({ host: "127.0.0.1", port: 0 });
  const { url } = await sim.start();
  const send = (m: unknown) => process.send?.(m);
  process.on("disconnect", () => {
    sim.stop().finally(() => process.exit(0));
  });
  process.on("message", (msg: unknown) => {
    const req = msg as ChildRequest;
    try {
      let result: unknown = null;
      if (req.op === "addServers") {
        const ids: string[] = [];
        for (let i = 0; i < req.count; i++) {
          const id = serverId(i);
          sim.addServer(req.projectId, { id, name: `build-${i}`, status: req.status });
          ids.push(id);
        }
        result = ids;
      } else if (req.op === "setStatus") {
        for (const id of req.ids) {
          if (!sim.setStatus(req.projectId, id, req.status)) throw new Error(`no server ${id}`);
        }
      } else if (req.op === "cpu") {
        result = cpuMs();
      }
      send({ id: req.id, ok: true, result });
    } catch (err) {
      send({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  });
  send({ op: "ready", url });
}

if (
  process.argv[2] === "sim-child" &&
  process.argv[1] &&
  import.meta.url === pathToFileURL(process.argv[1]).href
) {
  simChildMain().catch((err: unknown) => {
    process.stderr.write(`simulator child failed: ${String(err)}\n`);
    process.exit(1);
  });
}
