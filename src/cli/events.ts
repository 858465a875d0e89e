/**
 * `imagewatch events replay ID [-c FILE] [--webhook NAME]`: re-queues an event's deliveries (dead or
 * delivered → pending, due now) in the state database. Safe while the daemon runs: it re-reads the outbox
 * at least once a second and sends them.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { systemClock } from "../lib/clock.js";
import { ExitCode, UsageError } from "../lib/errors.js";
import { withSqliteStore } from "../store/sqlite-store.js";
import { loadCommandConfig } from "./config-file.js";
import { type Command, type CommandContext, parseCommandArgs, writeLine } from "./context.js";

const USAGE = `Usage: imagewatch events replay ID [-c FILE] [--webhook NAME]

Re-queues the deliveries of event ID (dead-lettered or delivered) so they are sent again, with the
same webhook-id. Works while the daemon runs: it picks them up within a second or so.

Options:
  -c, --config FILE    config file (default: $IMAGEWATCH_CONFIG, then config/imagewatch.yaml)
      --webhook NAME   re-queue only the delivery to this webhook
  -h, --help           show this help

Exit status: 0 re-queued, 1 unknown event (or no such delivery) or no database, 2 usage error,
78 invalid config.`;

/** The `events` command (one subcommand: `replay`). */
export const eventsCommand: Command = {
  name: "events",
  summary: "re-queue a delivered or dead-lettered event",
  usage: USAGE,
  async run(ctx: CommandContext): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      "events",
      ctx.args,
      { config: { type: "string", short: "c" }, webhook: { type: "string" } },
      true,
    );
    if (values.help) {
      writeLine(ctx.stdout, USAGE);
      return ExitCode.ok;
    }
    const [sub, id, ...extra] = positionals;
    if (sub !== "replay") {
      throw new UsageError(
        `${sub === undefined ? "missing subcommand" : `unknown subcommand "${sub}"`}: use "events replay ID" (see: imagewatch events --help)`,
      );
    }
    if (id === undefined || id === "")
      throw new UsageError("missing event ID (see: imagewatch events --help)");
    if (extra.length > 0)
      throw new UsageError(`unexpected argument "${extra[0]}" (see: imagewatch events --help)`);

    const loaded = loadCommandConfig(ctx, values.config);
    if (typeof loaded === "number") return loaded;
    const statePath = loaded.config.state.path;
    if (statePath === ":memory:") {
      writeLine(
        ctx.stderr,
        'events replay: state.path is ":memory:": the running daemon keeps its events in its own memory, nothing to replay from another process',
      );
      return ExitCode.failure;
    }
    const file = resolve(ctx.cwd, statePath);
    // Opening would create an empty database; a missing file means a wrong config or cwd.
    if (!existsSync(file)) {
      writeLine(ctx.stderr, `events replay: no state database at ${file}`);
      return ExitCode.failure;
    }
    const webhook = values.webhook;
    if (webhook !== undefined && !loaded.config.webhooks.some((w) => w.name === webhook)) {
      writeLine(
        ctx.stderr,
        `warning: webhook "${webhook}" is not in the config; its deliveries will not be sent`,
      );
    }

    const count = withSqliteStore(file, (store) => store.requeue(id, systemClock.now(), webhook));
    if (count === 0) {
      writeLine(
        ctx.stderr,
        webhook === undefined
          ? `events replay: unknown event ${id} (or it has no deliveries)`
          : `events replay: event ${id} has no delivery to webhook "${webhook}"`,
      );
      return ExitCode.failure;
    }
    writeLine(ctx.stdout, `re-queued ${count} deliver${count === 1 ? "y" : "ies"} of event ${id}`);
    return ExitCode.ok;
  },
};
