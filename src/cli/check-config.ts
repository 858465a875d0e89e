import { renderConfigYaml } from "../config/mask.js";
import { ExitCode } from "../lib/errors.js";
import { loadCommandConfig } from "./config-file.js";
import { type Command, type CommandContext, parseCommandArgs, writeLine } from "./context.js";

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
    const loaded = loadCommandConfig(ctx, values.config);
    if (typeof loaded === "number") return loaded;
    ctx.stdout.write(renderConfigYaml(loaded.config));
    return ExitCode.ok;
  },
};
