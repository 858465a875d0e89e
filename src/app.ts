/**
 * The composition root: the only file that picks concrete implementations (our style rule 2) and wires
 * config → cloud clients (one per cloud) → poller → store → delivery, metrics and HTTP. `createApp`
 * builds; `start` and `stop` run the lifecycle in order and in reverse.
 */
import { isDeepStrictEqual } from "node:util";
import type { JobAlertInput, TargetAlertInput } from "./alertmanager/alert-set.js";
import { deriveAlerts, failedJobInputs } from "./alertmanager/alert-set.js";
import { createAlertPusher, type PushResult, postAlerts, testAlert } from "./alertmanager/pusher.js";
import { createCloudClient } from "./cloud/client.js";
import { type CloudClients, createCloudClients } from "./cloud/clouds.js";
import { loadConfig } from "./config/load.js";
import type { AlertmanagerConfig, Config, LoadedConfig, WebhookConfig } from "./config/types.js";
import { matchesTargetFilter, type TargetMemory } from "./domain/poll-plan.js";
import { ownsServer } from "./domain/sharding.js";
import { DEFAULT_CLOUD } from "./domain/target-health.js";
import type { ServerState } from "./domain/types.js";
import { createHttpServer } from "./http/server.js";
import { type Clock, systemClock, systemTimers, type Timers } from "./lib/clock.js";
import { ConfigError, coerceError } from "./lib/errors.js";
import type { Logger } from "./lib/logger.js";
import { VERSION } from "./lib/version.js";
import { YIELD_EVERY, yieldToLoop } from "./lib/yield.js";
import { applyPollToMetrics } from "./metrics/apply-poll.js";
import { metricsConfigOf } from "./metrics/from-config.js";
import { createMetrics, type Metrics } from "./metrics/metrics.js";
import { createDeliveryService, type DeliveryService } from "./notify/delivery-service.js";
import { createWebhookDispatcher } from "./notify/dispatcher.js";
import { sendTestEvent, type TestEventResult } from "./notify/test-event.js";
import { JobBook } from "./poller/job-book.js";
import { type PollDeps, pollTarget, ServerStates, TargetStates } from "./poller/poll-target.js";
import { createScheduler, type Scheduler } from "./poller/scheduler.js";
import { openSqliteStore } from "./store/sqlite-store.js";
import type { Store } from "./store/types.js";

/** How many of the most recent failing jobs the alert set looks at (an hour of failures fits). */
const JOB_ALERT_SCAN = 1000;

/** What the process shell gives the daemon; the rest is picked here. */
export interface AppDeps {
  logger: Logger;
  /** Time for polls, events and delivery (tests pass a manual clock); default: the system clock. */
  clock?: Clock;
  /** The scheduler's timers (tests pass a manual clock); default: node's. */
  timers?: Timers;
  env: Readonly<Record<string, string | undefined>>;
  /** Delivery: how often the outbox is re-read without a wake-up (ms). */
  deliveryPollIntervalMs?: number;
  /** Grace for polls in flight at stop before they are aborted (ms). */
  pollStopGraceMs?: number;
  /** Events deleted per transaction when pruning (default PRUNE_BATCH). */
  pruneBatch?: number;
}

/**
 * Events deleted per transaction when pruning. Measured with bench/store-history.ts's aged database (about
 * 50,000 events with their deliveries): in one transaction the loop was held 1.2 s; in batches of 500 a
 * batch took 12 ms (median), the slowest ~80 ms (one that runs a WAL checkpoint), 2.2 s in all. Batches
 * of 1,000 took 26 ms each, of 250 7 ms but 2.7 s in all: every batch rewrites the pages of the events'
 * id and per-server indexes it touches.
 */
export const PRUNE_BATCH = 500;

export interface App {
  readonly metrics: Metrics;
  readonly store: Store;
  readonly states: ServerStates;
  /** Target health (DESIGN §10), as the API and the status page show it. */
  readonly targets: TargetStates;
  /** The scheduler's events and drain, so tests on a manual clock can await ticks. */
  readonly scheduler: Pick<Scheduler, "on" | "drain">;
  /** What delivery is doing now, so tests on a manual clock can tell "nothing due" from "waiting". */
  readonly delivery: Pick<DeliveryService, "inFlight" | "pausedUntil">;
  /** The current (frozen) config. */
  config(): Readonly<Config>;
  /** Starts HTTP, delivery and the scheduler; resolves with the HTTP port. */
  start(): Promise<{ port: number; url: string }>;
  /** Reloads the config file: validate first, keep the old config on failure. */
  reload(): Promise<{ ok: true } | { ok: false; errors: string[] }>;
  isReady(): boolean;
  /** Stops in reverse order: scheduler (awaiting polls), delivery (grace), HTTP, cloud, store. */
  stop(): Promise<void>;
}

