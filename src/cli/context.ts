/**
 * What every command gets from the process shell (`main.ts`): its arguments, the environment, the output
 * streams and the process signals. Commands return their exit code; they never call `process.exit`.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { UsageError } from "../lib/errors.js";

export type SignalName = "SIGINT" | "SIGTERM" | "SIGHUP";

export interface CommandContext {
  /** The arguments after the command name (for `webhook test NAME`, after `webhook`). */
  args: string[];
  env: Readonly<Record<string, string | undefined>>;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  cwd: string;
  /** Subscribes to a process signal; returns the unsubscribe function. */
  onSignal(signal: SignalName, handler: () => void): () => void;
  /** Ends the process at once (a second stop signal). Tests may omit it. */
  exit?: (code: number) => never;
}

/** One CLI command. */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  usage: string;
  run(ctx: CommandContext): Promise<number>;
}

/**
 * Parses a command's options strictly; a mistake becomes a UsageError (exit 2) with a one-line hint.
 * `--help`/`-h` is always accepted and reported as `help: true`.
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig["options"]>>(
  commandName: string,
  args: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    const msg = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new UsageError(`${msg} (see: imagewatch ${commandName} --help)`);
  }
}

/** The config file a command uses: `-c`, else $IMAGEWATCH_CONFIG, else config/imagewatch.yaml. */
export function resolveConfigPath(ctx: CommandContext, flag: string | undefined): string {
  // An empty $IMAGEWATCH_CONFIG counts as unset.
  return flag || ctx.env.IMAGEWATCH_CONFIG || "config/imagewatch.yaml";
}

/** Writes one line to a stream. */
export function writeLine(stream: NodeJS.WritableStream, line: string): void {
  stream.write(`${line}\n`);
}
