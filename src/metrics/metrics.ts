/**
 * Every metric imagewatch exports, named in this one module (DESIGN.md §5, STYLE.md rule 7).
 *
 * Two halves, rendered into one exposition:
 * - **Per-server series** (`imagewatch_image_server_*`) are kept as ready-made text. `setServer()` rebuilds
 *   the lines of that one server in every family, and each family caches its joined text until a line of
 *   it changes. A scrape of 10,000 servers is then a handful of string joins, not 100,000 prom-client
 *   children rebuilt per scrape (TOOLCHAIN.md measures 0.7 s for that).
 * - **Daemon series** (requests, deliveries, queue, auth, transitions, config, build, shard, and the
 *   process defaults) live on a prom-client `Registry` owned by this instance, never the default one.
 *
 * Process default metrics are registered WITHOUT the `imagewatch_` prefix (`process_cpu_seconds_total`,
 * `nodejs_heap_size_used_bytes`, …): that is the convention of every Node exporter, so stock dashboards
 * and alerts for Node processes work unchanged. Everything imagewatch itself defines carries the prefix.
 * Three defaults (`nodejs_active_{handles,requests,resources}_total`) are dropped: they are gauges named
 * like counters, and `promtool check metrics` must report nothing on a scrape (DESIGN.md §5).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { KNOWN_STATUSES, type RequestOutcome, type ServerState } from "../domain/types.js";
import { yieldToLoop } from "../lib/yield.js";

/** The prefix of every metric imagewatch defines. */
export const METRIC_PREFIX = "imagewatch_";

/** Metric names, without and with the prefix, in one place. */
export const METRIC_NAMES = {
  serverStatus: `${METRIC_PREFIX}image_server_status`,
  serverInfo: `${METRIC_PREFIX}image_server_info`,
  serverStatusChanged: `${METRIC_PREFIX}image_server_status_changed_timestamp_seconds`,
  serverCreated: `${METRIC_PREFIX}image_server_created_timestamp_seconds`,
  serverStuck: `${METRIC_PREFIX}image_server_stuck`,
  serverPollSuccess: `${METRIC_PREFIX}image_server_poll_success`,
  serverLastPollSuccess: `${METRIC_PREFIX}image_server_last_poll_success_timestamp_seconds`,
  transitions: `${METRIC_PREFIX}image_server_transitions_total`,
  pollRequests: `${METRIC_PREFIX}poll_requests_total`,
  pollDuration: `${METRIC_PREFIX}poll_duration_seconds`,
  webhookDeliveries: `${METRIC_PREFIX}webhook_deliveries_total`,
  webhookQueueDepth: `${METRIC_PREFIX}webhook_queue_depth`,
  webhookOldestPendingAge: `${METRIC_PREFIX}webhook_oldest_pending_age_seconds`,
  authTokenRefreshes: `${METRIC_PREFIX}auth_token_refreshes_total`,
  configLastReloadSuccessful: `${METRIC_PREFIX}config_last_reload_successful`,
  configLastReloadSuccessTimestamp: `${METRIC_PREFIX}config_last_reload_success_timestamp_seconds`,
  buildInfo: `${METRIC_PREFIX}build_info`,
  shardOrdinal: `${METRIC_PREFIX}shard_ordinal`,
  totalShards: `${METRIC_PREFIX}total_shards`,
  /** Not in DESIGN.md §5: issue 4 asks that a failing scheduler tick be counted. */
  pollTickFailures: `${METRIC_PREFIX}poll_tick_failures_total`,
} as const;

/** Buckets of `poll_duration_seconds`: one cloud API call, from a fast loopback answer to the 30 s worst case. */
export const POLL_DURATION_BUCKETS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** prom-client default metrics dropped because promtool's lint rejects their names. */
const LINT_FAILING_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/** Every outcome of `poll_requests_total` (DESIGN.md §5). */
export const REQUEST_OUTCOMES: readonly RequestOutcome[] = [
  "success",
  "not_found",
  "http_4xx",
  "http_5xx",
  "throttled",
  "timeout",
  "network",
  "invalid_response",
  "auth",
];

