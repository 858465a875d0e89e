#!/usr/bin/env node
/**
 * The process shell: argv → command, exit codes, signals. Everything else lives in commands and app.ts.
 */
// First: the heap tuning must apply before the other modules load.
import "./lib/tune-heap.js";
import type { CommandContext, SignalName } from "./cli/context.js";
import { runCli } from "./cli/index.js";

const ctx: CommandContext = {
  args: process.argv.slice(2),
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  onSignal(signal: SignalName, handler: () => void) {
    process.on(signal, handler);
    return () => {
      process.off(signal, handler);
    };
  },
  exit(code: number): never {
    process.exit(code);
  },
};

runCli(ctx).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `imagewatch: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
