import type { CloudClient, GetServerResult } from "../cloud/client.js";
import type { Config, TargetConfig } from "../config/types.js";
import { observe } from "../domain/observe.js";
import { listResults, planTick } from "../domain/poll-plan.js";
import type { ImageServer } from "../domain/types.js";
import { systemClock } from "../lib/clock.js";
import { mapLimit } from "../lib/concurrency.js";
import { formatHumanDuration } from "../lib/duration.js";
import { ExitCode } from "../lib/errors.js";
import { toIsoOrNull } from "../lib/iso.js";
import { planSettings } from "../poller/poll-target.js";
import { loadCommandConfig } from "./config-file.js";
import { type Command, type CommandContext, parseCommandArgs, writeLine } from "./context.js";
import { askClouds, describeCallFailure, renderColumns } from "./output.js";

const USAGE = `Usage: imagewatch once [-c FILE] [--json]

Polls every configured target once, as the daemon's first poll does (the same servers and the same
list or GET calls), and prints its image servers: id, name, status, time in status and whether it is
stuck (above stuck.thresholds). As no history is kept, a status is taken to have begun at the API's
update_time. Sends nothing and stores nothing. A failed poll is reported on stderr with its error
code, message and request id (and host:port when the connection failed).

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
  /** ISO time the status began; for `once`, the API's update_time (no history is kept). */
  status_since: string | null;
  update_time: string | null;
  /** Seconds from `status_since` to the poll. */
  time_in_status_seconds: number;
  /** Whether the time in status is above the status's `stuck.thresholds` entry. */
  stuck: boolean;
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
  /** Configured servers that answered 404 or were absent from the list. */
  notFound: { projectId: string; serverId: string; requestId?: string }[];
}

/** What `pollOnce` needs besides the config. */
export interface OnceDeps {
  /** The client of a target's cloud. */
  cloudFor: (target: TargetConfig) => CloudClient;
  /** The poll time (ms): time in status and stuck are measured to it. */
  now: number;
  signal?: AbortSignal;
}

/**
 * Polls every target once, planned exactly as the daemon's tick is (`planTick` with no history and
 * `force`, so the same servers, the same list-or-GETs choice and the same API calls as `pollTarget`),
 * and reads each answer as a first sight (`observe`): status since, time in status and stuck as the
 * daemon would see them on its first poll. Never throws for a failed poll: failures are returned.
 */
export async function pollOnce(config: Readonly<Config>, deps: OnceDeps): Promise<OnceResult> {
  const { now, signal } = deps;
  const result: OnceResult = { rows: [], failures: [], notFound: [] };
  const settings = planSettings(config);
  const observeConfig = {
    thresholds: config.stuck.thresholds,
    repeatEvery: config.stuck.repeatEvery,
    pollFailureThreshold: config.alerts.pollFailureThreshold,
  };
  const seen = new Set<string>();
  const record = (projectId: string, serverId: string, answer: GetServerResult) => {
    const key = `${projectId}/${serverId}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (answer.kind === "not_found") {
      result.notFound.push({
        projectId,
        serverId,
        ...(answer.requestId === undefined ? {} : { requestId: answer.requestId }),
      });
      return;
    }
    const { state } = observe(undefined, answer, { projectId, serverId, now, config: observeConfig });
    result.rows.push({
      project_id: projectId,
      server_id: serverId,
      name: state.name,
      status: state.status ?? answer.server.status,
      status_since: toIsoOrNull(state.statusSince),
      update_time: toIsoOrNull(answer.server.updateTime),
      time_in_status_seconds: Math.max(0, Math.floor((now - state.statusSince) / 1000)),
      stuck: state.stuck,
    });
  };

  await mapLimit(config.targets, config.schedule.concurrency, async (target) => {
    const { projectId } = target;
    const cloud = deps.cloudFor(target);
    const plan = planTick(target, [], now, settings, {}, true);
    if (plan.kind === "list") {
      let servers: ImageServer[];
      try {
        servers = await cloud.listImageServers(projectId, plan.filter, { signal });
      } catch (error) {
        result.failures.push({ projectId, error });
        return;
      }
      for (const [serverId, answer] of listResults(plan, servers)) {
        if (answer.kind !== "failed") record(projectId, serverId, answer);
      }
    } else if (plan.kind === "get") {
      await mapLimit(plan.ids, config.schedule.concurrency, async (serverId) => {
        try {
          record(projectId, serverId, await cloud.getImageServer(projectId, serverId, { signal }));
        } catch (error) {
          result.failures.push({ projectId, serverId, error });
        }
      });
    }
  });
  result.rows.sort(
    (a, b) =>
      a.project_id.localeCompare(b.project_id) ||
      a.name.localeCompare(b.name) ||
      a.server_id.localeCompare(b.server_id),
  );
  return result;
}

/**
 * Renders rows as a column-aligned table; a PROJECT column is added when rows span several projects.
 * `thresholdFor` gives a status's stuck threshold (ms), shown as `yes (> 1h 0m)`.
 */
export function renderTable(
  rows: readonly OnceRow[],
  thresholdFor: (status: string) => number | undefined,
): string {
  const multiProject = new Set(rows.map((r) => r.project_id)).size > 1;
  const header = [
    ...(multiProject ? ["PROJECT"] : []),
    "SERVER ID",
    "NAME",
    "STATUS",
    "TIME IN STATUS",
    "STUCK",
  ];
  const stuck = (r: OnceRow) => {
    if (!r.stuck) return "-";
    const threshold = thresholdFor(r.status);
    return threshold === undefined ? "yes" : `yes (> ${formatHumanDuration(threshold)})`;
  };
  const lines = rows.map((r) => [
    ...(multiProject ? [r.project_id] : []),
    r.server_id,
    r.name === "" ? "-" : r.name,
    r.status,
    formatHumanDuration(r.time_in_status_seconds * 1000),
    stuck(r),
  ]);
  return renderColumns(header, lines);
}

/** The stderr line of a failed poll: code, where, message (with host:port for a connection error), request id. */
function describeOnceFailure(f: OnceFailure): string {
  const where =
    f.serverId === undefined
      ? `project ${f.projectId} (list)`
      : `project ${f.projectId} server ${f.serverId}`;
  return describeCallFailure(where, f.error);
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

    const { result, aborted } = await askClouds(ctx, config, (cloudFor, signal) =>
      pollOnce(config, { cloudFor, now: systemClock.now(), signal }),
    );

    const failed = result.failures.length > 0 || aborted;
    if (values.json) {
      writeLine(ctx.stdout, JSON.stringify(result.rows, null, 2));
    } else if (result.rows.length > 0) {
      writeLine(
        ctx.stdout,
        renderTable(result.rows, (status) => config.stuck.thresholds[status]),
      );
    } else if (!failed) {
      // Only when every call answered: a failed list is an error, never "none found".
      writeLine(ctx.stderr, "no image servers found");
    }
    for (const nf of result.notFound) {
      const rid = nf.requestId === undefined ? "" : ` (request id ${nf.requestId})`;
      writeLine(ctx.stderr, `warning: project ${nf.projectId} server ${nf.serverId}: not found${rid}`);
    }
    for (const failure of result.failures) writeLine(ctx.stderr, describeOnceFailure(failure));
    return failed ? ExitCode.failure : ExitCode.ok;
  },
};
