/**
 * `imagewatch events list|replay` (DESIGN §3): the events and deliveries in the state database. Both are
 * safe while the daemon runs: `list` opens the file read-only; `replay` writes pending rows, which the
 * daemon re-reads at least once a second and sends.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { LoadedConfig } from "../config/types.js";
import { EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT, toEventView } from "../http/server.js";
import { systemClock } from "../lib/clock.js";
import { ExitCode, UsageError } from "../lib/errors.js";
import { matchesWebhook } from "../notify/match.js";
import {
  type Parsed,
  parseDeliveryState,
  parseEventType,
  parseLimit,
  parseSince,
} from "../store/event-filter.js";
import { withSqliteStore } from "../store/sqlite-store.js";
import type { DeliveryRecord, EventFilter, EventWithDeliveries, ReplayScope } from "../store/types.js";
import { loadCommandConfig } from "./config-file.js";
import { type Command, type CommandContext, parseCommandArgs, writeLine } from "./context.js";
import { alignedLine, columnWidths } from "./output.js";

const USAGE = `Usage: imagewatch events list   [-c FILE] [--state pending|delivered|dead] [--webhook NAME]
                                [--server ID] [--type T] [--since 1h] [--limit N] [--json]
       imagewatch events replay ID [-c FILE] [--webhook NAME | --all]

list     prints the stored events, newest first, with each webhook's delivery state, attempts and
         last error. Filters combine: --state dead --webhook ops lists the events dead-lettered for ops.
replay   re-queues event ID so it is sent again, with the same webhook-id: by default only its dead and
         still-pending deliveries; --all every delivery (delivered ones too); --webhook only that
         webhook's, whatever its state (a webhook configured now that the event matches but was not
         sent to gets a new delivery).

Options:
  -c, --config FILE    config file (default: $IMAGEWATCH_CONFIG, then config/imagewatch.yaml)
      --state STATE    list: events with a delivery in this state (pending, delivered, dead)
      --webhook NAME   list: events with a delivery to this webhook; replay: only this webhook
      --server ID      list: events of this server id
      --type T         list: events of this type (status_changed, or in full: image_server.status_changed)
      --since D        list: events since a duration ago (1h, 30m) or an ISO time
      --limit N        list: at most N events (default ${EVENTS_DEFAULT_LIMIT}, at most ${EVENTS_MAX_LIMIT})
      --json           list: print {"events": [...]} as the HTTP API does
      --all            replay: re-queue every delivery of the event, delivered ones too
  -h, --help           show this help

Exit status: 0 ok, 1 unknown event, nothing to re-queue or no database, 2 usage error, 78 invalid config.`;

const OPTIONS = {
  config: { type: "string", short: "c" },
  state: { type: "string" },
  webhook: { type: "string" },
  server: { type: "string" },
  type: { type: "string" },
  since: { type: "string" },
  limit: { type: "string" },
  json: { type: "boolean" },
  all: { type: "boolean" },
} as const;

/** Options only one subcommand takes. */
const LIST_ONLY = ["state", "server", "type", "since", "limit", "json"] as const;
const REPLAY_ONLY = ["all"] as const;

/** Longest last error shown in the table (the JSON has it whole, as stored). */
const ERROR_WIDTH = 160;

/** The `events` command (`list` and `replay`). */
export const eventsCommand: Command = {
  name: "events",
  summary: "list stored events and their deliveries; re-queue a dead-lettered or delivered event",
  usage: USAGE,
  async run(ctx: CommandContext): Promise<number> {
    const { values, positionals } = parseCommandArgs("events", ctx.args, OPTIONS, true);
    if (values.help) {
      writeLine(ctx.stdout, USAGE);
      return ExitCode.ok;
    }
    const [sub, ...rest] = positionals;
    if (sub !== "list" && sub !== "replay") {
      throw new UsageError(
        `${sub === undefined ? "missing subcommand" : `unknown subcommand "${sub}"`}: use "events list" or "events replay ID" (see: imagewatch events --help)`,
      );
    }
    for (const name of sub === "list" ? REPLAY_ONLY : LIST_ONLY) {
      if (values[name] !== undefined) throw new UsageError(`--${name} is not an option of "events ${sub}"`);
    }
    return sub === "list" ? list(ctx, values, rest) : replay(ctx, values, rest);
  },
};

type Values = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>["values"];

/** An option's value, or a usage error naming it. */
function option<T>(name: string, p: Parsed<T>): T {
  if (!p.ok) throw new UsageError(`--${name}: ${p.error} (see: imagewatch events --help)`);
  return p.value;
}

/** The state database of the config, or an exit code after saying why there is none to read. */
function stateFile(ctx: CommandContext, loaded: LoadedConfig, sub: string): string | number {
  const statePath = loaded.config.state.path;
  if (statePath === ":memory:") {
    writeLine(
      ctx.stderr,
      `events ${sub}: state.path is ":memory:": the running daemon keeps its events in its own memory, out of reach of another process`,
    );
    return ExitCode.failure;
  }
  const file = resolve(ctx.cwd, statePath);
  // Opening would create an empty database; a missing file means a wrong config or cwd.
  if (!existsSync(file)) {
    writeLine(ctx.stderr, `events ${sub}: no state database at ${file}`);
    return ExitCode.failure;
  }
  return file;
}

