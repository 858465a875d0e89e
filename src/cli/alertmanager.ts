/** `imagewatch alertmanager test NAME`: one short-lived test alert to an entry of `alertmanagers:`. */
import { pushTestAlertForCommand } from "../app.js";
import { ExitCode } from "../lib/errors.js";
import { loadCommandConfig } from "./config-file.js";
import { type Command, type CommandContext, findNamed, parseTestArgs, writeLine } from "./context.js";

const USAGE = `Usage: imagewatch alertmanager test NAME [-c FILE]

Pushes one test alert (alertname=ImagewatchTest, firing for 5 minutes, with the entry's labels) to the
entry NAME of alertmanagers: and prints Alertmanager's answer.

Options:
  -c, --config FILE   config file (default: $IMAGEWATCH_CONFIG, then config/imagewatch.yaml)
  -h, --help          show this help

Exit status: 0 when Alertmanager answered 2xx, 1 otherwise, 2 usage error, 78 invalid config.`;

/** How much of Alertmanager's answer is printed. */
const PRINTED_BODY_CHARS = 500;

/** The `alertmanager` command (one subcommand: `test`). */
export const alertmanagerCommand: Command = {
  name: "alertmanager",
  summary: "push a test alert to one entry of alertmanagers:",
  usage: USAGE,
  async run(ctx: CommandContext): Promise<number> {
    const parsed = parseTestArgs("alertmanager", "alertmanager", ctx.args);
    if (parsed.help) {
      writeLine(ctx.stdout, USAGE);
      return ExitCode.ok;
    }
    const { name } = parsed;
    const loaded = loadCommandConfig(ctx, parsed.config);
    if (typeof loaded === "number") return loaded;
    const am = findNamed(loaded.config.alertmanagers, name, "alertmanager");
    const result = await pushTestAlertForCommand(am, ctx.env);
    const out = result.ok ? ctx.stdout : ctx.stderr;
    const body = result.body ?? "";
    const shown = body.length > PRINTED_BODY_CHARS ? `${body.slice(0, PRINTED_BODY_CHARS)}…` : body;
    if (result.status !== undefined) writeLine(out, `alertmanager ${name}: HTTP ${result.status}`);
    else if (!result.ok) writeLine(out, `alertmanager ${name}: test alert not delivered: ${result.error}`);
    if (shown.trim() !== "") writeLine(out, `response: ${shown}`);
    return result.ok ? ExitCode.ok : ExitCode.failure;
  },
};