/** The metrics of one imagewatch process. Create one per process (or per test) with `createMetrics`. */
export interface Metrics {
  /** The instance's own prom-client registry (daemon series and process defaults). */
  readonly registry: Registry;
  /**
   * Rebuilds the per-server series of `state.projectId`/`state.serverId` from the state. A state that is not
   * `present`, or was never seen (`status === null`), removes the server's series instead.
   */
  setServer(state: ServerState): void;
  /** Removes every per-server series of one server; unknown servers are ignored. */
  removeServer(projectId: string, serverId: string): void;
  /** Counts one status change in `image_server_transitions_total{from,to}`. */
  recordTransition(from: string, to: string): void;
  /** Counts one API request (`poll_requests_total`) and observes its duration (`poll_duration_seconds`). */
  recordRequest(projectId: string, outcome: RequestOutcome, durationSeconds: number): void;
  /** Counts one IAM token request (`auth_token_refreshes_total`). */
  recordTokenRefresh(outcome: "success" | "failure"): void;
  /** Counts a scheduler tick whose poll threw (`poll_tick_failures_total`): a bug or a store failure. */
  recordTickFailure(projectId: string): void;
  /** Counts one delivery attempt's outcome (`webhook_deliveries_total`). */
  recordDelivery(webhook: string, outcome: "delivered" | "retried" | "dead"): void;
  /** Sets `webhook_queue_depth` and `webhook_oldest_pending_age_seconds` of one webhook. */
  setQueue(webhook: string, depth: number, oldestAgeSeconds: number): void;
  /** Drops every series labelled with `webhook` (after a reload removed it). */
  removeWebhook(webhook: string): void;
  /** Records the outcome of a config (re)load; `atMs` is the load time, kept only when `ok`. */
  setConfigReload(ok: boolean, atMs: number): void;
  /** Sets `shard_ordinal` and `total_shards`. */
  setShard(index: number, count: number): void;
  /** The full exposition: the registry's text followed by the per-server families. */
  render(): Promise<{ contentType: string; body: string }>;
  /**
   * The same exposition as UTF-8 chunks, in order (what the HTTP server sends): unchanged families are
   * served from cached bytes, and the event loop gets a turn between families that had to be rebuilt.
   */
  renderChunks(): Promise<{ contentType: string; chunks: Buffer[] }>;
}

/** Options of `createMetrics`. */
export interface MetricsDeps {
  /** imagewatch's version, for `build_info`. */
  version: string;
  /** Defaults to `process.version`. */
  nodeVersion?: string;
  /** Register prom-client's process default metrics (default true; tests usually turn it off). */
  collectDefault?: boolean;
}

/**
 * Escapes a label value for the text exposition format: backslash, double quote and line feed.
 * Exported for tests and for any other hand-written exposition.
 */