async function list(ctx: CommandContext, values: Values, extra: string[]): Promise<number> {
  if (extra.length > 0)
    throw new UsageError(`unexpected argument "${extra[0]}" (see: imagewatch events --help)`);
  const now = systemClock.now();
  const filter: EventFilter = {};
  if (values.state !== undefined) filter.state = option("state", parseDeliveryState(values.state));
  if (values.type !== undefined) filter.type = option("type", parseEventType(values.type));
  if (values.since !== undefined) filter.since = option("since", parseSince(values.since, now));
  if (values.webhook !== undefined) filter.webhook = option("webhook", nonEmpty(values.webhook));
  if (values.server !== undefined) filter.serverId = option("server", nonEmpty(values.server));
  const limit =
    values.limit === undefined
      ? EVENTS_DEFAULT_LIMIT
      : option("limit", parseLimit(values.limit, EVENTS_MAX_LIMIT));

  const loaded = loadCommandConfig(ctx, values.config);
  if (typeof loaded === "number") return loaded;
  const file = stateFile(ctx, loaded, "list");
  if (typeof file === "number") return file;
  const events = withSqliteStore(file, (store) => store.listEvents(limit, filter), { readOnly: true });

  if (values.json) {
    writeLine(ctx.stdout, JSON.stringify({ events: events.map(toEventView) }, null, 2));
    return ExitCode.ok;
  }
  if (events.length === 0) {
    writeLine(ctx.stderr, "no events match");
    return ExitCode.ok;
  }
  writeLine(ctx.stdout, formatTable(events));
  return ExitCode.ok;
}

function nonEmpty(v: string): Parsed<string> {
  return v === "" ? { ok: false, error: "must not be empty" } : { ok: true, value: v };
}

/** `ops dead ×3`: one delivery's state in a cell. */
function deliveryCell(d: DeliveryRecord): string {
  return `${d.webhook} ${d.state} ×${d.attempts}`;
}

/** The events as aligned columns, newest first, with each delivery's last error on a line below. */
export function formatTable(events: readonly EventWithDeliveries[]): string {
  const rows = events.map((e) => [
    new Date(e.occurredAt).toISOString(),
    e.id,
    e.type.startsWith("image_server.") ? e.type.slice("image_server.".length) : e.type,
    e.data.name ? `${e.data.name} (${e.serverId})` : e.serverId,
    e.deliveries.length === 0 ? "-" : e.deliveries.map(deliveryCell).join(", "),
  ]);
  const header = ["TIME", "EVENT", "TYPE", "SERVER", "DELIVERIES (webhook state ×attempts)"];
  const widths = columnWidths(header, rows);
  const line = (cells: string[]) => alignedLine(cells, widths);
  const out = [line(header)];
  events.forEach((e, i) => {
    out.push(line(rows[i] ?? []));
    for (const d of e.deliveries) {
      if (d.lastError === null) continue;
      const err =
        d.lastError.length > ERROR_WIDTH ? `${d.lastError.slice(0, ERROR_WIDTH - 1)}…` : d.lastError;
      out.push(`    ${d.webhook}: last error: ${err.replace(/\s+/g, " ")}`);
    }
  });
  return out.join("\n");
}

async function replay(ctx: CommandContext, values: Values, args: string[]): Promise<number> {
  const [id, ...extra] = args;
  if (id === undefined || id === "") throw new UsageError("missing event ID (see: imagewatch events --help)");
  if (extra.length > 0)
    throw new UsageError(`unexpected argument "${extra[0]}" (see: imagewatch events --help)`);
  const webhook = values.webhook;
  if (webhook !== undefined && values.all) throw new UsageError("--webhook and --all exclude each other");
  if (webhook === "") throw new UsageError("--webhook: must not be empty");

  const loaded = loadCommandConfig(ctx, values.config);
  if (typeof loaded === "number") return loaded;
  const file = stateFile(ctx, loaded, "replay");
  if (typeof file === "number") return file;
  const configured =
    webhook === undefined ? undefined : loaded.config.webhooks.find((w) => w.name === webhook);

  return withSqliteStore(file, (store) => {
    const event = store.getEvent(id);
    if (event === undefined) {
      writeLine(ctx.stderr, `events replay: unknown event ${id} (see: imagewatch events list)`);
      return ExitCode.failure;
    }
    let scope: ReplayScope;
    if (webhook === undefined) scope = values.all ? { kind: "all" } : { kind: "undelivered" };
    else if (event.deliveries.some((d) => d.webhook === webhook)) {
      if (configured === undefined) {
        writeLine(
          ctx.stderr,
          `warning: webhook "${webhook}" is not in the config; its delivery will not be sent`,
        );
      }
      scope = { kind: "webhook", webhook, create: false };
    } else if (configured === undefined) {
      writeLine(
        ctx.stderr,
        `events replay: event ${id} has no delivery to webhook "${webhook}" and no webhook of that name is configured`,
      );
      return ExitCode.failure;
    } else if (!matchesWebhook(event, configured)) {
      writeLine(
        ctx.stderr,
        `events replay: webhook "${webhook}" does not take event ${id} (${event.type}): its events/statuses filters exclude it`,
      );
      return ExitCode.failure;
    } else scope = { kind: "webhook", webhook, create: true };

    const done = store.replay(id, systemClock.now(), scope) ?? [];
    if (done.length === 0) {
      writeLine(
        ctx.stderr,
        event.deliveries.length === 0
          ? `events replay: event ${id} has no deliveries (no webhook took it)`
          : `events replay: nothing to re-queue: every delivery of event ${id} was delivered (--all sends them again)`,
      );
      return ExitCode.failure;
    }
    for (const d of done) {
      const was =
        d.previousState === null
          ? "new delivery: the event had none to this webhook"
          : d.previousState === "pending"
            ? `was pending after ${d.previousAttempts} attempt(s); now due`
            : `was ${d.previousState} after ${d.previousAttempts} attempt(s)`;
      writeLine(ctx.stdout, `${d.webhook}: re-queued (${was})`);
    }
    const n = done.length;
    writeLine(ctx.stdout, `re-queued ${n} deliver${n === 1 ? "y" : "ies"} of event ${id}`);
    return ExitCode.ok;
  });
}