/** A reload's new parts, all built before anything is swapped. */
interface Prepared {
  loaded: LoadedConfig;
  /** The cloud clients of the new config (unchanged clouds keep their client). */
  clouds: CloudClients;
  /** server.listen or state.path changed: those wait for a restart. */
  restartNeeded: boolean;
}

/** What a one-shot command gives the implementations it gets from here. */
export interface CommandDeps {
  /** The command's logger (stderr, so stdout stays the command's output). */
  logger: Logger;
  /** Proxy variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY). */
  env: Readonly<Record<string, string | undefined>>;
}

/**
 * The cloud clients of a one-shot command (`once`): the daemon's, one per cloud, without metrics. The
 * caller closes them.
 */
export function createCloudForCommand(config: Readonly<Config>, deps: CommandDeps): CloudClients {
  return createCloudClients(config.clouds, (name, cloud) =>
    createCloudClient(cloud, {
      clock: systemClock,
      logger: deps.logger.child({ cloud: name }),
      env: deps.env,
    }),
  );
}

/** Sends test events the way deliveries go (the daemon's dispatcher and proxy rules). */
export interface WebhookTestSender {
  /** One signed `imagewatch.test` event to `webhook`, no retries (see `sendTestEvent`). */
  send(webhook: WebhookConfig): Promise<TestEventResult>;
  /** Closes the dispatcher. */
  close(): Promise<void>;
}

/** The test-event sender of `webhook test`. The caller closes it. */
export function createWebhookSenderForCommand(
  env: Readonly<Record<string, string | undefined>>,
): WebhookTestSender {
  const dispatcher = createWebhookDispatcher(env);
  return {
    send: (webhook) => sendTestEvent(webhook, { clock: systemClock, dispatcher, version: VERSION }),
    close: () => dispatcher.destroy().catch(() => undefined),
  };
}

/** Pushes one short-lived test alert to an entry of `alertmanagers:` (`imagewatch alertmanager test`). */
export async function pushTestAlertForCommand(
  am: AlertmanagerConfig,
  env: Readonly<Record<string, string | undefined>>,
): Promise<PushResult> {
  const dispatcher = createWebhookDispatcher(env);
  const now = systemClock.now();
  try {
    return await postAlerts(am, [testAlert(now, am.labels)], {
      dispatcher,
      userAgent: `imagewatch/${VERSION}`,
    });
  } finally {
    await dispatcher.destroy().catch(() => undefined);
  }
}

/** Every (project, cloud) pair the config watches, once each: a target's health is keyed by both. */
function uniqueTargets(config: Readonly<Config>): Array<{ projectId: string; cloud: string }> {
  const seen = new Map<string, { projectId: string; cloud: string }>();
  for (const t of config.targets) {
    const cloud = t.cloud ?? DEFAULT_CLOUD;
    seen.set(`${cloud}/${t.projectId}`, { projectId: t.projectId, cloud });
  }
  return [...seen.values()];
}

