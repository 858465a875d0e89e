/**
 * The command table and dispatcher. `runCli` maps argv to a command and errors to exit codes:
 * usage 2, bad config 78, runtime failure 1.
 */
import { AppError, ConfigError, ExitCode, UsageError } from "../lib/errors.js";
import { VERSION } from "../lib/version.js";
import { alertmanagerCommand } from "./alertmanager.js";
import { checkConfigCommand } from "./check-config.js";
import { printConfigError } from "./config-file.js";
import type { Command, CommandContext } from "./context.js";
import { writeLine } from "./context.js";
import { demoCommand } from "./demo.js";
import { eventsCommand } from "./events.js";
import { jobsCommand } from "./jobs.js";
import { onceCommand } from "./once.js";
import { runCommand } from "./run.js";
import { simulateCommand } from "./simulate.js";
import { webhookCommand } from "./webhook.js";

/** Every command, in the order `--help` lists them (DESIGN §3). */
export const COMMANDS: readonly Command[] = [
  runCommand,
  checkConfigCommand,
  onceCommand,
  simulateCommand,
  demoCommand,
  webhookCommand,
  eventsCommand,
  jobsCommand,
  alertmanagerCommand,
];

/** Finds a command by name. */
function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The top-level help text. */
export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    "Usage: imagewatch <command> [options]",
    "",
    "Watches Huawei Cloud Workspace image servers; exports Prometheus metrics; sends signed webhooks.",
    "",
    "Commands:",
    ...lines,
    "",
    "Options of every command: -h, --help. `imagewatch --version` prints the version.",
    "-c FILE defaults to $IMAGEWATCH_CONFIG, then config/imagewatch.yaml.",
    "Exit codes: 0 ok, 1 runtime failure, 2 usage, 78 bad config.",
  ].join("\n");
}

/** Runs the command named by `ctx.args[0]` and returns the process exit code. */
export async function runCli(ctx: CommandContext): Promise<number> {
  const [name, ...rest] = ctx.args;
  if (name === undefined) {
    writeLine(ctx.stderr, "imagewatch: missing command (see: imagewatch --help)");
    return ExitCode.usage;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    writeLine(ctx.stdout, usage());
    return ExitCode.ok;
  }
  if (name === "--version" || name === "-v" || name === "version") {
    writeLine(ctx.stdout, VERSION);
    return ExitCode.ok;
  }
  const command = findCommand(name);
  if (!command) {
    writeLine(ctx.stderr, `imagewatch: unknown command "${name}" (see: imagewatch --help)`);
    return ExitCode.usage;
  }
  try {
    return await command.run({ ...ctx, args: rest });
  } catch (err) {
    if (err instanceof UsageError) {
      writeLine(ctx.stderr, `imagewatch ${command.name}: ${err.message}`);
      return ExitCode.usage;
    }
    if (err instanceof ConfigError) {
      printConfigError(ctx.stderr, err);
      return ExitCode.config;
    }
    if (err instanceof AppError) {
      writeLine(ctx.stderr, `imagewatch ${command.name}: ${err.code}: ${err.message}`);
      return ExitCode.failure;
    }
    writeLine(ctx.stderr, `imagewatch ${command.name}: ${err instanceof Error ? err.message : String(err)}`);
    return ExitCode.failure;
  }
}
