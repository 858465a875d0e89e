import { Writable } from "node:stream";
import type { CommandContext } from "../../src/cli/context.js";

/**
 * A CommandContext whose stdout and stderr are captured as text (synchronously: what a command wrote is
 * readable as soon as it returns). Signals are never delivered.
 */
export function captureContext(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): { ctx: CommandContext; out: () => string; err: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]) =>
    new Writable({
      write(chunk, _enc, cb) {
        into.push(String(chunk));
        cb();
      },
    });
  const ctx: CommandContext = {
    args,
    env: options.env ?? {},
    stdout: sink(out),
    stderr: sink(err),
    cwd: options.cwd ?? process.cwd(),
    onSignal: () => () => {},
  };
  return { ctx, out: () => out.join(""), err: () => err.join("") };
}
