import { createWebhookSenderForCommand } from "../app.js";
import { AppError, ExitCode } from "../lib/errors.js";
import type { TestEventResult } from "../notify/test-event.js";
import { loadCommandConfig } from "./config-file.js";
import { type Command, type CommandContext, findNamed, parseTestArgs, writeLine } from "./context.js";

const USAGE = `Usage: imagewatch webhook test NAME [-c FILE]

Sends one signed "imagewatch.test" event to the webhook NAME of the config, once (no retries),
and prints the receiver's HTTP status and the start of its response body.

Options:
  -c, --config FILE   config file (default: $IMAGEWATCH_CONFIG, then config/imagewatch.yaml)
  -h, --help          show this help

HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured, as by the daemon.

Exit status: 0 when the receiver answered 2xx (for chat platforms: with no error in the body), 1 otherwise,
2 usage error, 78 invalid config.`;

/** How much of the receiver's response body is printed. */
const PRINTED_BODY_CHARS = 500;

/** The `webhook` command (one subcommand: `test`). */
export const webhookCommand: Command = {
  name: "webhook",
  summary: "send a signed test event to one webhook",
  usage: USAGE,
  async run(ctx: CommandContext): Promise<number> {
    const parsed = parseTestArgs("webhook", "webhook", ctx.args);
    if (parsed.help) {
      writeLine(ctx.stdout, USAGE);
      return ExitCode.ok;
    }
    const { name } = parsed;
    const loaded = loadCommandConfig(ctx, parsed.config);
    if (typeof loaded === "number") return loaded;
    const webhook = findNamed(loaded.config.webhooks, name, "webhook");

    let result: TestEventResult;
    // The daemon's dispatcher: the same HTTPS_PROXY / NO_PROXY rules, so the test goes the way deliveries go.
    const sender = createWebhookSenderForCommand(ctx.env);
    try {
      result = await sender.send(webhook);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      writeLine(ctx.stderr, `webhook ${name}: test event not delivered: ${err.message}`);
      return ExitCode.failure;
    } finally {
      await sender.close();
    }
    const ok = result.status >= 200 && result.status <= 299 && result.platformError === undefined;
    const body =
      result.body.length > PRINTED_BODY_CHARS ? `${result.body.slice(0, PRINTED_BODY_CHARS)}…` : result.body;
    writeLine(
      ok ? ctx.stdout : ctx.stderr,
      `webhook ${name}: HTTP ${result.status} in ${Math.round(result.durationMs)} ms (event ${result.eventId})`,
    );
    if (body.trim() !== "") writeLine(ok ? ctx.stdout : ctx.stderr, `response: ${body}`);
    if (result.platformError)
      writeLine(ctx.stderr, `webhook ${name}: refused by the platform: ${result.platformError}`);
    return ok ? ExitCode.ok : ExitCode.failure;
  },
};
