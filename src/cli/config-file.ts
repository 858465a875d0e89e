/**
 * How every command loads its config and reports a bad one: `error: path: message` per problem, then a
 * summary naming the file, on stderr; warnings as `warning: …`. The exit code is 78 (DESIGN §3).
 */
import { resolve } from "node:path";
import { loadConfig } from "../config/load.js";
import type { LoadedConfig } from "../config/types.js";
import { ConfigError, ExitCode } from "../lib/errors.js";
import type { CommandContext } from "./context.js";
import { resolveConfigPath, writeLine } from "./context.js";

/** Prints a ConfigError the one way every command does. */
export function printConfigError(stream: NodeJS.WritableStream, err: ConfigError, file?: string): void {
  for (const issue of err.issues) {
    writeLine(stream, `error: ${issue.path ? `${issue.path}: ` : ""}${issue.message}`);
  }
  const n = err.issues.length;
  writeLine(stream, `error: ${file ?? "the configuration"} is invalid (${n} problem${n === 1 ? "" : "s"})`);
}

/**
 * Loads the command's config (`-c`, $IMAGEWATCH_CONFIG, config/imagewatch.yaml; relative to the working
 * directory) and prints its warnings. On a bad config it prints the problems and returns exit code 78
 * (commands return their exit code; they do not throw for an expected failure).
 */
export function loadCommandConfig(ctx: CommandContext, flag: string | undefined): LoadedConfig | number {
  const file = resolve(ctx.cwd, resolveConfigPath(ctx, flag));
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(file, ctx.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    printConfigError(ctx.stderr, err, file);
    return ExitCode.config;
  }
  for (const warning of loaded.warnings) writeLine(ctx.stderr, `warning: ${warning}`);
  return loaded;
}
