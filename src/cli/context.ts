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

/**
 * Parses `<command> test NAME [-c FILE]`, the shape of `webhook test` and `alertmanager test`: usage
 * mistakes are UsageErrors (exit 2) even when the config would not load. `noun` names NAME in messages.
 */
export function parseTestArgs(
  command: string,
  noun: string,
  args: string[],
): { help: true } | { help: false; name: string; config: string | undefined } {
  const { values, positionals } = parseCommandArgs(
    command,
    args,
    { config: { type: "string", short: "c" } },
    true,
  );
  if (values.help) return { help: true };
  const [sub, name, ...extra] = positionals;
  if (sub !== "test") {
    throw new UsageError(
      `${sub === undefined ? "missing subcommand" : `unknown subcommand "${sub}"`}: use "${command} test NAME" (see: imagewatch ${command} --help)`,
    );
  }
  if (extra.length > 0)
    throw new UsageError(`unexpected argument "${extra[0]}" (see: imagewatch ${command} --help)`);
  if (name === undefined) throw new UsageError(`missing ${noun} NAME: use "${command} test NAME"`);
  return { help: false, name, config: values.config };
}

/** The entry of a config list called `name`, or a UsageError naming the configured ones. */
export function findNamed<T extends { name: string }>(items: readonly T[], name: string, noun: string): T {
  const found = items.find((i) => i.name === name);
  if (found) return found;
  const known =
    items.length > 0 ? `configured: ${items.map((i) => i.name).join(", ")}` : `no ${noun}s are configured`;
  throw new UsageError(`unknown ${noun} "${name}" (${known})`);
}
