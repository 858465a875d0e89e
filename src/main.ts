#!/usr/bin/env node
import type { CommandContext, SignalName } from "./cli/context.js";
/**
 * The process shell: argv → command, exit codes, signals. Everything else lives in commands and app.ts.
 */
import { runCli } from "./cli/index.js";
import { tuneHeap } from "./lib/heap.js";

tuneHeap(process.execArgv, process.env.NODE_OPTIONS);

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
