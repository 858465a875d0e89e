/**
 * The real CLI (`src/main.ts`, through tsx) as a child process, its output collected, for tests of what
 * only a process shows: exit codes, signals, a server that keeps it alive.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

export interface CliProcess {
  child: ChildProcess;
  /** Resolves once the process ended and its stdout and stderr are drained ("close", not "exit"). */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** Everything written to stdout so far. */
  out(): string;
  /** Everything written to stderr so far. */
  err(): string;
}

/** Starts `imagewatch ARGS` with `env` added to this process's environment. */
export function spawnCli(args: readonly string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const exited = once(child, "close") as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, exited, out: () => out, err: () => err };
}
