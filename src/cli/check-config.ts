/**
 * `imagewatch check-config [-c FILE]`: validates the config and prints it resolved, secrets masked.
 * Exit 0 when valid, 78 with one `error: path: message` line per problem otherwise.
 */
import { resolve } from "node:path";
import { loadConfig } from "../config/load.js";
import { renderConfigYaml } from "../config/mask.js";
import { ConfigError, ExitCode } from "../lib/errors.js";
import {
  type Command,
  type CommandContext,
  parseCommandArgs,
  resolveConfigPath,
  writeLine,
} from "./context.js";

export { maskConfig, renderConfigYaml } from "../config/mask.js";

const USAGE = `Usage: imagewatch check-config [-c FILE]

Validates the configuration and prints it resolved (defaults filled in, endpoints derived,
durations normalised) as YAML, with every secret shown as "***".
Warnings go to stderr as "warning: …"; problems as "error: path: message", one per line.

Options:
  -c, --config FILE   config file (default: $IMAGEWATCH_CONFIG, then config/imagewatch.yaml)
  -h, --help          show this help

Exit status: 0 valid, 78 invalid or unreadable config, 2 usage error.`;

/** The `check-config` command. */
export const checkConfigCommand: Command = {
  name: "check-config",
  summary: "validate the config and print it resolved, secrets masked",
  usage: USAGE,
  async run(ctx: CommandContext): Promise<number> {
    const { values } = parseCommandArgs("check-config", ctx.args, {
      config: { type: "string", short: "c" },
    });
    if (values.help) {
      writeLine(ctx.stdout, USAGE);
      return ExitCode.ok;
    }
    const file = resolve(ctx.cwd, resolveConfigPath(ctx, values.config));
    let loaded: ReturnType<typeof loadConfig>;
    try {
      loaded = loadConfig(file, ctx.env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const issue of err.issues) {
        writeLine(ctx.stderr, `error: ${issue.path ? `${issue.path}: ` : ""}${issue.message}`);
      }
      const n = err.issues.length;
      writeLine(ctx.stderr, `error: ${file} is invalid (${n} problem${n === 1 ? "" : "s"})`);
      return ExitCode.config;
    }
    for (const warning of loaded.warnings) writeLine(ctx.stderr, `warning: ${warning}`);
    ctx.stdout.write(renderConfigYaml(loaded.config));
    return ExitCode.ok;
  },
};