export function escapeLabelValue(value: string): string {
  // Fast path: nearly every label value needs no escaping.
  if (!/[\\"\n]/.test(value)) return value;
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Formats a sample value as the exposition format writes floats. */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

/** Servers per encoded segment of a family: small enough that building one takes a millisecond or two. */
const SEGMENT_SERVERS = 1000;

/** One per-server metric family: a cached line block per server, and the encoded text while unchanged. */
class ServerFamily {
  private readonly header: Buffer;
  private readonly lines = new Map<string, string>();
  private encoded: Buffer[] | null = null;
  /** Bumped on every change, so a rebuild that raced a change is not cached. */
  private version = 0;

  constructor(
    readonly name: string,
    help: string,
  ) {
    this.header = Buffer.from(`# HELP ${name} ${help}\n# TYPE ${name} gauge\n`, "utf8");
  }

  /** Sets (or, with `undefined`, deletes) the lines of one server; marks the family dirty only on change. */
  set(key: string, block: string | undefined): void {
    if (block === undefined) {
      if (!this.lines.delete(key)) return;
    } else {
      if (this.lines.get(key) === block) return;
      this.lines.set(key, block);
    }
    this.encoded = null;
    this.version += 1;
  }

  /**
   * The family's exposition as UTF-8 chunks: header, then every server's lines. Kept until a line changes,
   * so an unchanged family costs nothing per scrape. A rebuild works on a snapshot of the blocks and yields
   * to the event loop between segments of `SEGMENT_SERVERS` servers. An empty family still gets its header.
   */
  async render(): Promise<Buffer[]> {
    if (this.encoded !== null) return this.encoded;
    const version = this.version;
    // Snapshot first: the map may change while we yield, and a live iteration could see a server twice.
    const blocks = Array.from(this.lines.values());
    const out: Buffer[] = [this.header];
    for (let i = 0; i < blocks.length; i += SEGMENT_SERVERS) {
      await yieldToLoop();
      out.push(Buffer.from(blocks.slice(i, i + SEGMENT_SERVERS).join(""), "utf8"));
    }
    if (this.version === version) this.encoded = out;
    return out;
  }
}

const SERVER_INFO_HELP =
  "Image server metadata, always 1; label values come from the API (server_id here is the image server's id, aps_server_id the API body's server_id).";

/** Creates the metrics of one process on a fresh prom-client registry. */
export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const transitions = new Counter({
    name: METRIC_NAMES.transitions,
    help: "Image server status changes seen, by previous and new status.",
    labelNames: ["from", "to"] as const,
    registers,
  });
  const pollRequests = new Counter({
    name: METRIC_NAMES.pollRequests,
    help: "Cloud API requests sent (each retry counts), by project and outcome.",
    labelNames: ["project_id", "outcome"] as const,
    registers,
  });
  const pollDuration = new Histogram({
    name: METRIC_NAMES.pollDuration,
    help: "Duration of one cloud API request in seconds, by project.",
    labelNames: ["project_id"] as const,
    buckets: [...POLL_DURATION_BUCKETS],
    registers,
  });
  const deliveries = new Counter({
    name: METRIC_NAMES.webhookDeliveries,
    help: "Webhook delivery attempt outcomes, by webhook: delivered, retried (will try again) or dead (given up).",
    labelNames: ["webhook", "outcome"] as const,
    registers,
  });
  const queueDepth = new Gauge({
    name: METRIC_NAMES.webhookQueueDepth,
    help: "Webhook deliveries pending, by webhook.",
    labelNames: ["webhook"] as const,
    registers,
  });
  const oldestPending = new Gauge({
    name: METRIC_NAMES.webhookOldestPendingAge,
    help: "Age in seconds of the oldest pending webhook delivery, by webhook (0 when none pend).",
    labelNames: ["webhook"] as const,
    registers,
  });
  const tokenRefreshes = new Counter({
    name: METRIC_NAMES.authTokenRefreshes,
    help: "IAM token requests (the first included), by outcome.",
    labelNames: ["outcome"] as const,
    registers,
  });
  const tickFailures = new Counter({
    name: METRIC_NAMES.pollTickFailures,
    help: "Scheduler ticks whose poll of a target threw (not a failed API call: those are poll_requests_total).",
    labelNames: ["project_id"] as const,
    registers,
  });
  const reloadOk = new Gauge({
    name: METRIC_NAMES.configLastReloadSuccessful,
    help: "Whether the last configuration (re)load succeeded.",
    registers,
  });
  const reloadAt = new Gauge({
    name: METRIC_NAMES.configLastReloadSuccessTimestamp,
    help: "Timestamp of the last successful configuration (re)load in seconds since the epoch.",
    registers,
  });
  const buildInfo = new Gauge({
    name: METRIC_NAMES.buildInfo,
    help: "imagewatch build information, always 1.",
    labelNames: ["version", "node_version"] as const,
    registers,
  });
  const shardOrdinal = new Gauge({
    name: METRIC_NAMES.shardOrdinal,
    help: "The shard index this replica owns (sharding.index).",
    registers,
  });
  const totalShards = new Gauge({
    name: METRIC_NAMES.totalShards,
    help: "The number of shards (sharding.count).",
    registers,
  });

  buildInfo.set({ version: deps.version, node_version: deps.nodeVersion ?? process.version }, 1);
  // Series that alerts look at exist from the start, at 0, so `rate()` and `absent()` behave.
  tokenRefreshes.labels({ outcome: "success" }).inc(0);
  tokenRefreshes.labels({ outcome: "failure" }).inc(0);
  shardOrdinal.set(0);
  totalShards.set(1);
  reloadOk.set(0);
  if (deps.collectDefault ?? true) {
    collectDefaultMetrics({ register: registry });
    // prom-client names these three gauges `*_total`, which `promtool check metrics` rejects (a `_total`
    // suffix promises a counter). The per-type gauges without the suffix carry the same information.
    for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  }

  const status = new ServerFamily(
    METRIC_NAMES.serverStatus,
    "Image server status as a state set: 1 for the current status, 0 for the other known ones; an unknown or unexpected current status has its own series.",
  );
  const info = new ServerFamily(METRIC_NAMES.serverInfo, SERVER_INFO_HELP);
  const statusChanged = new ServerFamily(
    METRIC_NAMES.serverStatusChanged,
    "When the image server's current status began, in seconds since the epoch.",
  );
  const created = new ServerFamily(
    METRIC_NAMES.serverCreated,
    "The image server's create_time, in seconds since the epoch.",
  );
  const stuck = new ServerFamily(
    METRIC_NAMES.serverStuck,
    "1 while the image server has been in its status longer than the stuck threshold.",
  );
  const pollSuccess = new ServerFamily(
    METRIC_NAMES.serverPollSuccess,
    "1 if the last poll of this image server succeeded, 0 if it failed.",
  );
  const lastPollSuccess = new ServerFamily(
    METRIC_NAMES.serverLastPollSuccess,
    "When this image server was last polled successfully, in seconds since the epoch.",
  );
  const families = [status, info, statusChanged, created, stuck, pollSuccess, lastPollSuccess];

  const keyOf = (projectId: string, serverId: string): string => `${projectId}\u0000${serverId}`;

  function removeServer(projectId: string, serverId: string): void {
    const key = keyOf(projectId, serverId);
    for (const f of families) f.set(key, undefined);
  }

  function setServer(state: ServerState): void {
    if (!state.present || state.status === null) {
      removeServer(state.projectId, state.serverId);
      return;
    }
    const key = keyOf(state.projectId, state.serverId);
    const ids = `project_id="${escapeLabelValue(state.projectId)}",server_id="${escapeLabelValue(state.serverId)}"`;

    let statusBlock = "";
    let known = false;
    for (const s of KNOWN_STATUSES) {
      const on = s === state.status;
      if (on) known = true;
      statusBlock += `${status.name}{${ids},status="${s}"} ${on ? 1 : 0}\n`;
    }
    if (!known) statusBlock += `${status.name}{${ids},status="${escapeLabelValue(state.status)}"} 1\n`;
    status.set(key, statusBlock);

    const srv = state.server;
    const infoLabels =
      `${ids},name="${escapeLabelValue(srv?.name ?? state.name)}"` +
      `,image_id="${escapeLabelValue(srv?.imageId ?? "")}"` +
      `,image_type="${escapeLabelValue(srv?.imageType ?? "")}"` +
      `,server_group_id="${escapeLabelValue(srv?.serverGroupId ?? "")}"` +
      `,app_group_id="${escapeLabelValue(srv?.appGroupId ?? "")}"` +
      `,aps_server_id="${escapeLabelValue(srv?.apsServerId ?? "")}"` +
      `,instance_id="${escapeLabelValue(srv?.instanceId ?? "")}"`;
    info.set(key, `${info.name}{${infoLabels}} 1\n`);

    statusChanged.set(key, `${statusChanged.name}{${ids}} ${formatSampleValue(state.statusSince / 1000)}\n`);
    const createTime = srv?.createTime ?? null;
    created.set(
      key,
      createTime === null ? undefined : `${created.name}{${ids}} ${formatSampleValue(createTime / 1000)}\n`,
    );
    stuck.set(key, `${stuck.name}{${ids}} ${state.stuck ? 1 : 0}\n`);
    pollSuccess.set(
      key,
      state.lastPollOk === null ? undefined : `${pollSuccess.name}{${ids}} ${state.lastPollOk ? 1 : 0}\n`,
    );
    lastPollSuccess.set(
      key,
      state.lastSuccessAt === null
        ? undefined
        : `${lastPollSuccess.name}{${ids}} ${formatSampleValue(state.lastSuccessAt / 1000)}\n`,
    );
  }

  async function renderChunks(): Promise<{ contentType: string; chunks: Buffer[] }> {
    const daemon = await registry.metrics();
    const chunks: Buffer[] = [
      Buffer.from(daemon.endsWith("\n") || daemon === "" ? daemon : `${daemon}\n`, "utf8"),
    ];
    for (const f of families) chunks.push(...(await f.render()));
    return { contentType: registry.contentType, chunks };
  }

  return {
    registry,
    setServer,
    removeServer,
    recordTransition(from, to) {
      transitions.inc({ from, to });
    },
    recordRequest(projectId, outcome, durationSeconds) {
      pollRequests.inc({ project_id: projectId, outcome });
      if (Number.isFinite(durationSeconds) && durationSeconds >= 0) {
        pollDuration.observe({ project_id: projectId }, durationSeconds);
      }
    },
    recordTokenRefresh(outcome) {
      tokenRefreshes.inc({ outcome });
    },
    recordTickFailure(projectId) {
      tickFailures.inc({ project_id: projectId });
    },
    recordDelivery(webhook, outcome) {
      deliveries.inc({ webhook, outcome });
    },
    setQueue(webhook, depth, oldestAgeSeconds) {
      queueDepth.set({ webhook }, depth);
      oldestPending.set({ webhook }, Math.max(0, oldestAgeSeconds));
    },
    removeWebhook(webhook) {
      queueDepth.remove({ webhook });
      oldestPending.remove({ webhook });
      for (const outcome of ["delivered", "retried", "dead"] as const)
        deliveries.remove({ webhook, outcome });
    },
    setConfigReload(ok, atMs) {
      reloadOk.set(ok ? 1 : 0);
      if (ok) reloadAt.set(atMs / 1000);
    },
    setShard(index, count) {
      shardOrdinal.set(index);
      totalShards.set(count);
    },
    renderChunks,
    async render() {
      const { contentType, chunks } = await renderChunks();
      return { contentType, body: Buffer.concat(chunks).toString("utf8") };
    },
  };
}
