import { type CloudClient, createCloudClient } from "../cloud/client.js";
import { CloudError } from "../cloud/errors.js";
import type { Config, TargetConfig } from "../config/types.js";
import { ownsServer } from "../domain/sharding.js";
import type { ImageServer } from "../domain/types.js";
import { systemClock } from "../lib/clock.js";
import { mapLimit } from "../lib/concurrency.js";
import { coerceError, ExitCode } from "../lib/errors.js";
import { createLogger } from "../lib/logger.js";
import { loadCommandConfig } from "./config-file.js";
import { type Command, type CommandContext, parseCommandArgs, writeLine } from "./context.js";

const USAGE = `Usage: imagewatch once [-c FILE] [--json]

Polls every configured target once and prints its image servers: id, name, status, status since
(the API's update_time, as no history is kept) and update time. Sends nothing and stores nothing.
Servers configured by id are fetched one by one; "discover: true" targets are listed.
A failed poll is reported on stderr with its error code, message and request id.

Options:
  -c, --config FILE   config file (default: $IMAGEWATCH_CONFIG, then config/imagewatch.yaml)
      --json          print a JSON array instead of a table
  -h, --help          show this help

Exit status: 0 every poll succeeded, 1 a poll failed, 78 invalid config, 2 usage error.`;

/** One printed server. */
export interface OnceRow {
  project_id: string;
  server_id: string;
  name: string;
  status: string;
  /** ISO time; for `once`, the API's update_time (no history is kept). */
  status_since: string | null;
  update_time: string | null;
}

/** One failed poll. */
export interface OnceFailure {
  projectId: string;
  /** Undefined for a failed list. */
  serverId?: string;
  error: unknown;
}

