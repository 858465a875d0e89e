/**
 * The outbox workers (DESIGN §1 "deliver", §6, §7): read due deliveries from the store, POST them,
 * and record the outcome. At-least-once, in order per server per webhook, at most `maxInFlight` attempts
 * per webhook at a time. The poller has already committed the events and their delivery rows; this
 * service only reads the outbox and sends.
 */
import { Agent, type Dispatcher } from "undici";
import type { WebhookConfig } from "../config/types.js";
import type { Clock } from "../lib/clock.js";
import { AppError, coerceError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import type { DueDelivery, Store } from "../store/types.js";
import { webhookFormat } from "./formats/index.js";
import { buildRequest, type WebhookRequest } from "./payload.js";
import { decideAfterAttempt } from "./retry-policy.js";
import { sendWebhookRequest } from "./send.js";

/** A delivery's outcome as `imagewatch_webhook_deliveries_total{outcome}` counts it. */
export type DeliveryOutcome = "delivered" | "retried" | "dead";

/** Dependencies of {@link createDeliveryService}. */
export interface DeliveryServiceDeps {
  store: Store;
  /** The current webhooks; called on every round, so a config reload takes effect without a restart. */
  getWebhooks: () => readonly WebhookConfig[];
  clock: Clock;
  logger: Logger;
  /** undici dispatcher for every POST; default: a new Agent owned (and closed) by the service. */
  dispatcher?: Dispatcher;
  /** [0, 1) source for the backoff jitter; default Math.random. */
  random?: () => number;
  /** imagewatch's version, for `user-agent: imagewatch/<version>`. */
  version: string;
  /** Called once per finished attempt (metrics). */
  onOutcome?: (webhook: string, outcome: DeliveryOutcome) => void;
  /** Called after each round for every configured webhook (and every webhook with pending rows). */
  onQueue?: (webhook: string, depth: number, oldestAgeSeconds: number) => void;
  /** Attempts in flight per webhook; default 4. */
  maxInFlight?: number;
  /** The outbox is re-read at least this often (ms), so a replay from another process is picked up; default 1000. */
  pollIntervalMs?: number;
}

/** The running delivery workers. */
export interface DeliveryService {
  /** Starts the loop (idempotent). */
  start(): void;
  /** Asks for a round soon (after a commit). Cheap, coalesced; a no-op once stopped. */
  wake(): void;
  /**
   * Stops taking new work, waits up to `graceMs` for attempts in flight, then aborts the rest. An aborted
   * attempt records nothing: its row stays pending with its attempt count unchanged, and is sent again on
   * the next start. Resolves once nothing in flight can touch the store any more.
   */
  stop(graceMs: number): Promise<void>;
  /** Attempts in flight right now, per webhook name. */
  inFlight(): ReadonlyMap<string, number>;
}

interface InFlight {
  eventId: string;
  controller: AbortController;
  done: Promise<void>;
}

const DEFAULT_MAX_IN_FLIGHT = 4;
const DEFAULT_POLL_INTERVAL_MS = 1000;

/** Creates the delivery workers. Nothing runs until `start()`. */
export function createDeliveryService(deps: DeliveryServiceDeps): DeliveryService {
  const { store, clock } = deps;
  const log = deps.logger.child({ component: "delivery" });
  const random = deps.random ?? Math.random;
  const maxInFlight = Math.max(1, deps.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
  const pollIntervalMs = Math.max(1, deps.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
  const ownsDispatcher = deps.dispatcher === undefined;
  const dispatcher: Dispatcher = deps.dispatcher ?? new Agent();

  /** In-flight attempts per webhook name, keyed by event id. */
  const inflight = new Map<string, Map<string, InFlight>>();
  /**
   * Retry times this service scheduled, per webhook. `store.nextDueAt` returns the earliest pending row,
   * which may be one that waits behind an earlier event of its server (or is in flight) and so is
   * already "due" without being sendable; these times let the timer wake exactly when a retry falls due.
   */
  const scheduledRetries = new Map<string, Set<number>>();

  let started = false;
  let stopped = false;
  let roundQueued = false;
  let timer: NodeJS.Timeout | undefined;

  function flightsOf(webhook: string): Map<string, InFlight> {
    let m = inflight.get(webhook);
    if (!m) {
      m = new Map();
      inflight.set(webhook, m);
    }
    return m;
  }

  function queueRound(): void {
    if (stopped || !started || roundQueued) return;
    roundQueued = true;
    setImmediate(() => {
      roundQueued = false;
      round();
    });
  }

  function armTimer(delayMs: number): void {
    if (timer) clearTimeout(timer);
    timer = setTimeout(
      () => {
        timer = undefined;
        queueRound();
      },
      Math.max(0, Math.min(delayMs, pollIntervalMs)),
    );
    // The daemon is kept alive by its HTTP server; an idle delivery timer must not hold a CLI or test open.
    timer.unref();
  }

  function round(): void {
    if (stopped) return;
    let next = pollIntervalMs;
    try {
      const now = clock.now();
      const webhooks = deps.getWebhooks();
      for (const webhook of webhooks) {
        const flights = flightsOf(webhook.name);
        const capacity = maxInFlight - flights.size;
        if (capacity > 0) {
          const exclude = new Set(flights.keys());
          for (const due of store.dueDeliveries(webhook.name, now, capacity, exclude)) {
            startAttempt(webhook, due);
          }
        }
        next = Math.min(next, nextWakeDelay(webhook.name, now));
      }
      reportQueues(webhooks, now);
    } catch (err) {
      // The loop never dies: a failing round (database busy, …) is logged and retried on the next tick.
      log.error({ err: coerceError(err) }, "delivery round failed");
    }
    armTimer(next);
  }

  /** Milliseconds until this webhook may have something to send (capped by the poll interval by the caller). */
  function nextWakeDelay(webhook: string, now: number): number {
    let delay = Number.POSITIVE_INFINITY;
    const dueAt = store.nextDueAt(webhook);
    // A due-but-not-returned row is in flight or waits behind its server's earlier event: both end with
    // an attempt finishing, which queues a round itself, or with a retry time we know below.
    if (dueAt !== null && dueAt > now) delay = dueAt - now;
    const retries = scheduledRetries.get(webhook);
    if (retries) {
      for (const at of retries) {
        if (at <= now) retries.delete(at);
        else delay = Math.min(delay, at - now);
      }
    }
    return delay;
  }

  function reportQueues(webhooks: readonly WebhookConfig[], now: number): void {
    if (!deps.onQueue) return;
    const stats = store.queueStats();
    const names = new Set<string>([...webhooks.map((w) => w.name), ...stats.keys()]);
    for (const name of names) {
      const s = stats.get(name);
      const depth = s?.depth ?? 0;
      const oldest = s?.oldestCreatedAt ?? null;
      const age = depth > 0 && oldest !== null ? Math.max(0, (now - oldest) / 1000) : 0;
      deps.onQueue(name, depth, age);
    }
  }

  function startAttempt(webhook: WebhookConfig, due: DueDelivery): void {
    const flights = flightsOf(webhook.name);
    const controller = new AbortController();
    const entry: InFlight = { eventId: due.event.id, controller, done: Promise.resolve() };
    flights.set(due.event.id, entry);
    entry.done = attempt(webhook, due, controller.signal)
      .catch((err) => {
        log.error(
          { err: coerceError(err), webhook: webhook.name, eventId: due.event.id },
          "delivery attempt failed",
        );
      })
      .finally(() => {
        flights.delete(due.event.id);
        queueRound();
      });
  }

  async function attempt(webhook: WebhookConfig, due: DueDelivery, signal: AbortSignal): Promise<void> {
    const { event, delivery } = due;
    const attempts = delivery.attempts + 1;
    const fields = { webhook: webhook.name, eventId: event.id, attempt: attempts };
    const startedAt = clock.now();

    let req: WebhookRequest;
    try {
      req = buildRequest(event, webhook, startedAt, deps.version);
    } catch (err) {
      const e = coerceError(err);
      const message = e instanceof AppError ? e.message : `cannot build request: ${e.message}`;
      store.markDead(event.id, webhook.name, attempts, message, clock.now());
      log.warn({ ...fields, status: null, reason: message }, "webhook delivery dead-lettered");
      deps.onOutcome?.(webhook.name, "dead");
      return;
    }

    const result = await sendWebhookRequest(req.url ?? webhook.url, req, {
      dispatcher,
      timeoutMs: webhook.timeout,
      signal,
    });
    if (result.kind === "aborted") {
      // Shutdown: record nothing; the row stays pending and is sent again after the restart.
      log.info({ ...fields, status: null }, "webhook delivery aborted by shutdown");
      return;
    }

    const now = clock.now();
    const status = result.kind === "response" ? result.status : null;
    if (result.kind === "response" && result.status >= 200 && result.status <= 299) {
      result.platformError = webhookFormat(webhook.format).platformError(result.body);
    }
    const decision = decideAfterAttempt({
      result,
      attempts,
      createdAt: delivery.createdAt,
      now,
      webhook,
      random,
    });
    switch (decision.action) {
      case "delivered":
        store.markDelivered(event.id, webhook.name, attempts, now);
        log.info({ ...fields, status, durationMs: Math.round(result.durationMs) }, "webhook delivered");
        deps.onOutcome?.(webhook.name, "delivered");
        return;
      case "retry": {
        store.markRetry(event.id, webhook.name, attempts, decision.nextAttemptAt, decision.error, now);
        let retries = scheduledRetries.get(webhook.name);
        if (!retries) {
          retries = new Set();
          scheduledRetries.set(webhook.name, retries);
        }
        retries.add(decision.nextAttemptAt);
        log.warn(
          {
            ...fields,
            status,
            reason: decision.error,
            nextAttemptAt: new Date(decision.nextAttemptAt).toISOString(),
          },
          "webhook delivery failed, will retry",
        );
        deps.onOutcome?.(webhook.name, "retried");
        return;
      }
      case "dead":
        store.markDead(event.id, webhook.name, attempts, decision.error, now);
        log.warn({ ...fields, status, reason: decision.error }, "webhook delivery dead-lettered");
        deps.onOutcome?.(webhook.name, "dead");
        return;
    }
  }

  function allFlights(): InFlight[] {
    return [...inflight.values()].flatMap((m) => [...m.values()]);
  }

  return {
    start() {
      if (started || stopped) return;
      started = true;
      queueRound();
    },
    wake() {
      queueRound();
    },
    async stop(graceMs) {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      const pending = allFlights();
      if (pending.length > 0) {
        let graceTimer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((resolve) => {
          graceTimer = setTimeout(resolve, Math.max(0, graceMs));
        });
        await Promise.race([Promise.allSettled(pending.map((f) => f.done)), grace]);
        clearTimeout(graceTimer);
        const left = allFlights();
        for (const f of left) f.controller.abort(new AppError("WEBHOOK_FAILED", "delivery service stopped"));
        await Promise.allSettled(left.map((f) => f.done));
      }
      if (ownsDispatcher) await dispatcher.destroy().catch(() => undefined);
    },
    inFlight() {
      const out = new Map<string, number>();
      for (const [name, m] of inflight) if (m.size > 0) out.set(name, m.size);
      return out;
    },
  };
}
