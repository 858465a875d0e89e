/**
 * `imagewatch run [-c FILE]`: the daemon. SIGTERM/SIGINT stop gracefully (a second one exits at once),
 * SIGHUP reloads the config.
 */
import { createApp } from "../app.js";
import { coerceError, ExitCode } from "../lib/errors.js";
import { createLogger } from "../lib/logger.js";
import { loadCommandConfig } from "./config-file.js";
import type { Command, CommandContext } from "./context.js";
import { parseCommandArgs, writeLine } from "./context.js";

const USAGE = `Usage: imagewatch run [-c FILE]

Runs the daemon: polls every target, serves /metrics and the JSON API, delivers webhooks.
  -c, --config FILE   config file (default: $IMAGEWATCH_CONFIG, then config/imagewatch.yaml)
Signals: SIGTERM/SIGINT stop gracefully (a second one exits at once); SIGHUP reloads the config.`;

export const runCommand: Command = {
  name: "run",
  summary: "run the daemon",
  usage: USAGE,
  async run(ctx: CommandContext): Promise<number> {
    const { values } = parseCommandArgs("run", ctx.args, { config: { type: "string", short: "c" } });
    if (values.help) {
      writeLine(ctx.stdout, USAGE);
      return ExitCode.ok;
    }
    const loaded = loadCommandConfig(ctx, values.config);
    if (typeof loaded === "number") return loaded;
    const logger = createLogger(loaded.config.log);
    const app = createApp(loaded, { logger, env: ctx.env });

    return await new Promise<number>((resolve) => {
      let stopping = false;
      const unsubscribe: Array<() => void> = [];
      const stop = (signal: string) => {
        if (stopping) {
          logger.warn({ signal }, "second stop signal; exiting now");
          logger.flush?.();
          ctx.exit?.(ExitCode.failure);
          return;
        }
        stopping = true;
        logger.info({ signal }, "stopping");
        app.stop().then(
          () => {
            for (const u of unsubscribe) u();
            resolve(ExitCode.ok);
          },
          (e: unknown) => {
            logger.error({ err: coerceError(e) }, "stop failed");
            for (const u of unsubscribe) u();
            resolve(ExitCode.failure);
          },
        );
      };
      unsubscribe.push(ctx.onSignal("SIGTERM", () => stop("SIGTERM")));
      unsubscribe.push(ctx.onSignal("SIGINT", () => stop("SIGINT")));
      unsubscribe.push(
        ctx.onSignal("SIGHUP", () => {
          // reload() reports its own failures; this only guards the process against a surprise.
          app.reload().catch((e: unknown) => logger.error({ err: coerceError(e) }, "config reload failed"));
        }),
      );
      app.start().catch((e: unknown) => {
        const err = coerceError(e);
        logger.error({ err }, "start failed");
        writeLine(ctx.stderr, `imagewatch run: ${err.message}`);
        stopping = true;
        void app.stop().finally(() => {
          for (const u of unsubscribe) u();
          resolve(ExitCode.failure);
        });
      });
    });
  },
};