/** What polling every target once found. */
export interface OnceResult {
  rows: OnceRow[];
  failures: OnceFailure[];
  /** Configured servers that answered 404. */
  notFound: { projectId: string; serverId: string; requestId?: string }[];
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function toRow(projectId: string, server: ImageServer): OnceRow {
  return {
    project_id: projectId,
    server_id: server.id,
    name: server.name,
    status: server.status,
    status_since: iso(server.updateTime),
    update_time: iso(server.updateTime),
  };
}

/**
 * Polls every target once: `serverIds` by single GETs, `discover` targets by listing (with their
 * filters); only the servers this shard owns. Never throws for a failed poll: failures are returned.
 */
export async function pollOnce(
  config: Readonly<Config>,
  client: CloudClient,
  signal?: AbortSignal,
): Promise<OnceResult> {
  const result: OnceResult = { rows: [], failures: [], notFound: [] };
  const seen = new Set<string>();
  const add = (projectId: string, server: ImageServer) => {
    const key = `${projectId}/${server.id}`;
    if (seen.has(key) || !ownsServer(server.id, config.sharding)) return;
    seen.add(key);
    result.rows.push(toRow(projectId, server));
  };
  const gets: { projectId: string; serverId: string }[] = [];
  const lists: TargetConfig[] = [];
  for (const target of config.targets) {
    if (target.discover) lists.push(target);
    for (const serverId of target.serverIds) {
      if (ownsServer(serverId, config.sharding)) gets.push({ projectId: target.projectId, serverId });
    }
  }
  const jobs: (() => Promise<void>)[] = [
    ...lists.map((target) => async () => {
      try {
        const servers = await client.listImageServers(
          target.projectId,
          { serverName: target.serverName, enterpriseProjectId: target.enterpriseProjectId },
          { signal },
        );
        for (const server of servers) add(target.projectId, server);
      } catch (error) {
        result.failures.push({ projectId: target.projectId, error });
      }
    }),
    ...gets.map(({ projectId, serverId }) => async () => {
      try {
        const answer = await client.getImageServer(projectId, serverId, { signal });
        if (answer.kind === "ok") add(projectId, answer.server);
        else
          result.notFound.push({
            projectId,
            serverId,
            ...(answer.requestId === undefined ? {} : { requestId: answer.requestId }),
          });
      } catch (error) {
        result.failures.push({ projectId, serverId, error });
      }
    }),
  ];
  await mapLimit(jobs, config.schedule.concurrency, (job) => job());
  result.rows.sort(
    (a, b) =>
      a.project_id.localeCompare(b.project_id) ||
      a.name.localeCompare(b.name) ||
      a.server_id.localeCompare(b.server_id),
  );
  return result;
}

/** Renders rows as a column-aligned table; a PROJECT column is added when rows span several projects. */
export function renderTable(rows: readonly OnceRow[]): string {
  const multiProject = new Set(rows.map((r) => r.project_id)).size > 1;
  const header = [
    ...(multiProject ? ["PROJECT"] : []),
    "SERVER ID",
    "NAME",
    "STATUS",
    "STATUS SINCE",
    "UPDATE TIME",
  ];
  const short = (s: string | null) => (s === null ? "-" : s.replace(/\.\d{3}Z$/, "Z"));
  const lines = rows.map((r) => [
    ...(multiProject ? [r.project_id] : []),
    r.server_id,
    r.name === "" ? "-" : r.name,
    r.status,
    short(r.status_since),
    short(r.update_time),
  ]);
  const all = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...all.map((cells) => (cells[i] ?? "").length)));
  return all
    .map((cells) =>
      cells
        .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The stderr line of a failed poll: code, message, request id. */
export function describeFailure(f: OnceFailure): string {
  const where =
    f.serverId === undefined
      ? `project ${f.projectId} (list)`
      : `project ${f.projectId} server ${f.serverId}`;
  if (f.error instanceof CloudError) {
    const rid = f.error.requestId === undefined ? "" : ` (request id ${f.error.requestId})`;
    return `error: ${f.error.code} ${where}: ${f.error.message}${rid}`;
  }
  const e = coerceError(f.error);
  return `error: ${where}: ${e.message}`;
}

/** The `once` command. */
export const onceCommand: Command = {
  name: "once",
  summary: "poll every target once, print the servers, emit nothing",
  usage: USAGE,
  async run(ctx: CommandContext): Promise<number> {
    const { values } = parseCommandArgs("once", ctx.args, {
      config: { type: "string", short: "c" },
      json: { type: "boolean" },
    });
    if (values.help) {
      writeLine(ctx.stdout, USAGE);
      return ExitCode.ok;
    }
    const loaded = loadCommandConfig(ctx, values.config);
    if (typeof loaded === "number") return loaded;
    const { config } = loaded;

    // Logs go to stderr so stdout stays a clean table or JSON document.
    const logger = createLogger(config.log, ctx.stderr);
    const client = createCloudClient(config.cloud, { clock: systemClock, logger, env: ctx.env });
    const controller = new AbortController();
    const offInt = ctx.onSignal("SIGINT", () => controller.abort(new Error("interrupted")));
    const offTerm = ctx.onSignal("SIGTERM", () => controller.abort(new Error("interrupted")));
    let result: OnceResult;
    try {
      result = await pollOnce(config, client, controller.signal);
    } finally {
      offInt();
      offTerm();
      await client.close();
    }

    if (values.json) {
      writeLine(ctx.stdout, JSON.stringify(result.rows, null, 2));
    } else if (result.rows.length > 0) {
      writeLine(ctx.stdout, renderTable(result.rows));
    } else {
      writeLine(ctx.stderr, "no image servers found");
    }
    for (const nf of result.notFound) {
      const rid = nf.requestId === undefined ? "" : ` (request id ${nf.requestId})`;
      writeLine(ctx.stderr, `warning: project ${nf.projectId} server ${nf.serverId}: not found${rid}`);
    }
    for (const failure of result.failures) writeLine(ctx.stderr, describeFailure(failure));
    return result.failures.length > 0 || controller.signal.aborted ? ExitCode.failure : ExitCode.ok;
  },
};