/** Builds the daemon from a loaded config. Opening the store may throw (corrupt or newer database). */
export function createApp(loaded: LoadedConfig, deps: AppDeps): App {
  const clock = deps.clock ?? systemClock;
  const log = deps.logger;
  let current = loaded;
  const cfg = () => current.config;

  const store = openSqliteStore(cfg().state.path, { clock, logger: log });
  const states = new ServerStates();
  const metrics = createMetrics({ version: VERSION, nodeVersion: process.version, collectDefault: true });
  metrics.setShard(cfg().sharding.index, cfg().sharding.count);
  metrics.configure(metricsConfigOf(cfg()));
  metrics.setConfigReload(true, clock.now());

  for (const s of store.loadServers()) states.set(s);
  // Taken before anything writes the servers table (which drops them), used once the clients exist.
  // Only the first poll's speed depends on them: a failure to read them starts cold.
  let warm = new Map<string, unknown>();
  try {
    warm = store.takeWarmListings();
  } catch (e) {
    log.warn({ err: coerceError(e) }, "reading the warm listings failed; the first poll lists cold");
  }
  const targets = new TargetStates();
  for (const t of store.loadTargets()) targets.set(t);
  // Read per project at its first job tick, not here: restart readiness need not wait for it.
  const jobBook = new JobBook(store);
  /** `target_up` and its timestamp from the known health of every configured target (start, reload). */
  const setAllTargetHealth = () => {
    for (const t of cfg().targets) {
      const h = targets.get(t.projectId, t.cloud ?? DEFAULT_CLOUD);
      metrics.setTargetHealth(t.projectId, { up: h.up, lastSuccessAt: h.lastSuccessAt });
    }
  };
  setAllTargetHealth();
  log.info({ servers: states.size, path: cfg().state.path }, "state loaded");

  /**
   * Forgets servers no current target or shard watches (a target or id removed by a reload, a shard
   * change), and disappeared ones absent longer than `state.retention`: their series leave /metrics,
   * their rows leave the database. Their events stay until pruned.
   */
  const forgetUnwatched = () => {
    const config = cfg();
    const gone: ServerState[] = [];
    const cutoff = clock.now() - config.state.retention;
    const configuredIds = new Set(
      config.targets.flatMap((t) => (t.discover ? [] : t.serverIds.map((id) => `${t.projectId}/${id}`))),
    );
    const discoverTargets = config.targets.filter((t) => t.discover);
    for (const s of states.all()) {
      const configured = configuredIds.has(`${s.projectId}/${s.serverId}`);
      const discovered = discoverTargets.some(
        (t) => t.projectId === s.projectId && matchesTargetFilter(t, s),
      );
      const owned = ownsServer(s.serverId, config.sharding);
      const longGone = !s.present && !configured && (s.lastPollAt ?? 0) < cutoff;
      if (!owned || (!configured && !discovered) || longGone) gone.push(s);
    }
    if (gone.length === 0) return;
    store.deleteServers(gone);
    for (const s of gone) {
      states.delete(s.projectId, s.serverId);
      metrics.removeServer(s.projectId, s.serverId);
    }
    log.info({ servers: gone.length }, "stopped tracking servers no target watches");
  };
  forgetUnwatched();

  // One client per cloud: its own credentials, limiter, retries and connections (DESIGN §12).
  const makeClouds = (config: Readonly<Config>, previous?: CloudClients): CloudClients =>
    createCloudClients(
      config.clouds,
      (name, cloudConfig) =>
        createCloudClient(cloudConfig, {
          clock,
          logger: log.child({ cloud: name }),
          env: deps.env,
          onRequest: (r) => metrics.recordRequest(r.projectId, r.outcome, r.durationSeconds),
          onTokenRefresh: (outcome) => metrics.recordTokenRefresh(outcome),
        }),
      previous,
    );
  let clouds = makeClouds(cfg());
  /** The API object held for a server (what warm listings name). */
  const held = (projectId: string, serverId: string) => states.get(projectId, serverId)?.server ?? undefined;
  for (const [name, client] of clouds.byName()) {
    const listings = warm.get(name);
    if (listings !== undefined) client.seedListings(listings, held);
  }
  /** Leaves the clients' listings for the next start (after the last commit: any later write drops them). */
  const saveWarmListings = () => {
    try {
      const byCloud = new Map<string, unknown>();
      for (const [name, client] of clouds.byName()) byCloud.set(name, client.exportListings(held));
      store.saveWarmListings(byCloud);
    } catch (e) {
      // Only the next start's speed depends on it.
      log.warn({ err: coerceError(e) }, "saving the warm listings failed; the next start lists cold");
    }
  };

  // Webhooks honour HTTPS_PROXY / HTTP_PROXY / NO_PROXY like the cloud client does.
  const webhookDispatcher = createWebhookDispatcher(deps.env);
  const delivery: DeliveryService = createDeliveryService({
    store,
    getWebhooks: () => cfg().webhooks,
    clock,
    logger: log,
    dispatcher: webhookDispatcher,
    version: VERSION,
    pollIntervalMs: deps.deliveryPollIntervalMs,
    onOutcome: (webhook, outcome) => metrics.recordDelivery(webhook, outcome),
    // A webhook removed by a reload keeps its pending rows (they resume if it comes back), but no series.
    onQueue: (webhook, depth, age) => {
      if (cfg().webhooks.some((w) => w.name === webhook)) metrics.setQueue(webhook, depth, age);
    },
  });

  // Alertmanager (DESIGN §13): the alert set is derived from state, so a restart rebuilds it as it was.
  // Target health and job watching feed it through these two inputs once their state exists here.
  // A target is down for Alertmanager once its whole-target failure passed the threshold (the moment
  // target.poll_failed is emitted), from when its streak began.
  const targetAlertInputs = (): TargetAlertInput[] =>
    uniqueTargets(cfg()).flatMap(({ projectId, cloud }) => {
      const t = targets.get(projectId, cloud);
      if (!t.failingAsWhole || !t.pollFailedNotified) return [];
      return [
        {
          projectId,
          cloud: t.cloud,
          failing: true,
          since: t.downSince ?? t.lastTickAt ?? clock.now(),
          error: t.lastError,
        },
      ];
    });
  // A failed job fires ImageJobFailed for an hour after it failed (DESIGN §13), read from the store so a
  // restart fires it again; the most recent failing jobs are enough to cover that hour.
  const jobAlertInputs = (): JobAlertInput[] =>
    failedJobInputs(store.listJobs(JOB_ALERT_SCAN, { state: "failed" }), clock.now(), (key) =>
      ownsServer(key, cfg().sharding),
    );
  const alertPusher = createAlertPusher({
    alertmanagers: () => cfg().alertmanagers,
    scheduleInterval: () => cfg().schedule.interval,
    derive: (now) =>
      deriveAlerts({
        servers: states.all(),
        targets: targetAlertInputs(),
        jobs: jobAlertInputs(),
        now,
        externalURL: cfg().server.externalURL,
        stuckThresholdFor: (status) => cfg().stuck.thresholds[status],
      }),
    clock,
    timers: systemTimers,
    dispatcher: webhookDispatcher,
    logger: log.child({ component: "alertmanager" }),
    userAgent: `imagewatch/${VERSION}`,
    onPush: (name, outcome) => metrics.recordAlertmanagerPush(name, outcome),
    onFiring: (counts) => metrics.setAlertsFiring(counts),
  });

  /**
   * The per-server series of the loaded states, built once, in slices, at the first commit or the first
   * render, whichever comes first. Building them for 10,000 servers costs a few hundred ms that the
   * first poll (and so readiness) need not wait for; a render waits for them, so no scrape ever sees a
   * persisted server missing. Each server's current state is used, so a server forgotten or changed in
   * the meantime is not brought back as it was.
   */
  let seeded: Promise<void> | undefined;
  const seedServerMetrics = (): Promise<void> => {
    seeded ??= (async () => {
      let n = 0;
      for (const known of states.all()) {
        const s = states.get(known.projectId, known.serverId);
        if (s?.present) metrics.setServer(s);
        if (++n % YIELD_EVERY === 0) await yieldToLoop();
      }
    })();
    return seeded;
  };
  /** What HTTP and `App.metrics` read: renders wait until the loaded servers' series exist. */
  const exported: Metrics = {
    ...metrics,
    render: () => seedServerMetrics().then(() => metrics.render()),
    renderChunks: (options) => seedServerMetrics().then(() => metrics.renderChunks(options)),
  };

  const memory = new Map<string, TargetMemory>();
  // Metrics follow commits in order, in slices, so a 10,000-server poll does not block scrapes.
  let metricsChain: Promise<void> = Promise.resolve();
  const onCommitted: NonNullable<PollDeps["onCommitted"]> = (observed, events, transitions, target, jobs) => {
    // At once, not in the chain: target_up turns 0 with the first failing tick's commit.
    metrics.setTargetHealth(target.projectId, { up: target.up, lastSuccessAt: target.lastSuccessAt });
    metricsChain = metricsChain
      .then(seedServerMetrics)
      .then(() =>
        applyPollToMetrics(
          metrics,
          observed,
          transitions,
          jobs && { projectId: jobs.cursor.projectId, ...jobs },
        ),
      )
      .catch((e: unknown) => log.error({ err: coerceError(e) }, "metrics update failed"));
    // An alert that started or ended is pushed at once (a push failure is logged by the pusher).
    void alertPusher.refresh();
    if (events.length > 0) {
      log.info(
        {
          count: events.length,
          events: events.slice(0, 20).map((e) => ({ type: e.type, serverId: e.serverId, id: e.id })),
        },
        "events committed",
      );
      delivery.wake();
    }
  };

  const pollLog = log.child({ component: "poller" });
  // Aborted at stop when polls in flight outlive their grace (a long list under retries).
  const pollAbort = new AbortController();
  const scheduler: Scheduler = createScheduler(
    { targets: cfg().targets, interval: cfg().schedule.interval, concurrency: cfg().schedule.concurrency },
    {
      logger: log,
      poll: (target, first) =>
        pollTarget(target, {
          cloud: clouds.forTarget(target),
          store,
          states,
          targets,
          jobBook,
          clock,
          logger: pollLog,
          config: cfg,
          memory,
          onCommitted,
          force: first,
          signal: pollAbort.signal,
        }),
      clock,
      timers: deps.timers ?? systemTimers,
    },
  );
  scheduler.on("tick_error", ({ target }) => metrics.recordTickFailure(target.projectId));

  const http = createHttpServer({
    metrics: exported,
    logger: log.child({ component: "http" }),
    clock,
    getBearerToken: () => cfg().server.bearerToken,
    listServers: () => states.all().filter((s) => s.present),
    listTargets: () =>
      uniqueTargets(cfg()).map(({ projectId, cloud }) => ({
        ...targets.get(projectId, cloud),
        region: cfg().clouds[cloud]?.region ?? "",
      })),
    listEvents: (limit, filter) => store.listEvents(limit, filter),
    getEvent: (id) => store.getEvent(id),
    listJobs: (limit, filter) => store.listJobs(limit, filter),
    getServer: (projectId, serverId) => states.get(projectId, serverId),
    stuckThresholdFor: (status) => cfg().stuck.thresholds[status],
    getTls: () => cfg().server.tls,
    statusChangesSince: (since) => store.statusChangesSince(since),
    buildDurationsSince: (since) => store.buildDurationsSince(since),
    lastJobResults: (since) => store.lastJobResults(since),
    isReady: () => app.isReady(),
    reload: () => app.reload(),
    version: VERSION,
  });

  let pruneTimer: NodeJS.Timeout | undefined;
  let pruning: Promise<void> | undefined;
  let stopping = false;
  /**
   * Deletes old events, then old finished job records, in batches of PRUNE_BATCH, one transaction each,
   * letting the loop turn before each: a daemon back after weeks away may have hundreds of thousands to
   * drop, which in one go would hold scrapes and probes for seconds. One run at a time; the first begins
   * only after the tick that made the daemon ready.
   */
  const prune = (): Promise<void> => {
    pruning ??= (async () => {
      try {
        const before = clock.now() - cfg().state.retention;
        const batch = Math.max(1, deps.pruneBatch ?? PRUNE_BATCH);
        /** Runs `step` (deletes at most `batch`, returns how many) until a batch comes back short. */
        const drain = async (step: () => number): Promise<number | undefined> => {
          let total = 0;
          for (;;) {
            await yieldToLoop();
            if (stopping) return undefined; // the rest waits for the next start
            const n = step();
            total += n;
            if (n < batch) return total;
          }
        };
        const events = await drain(() => store.prune(before, batch));
        if (events === undefined) return;
        if (events > 0) log.info({ pruned: events }, "old events pruned");
        // Finished jobs age out alike (domain/jobs.ts jobRetainedSince), in each project up to its
        // latest job tick that answered (JobBook.pruneCutoffs says why); the ticks forget them too.
        let jobs = 0;
        for (const [projectId, cut] of jobBook.pruneCutoffs(before)) {
          const n = await drain(() => {
            const gone = store.pruneJobs(projectId, cut, batch);
            jobBook.forget(projectId, gone, cut);
            return gone.length;
          });
          if (n === undefined) return;
          jobs += n;
        }
        if (jobs > 0) log.info({ jobs }, "old job records pruned");
        forgetUnwatched();
      } catch (e) {
        log.error({ err: coerceError(e) }, "prune failed");
      } finally {
        pruning = undefined;
      }
    })();
    return pruning;
  };

  /** Builds what a new config needs (may throw; nothing of the running daemon is touched). */
  const prepareReload = (next: LoadedConfig): Prepared => {
    const prev = current.config;
    // The listen address and the database stay as they are until a restart.
    const loaded: LoadedConfig = {
      ...next,
      config: Object.freeze({
        ...next.config,
        server: {
          ...next.config.server,
          listen: prev.server.listen,
          host: prev.server.host,
          port: prev.server.port,
        },
        state: prev.state,
      }),
    };
    const restartNeeded =
      prev.server.listen !== next.config.server.listen || prev.state.path !== next.config.state.path;
    return { loaded, restartNeeded, clouds: makeClouds(loaded.config, clouds) };
  };

  /** Swaps in a prepared reload. Nothing here reads files or builds clients, so nothing here fails. */
  const applyReload = (next: Prepared): void => {
    for (const w of next.loaded.warnings) log.warn({ warning: w }, "config warning");
    if (next.restartNeeded) log.warn("server.listen and state.path changes take effect after a restart");
    const prevTls = current.config.server.tls;
    current = next.loaded;
    if (!isDeepStrictEqual(prevTls, current.config.server.tls) && !http.updateTls(current.config.server.tls))
      log.warn("switching between HTTP, HTTPS and mTLS takes effect after a restart");
    const retired = clouds.retiredBy(next.clouds);
    clouds = next.clouds;
    if (retired.length > 0) {
      // Polls in flight keep the old clients; close them once they are done.
      void scheduler
        .drain()
        .then(() => Promise.all(retired.map((c) => c.close())))
        .catch((e: unknown) => log.warn({ err: coerceError(e) }, "closing the previous cloud client failed"));
    }
    if (typeof log.level === "string" && log.level !== current.config.log.level)
      log.level = current.config.log.level;
    metrics.setShard(current.config.sharding.index, current.config.sharding.count);
    metrics.configure(metricsConfigOf(current.config));
    setAllTargetHealth();
    try {
      forgetUnwatched();
    } catch (e) {
      log.error({ err: coerceError(e) }, "forgetting unwatched servers failed");
    }
    jobBook.keep(new Set(current.config.targets.filter((t) => t.jobs).map((t) => t.projectId)));
    scheduler.update({
      targets: current.config.targets,
      interval: current.config.schedule.interval,
      concurrency: current.config.schedule.concurrency,
    });
    metrics.setConfigReload(true, clock.now());
    alertPusher.reconfigure();
    delivery.wake();
    log.info(
      { targets: current.config.targets.length, webhooks: current.config.webhooks.length },
      "config reloaded",
    );
  };

  const app: App = {
    metrics: exported,
    store,
    states,
    targets,
    scheduler,
    delivery,
    config: cfg,
    async start() {
      const address = await http.start(cfg().server.host, cfg().server.port);
      delivery.start();
      alertPusher.start();
      // The first prune waits for the first polls: readiness need not wait for it, and what it drops
      // (old events, servers no target watches, already left out at load) does not change a poll.
      const afterFirstPolls = scheduler.on("tick", () => {
        if (!scheduler.firstPollsDone()) return;
        afterFirstPolls();
        void prune();
      });
      scheduler.start();
      pruneTimer = setInterval(() => void prune(), 3_600_000);
      pruneTimer.unref();
      log.info({ url: address.url, targets: cfg().targets.length, version: VERSION }, "imagewatch started");
      return address;
    },
    async reload() {
      // Build and validate everything new first; swap only when all of it exists (a failed reload
      // changes nothing, whatever step failed).
      let next: Prepared;
      try {
        next = prepareReload(loadConfig(current.path, deps.env));
      } catch (e) {
        const errors =
          e instanceof ConfigError
            ? e.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message))
            : [coerceError(e).message];
        metrics.setConfigReload(false, clock.now());
        log.error({ errors }, "config reload failed; keeping the previous config");
        return { ok: false, errors };
      }
      applyReload(next);
      return { ok: true };
    },
    isReady() {
      return scheduler.firstPollsDone() && store.isWritable();
    },
    async stop() {
      stopping = true;
      if (pruneTimer) clearInterval(pruneTimer);
      const abortTimer = setTimeout(
        () => pollAbort.abort(new Error("imagewatch is stopping")),
        deps.pollStopGraceMs ?? 5000,
      );
      await scheduler.stop();
      clearTimeout(abortTimer);
      await metricsChain;
      await pruning;
      await alertPusher.stop();
      await delivery.stop(3000); // grace for deliveries in flight (ms)
      await webhookDispatcher.close();
      await http.stop();
      saveWarmListings();
      await clouds.close();
      store.close();
      log.info("imagewatch stopped");
    },
  };
  return app;
}
