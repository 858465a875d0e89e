/**
 * Runs the real daemon (`src/main.ts run`) as a child process, for lifecycle tests: kill -9, SIGTERM,
 * SIGHUP, restarts. Waits on its HTTP endpoints and log lines, never on guessed sleeps.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";
import { request } from "undici";

const ROOT = resolve(import.meta.dirname, "../..");

export interface DaemonProcess {
  child: ChildProcess;
  /** Every stdout/stderr line so far (JSON log lines). */
  lines: string[];
  url: string;
  /** Resolves with the exit code (or signal name) once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  what: string,
  timeoutMs = 30_000,
  stepMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * Starts `imagewatch run -c configPath` and waits until /-/healthy answers. Give the config
 * `server.listen: 127.0.0.1:0` and info logs in JSON: the URL is read from the daemon's "imagewatch
 * started" line, so no port is chosen, freed and then perhaps taken by a parallel test first.
 */
export async function startDaemon(
  configPath: string,
  env: Record<string, string> = {},
): Promise<DaemonProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", resolve(ROOT, "src/main.ts"), "run", "-c", configPath],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const l of chunk.toString("utf8").split("\n")) if (l.trim()) lines.push(l);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  // "close", not "exit": it fires after stdout and stderr are drained, so `lines` is complete.
  const exited = once(child, "close").then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  let ended = false;
  void exited.then(() => {
    ended = true;
  });
  const url = await waitFor(
    () => {
      if (ended) throw new Error(`daemon exited early:\n${lines.join("\n")}`);
      return lines.map(startedUrl).find((u) => u !== undefined);
    },
    "the daemon's 'imagewatch started' line",
    60_000,
  );
  await waitFor(
    async () => {
      if (ended) throw new Error(`daemon exited early:\n${lines.join("\n")}`);
      const res = await request(`${url}/-/healthy`);
      await res.body.dump();
      return res.statusCode === 200;
    },
    "daemon /-/healthy",
    60_000,
  );
  return { child, lines, url, exited };
}

/** The URL of an "imagewatch started" JSON log line, if `line` is one. */
function startedUrl(line: string): string | undefined {
  try {
    const o = JSON.parse(line) as { msg?: unknown; url?: unknown };
    return o.msg === "imagewatch started" && typeof o.url === "string" ? o.url : undefined;
  } catch {
    return undefined;
  }
}

/** GET a JSON document from the daemon. */
export async function getJson<T>(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const res = await request(url, { headers });
  const text = await res.body.text();
  return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T };
}
