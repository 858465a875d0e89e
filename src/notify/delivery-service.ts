/**
 * The outbox workers (DESIGN §1 "deliver", §6, §7, §10): read due deliveries from the store, POST them,
 * and record the outcome. At-least-once, in order per server per webhook. The poller has already
 * committed the events and their delivery rows; this service only reads the outbox and sends.
 *
 * A webhook whose format builds digests (chat formats, alertmanager) sends one message at a time: a newly
 * due event waits up to `group.wait` for others, then up to `group.max` (cut to the platform's size) go in
 * one message, which succeeds or fails as a whole while each row keeps its own attempts. Other webhooks
 * (`standard`) send one event per request, up to `maxInFlight` at once. Every webhook sends at most
 * `rateLimit.count` messages per `rateLimit.per` (sliding window, in memory): rows waiting for it stay
 * pending untouched. A receiver's frequency error (HTTP 429, a platform's rate-limit code) pauses the
 * whole webhook until the retry time (Retry-After when given); the rows that waited are not charged.
 */
import { Agent, type Dispatcher } from "undici";
import type { WebhookConfig } from "../config/types.js";
import type { Clock } from "../lib/clock.js";
import { AppError, coerceError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import type { DueDelivery, Store } from "../store/types.js";
import type { FormatDefaults, WebhookFormatModule } from "./formats/format.js";
import { webhookFormat } from "./formats/index.js";
import { buildMessageRequest, type WebhookRequest } from "./payload.js";
import { decideAfterDigestAttempt, isFrequencyLimit } from "./retry-policy.js";
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
  /** Requests in flight per webhook that sends one event per request; default 4 (a digest webhook: 1). */
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
  /** Requests (messages) in flight right now, per webhook name. */
  inFlight(): ReadonlyMap<string, number>;
  /**
   * Until when `webhook` waits as a whole after its receiver's frequency error (ms), or 0: while it
   * waits, its due rows stay pending and untouched.
   */
  pausedUntil(webhook: string): number;
}

interface InFlight {
  /** The events the request carries (one, or a digest's). */
  eventIds: readonly string[];
  controller: AbortController;
  done: Promise<void>;
}

/** How one webhook sends right now: its format, digest settings and rate limit (config or format defaults). */
interface SendPlan {
  /** Undefined for an unknown format (a config that bypassed the schema): its build dead-letters the rows. */
  format?: WebhookFormatModule;
  /** True when events go out as digests (one message at a time). */
  digest: boolean;
  group: FormatDefaults["group"];
  rateLimit: FormatDefaults["rateLimit"];
}

function planOf(webhook: WebhookConfig): SendPlan {
  const format = webhookFormat(webhook.format);
  const group = webhook.group ?? format.defaults.group;
  const rateLimit = webhook.rateLimit === undefined ? format.defaults.rateLimit : webhook.rateLimit;
  return { format, digest: format.buildDigest !== undefined && group.max > 1, group, rateLimit };
}

/**
 * A sliding-window log of one webhook's sends: at most `count` in any `per` ms. Sends are recorded when a
 * request starts, whatever its outcome (the receiver counts them too).
 */
class SendWindow {
  private readonly sent: number[] = [];

  /** When the next send is allowed (≤ now: at once), pruning sends older than the window. */
  freeAt(now: number, limit: { count: number; per: number } | null): number {
    if (limit === null) return now;
    while (this.sent.length > 0 && (this.sent[0] as number) <= now - limit.per) this.sent.shift();
    return this.sent.length < limit.count
      ? now
      : (this.sent[this.sent.length - limit.count] as number) + limit.per;
  }

  /** Sends still allowed at `now` (after `freeAt` pruned). */
  remaining(limit: { count: number; per: number } | null): number {
    return limit === null ? Number.POSITIVE_INFINITY : Math.max(0, limit.count - this.sent.length);
  }

  record(now: number): void {
    this.sent.push(now);
  }
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
  /** Messages sent per webhook, for its rate limit. */
  const windows = new Map<string, SendWindow>();
  /** Until when a webhook pauses as a whole after its receiver's frequency error (ms). */
  const backoffUntil = new Map<string, number>();

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

  function windowOf(webhook: string): SendWindow {
    let w = windows.get(webhook);
    if (!w) {
      w = new SendWindow();
      windows.set(webhook, w);
    }
    return w;
  }

  function round(): void {
    if (stopped) return;
    let next = pollIntervalMs;
    try {
      const now = clock.now();
      const webhooks = deps.getWebhooks();
      for (const webhook of webhooks) {
        next = Math.min(next, serve(webhook, now), nextWakeDelay(webhook.name, now));
      }
      reportQueues(webhooks, now);
    } catch (err) {
      // The loop never dies: a failing round (database busy, …) is logged and retried on the next tick.
      log.error({ err: coerceError(err) }, "delivery round failed");
    }
    armTimer(next);
  }

  /** Starts what `webhook` may send at `now`; returns ms until it may send again (Infinity: on its own). */
  function serve(webhook: WebhookConfig, now: number): number {
    let plan: SendPlan;
    try {
      plan = planOf(webhook);
    } catch {
      plan = { digest: false, group: { wait: 0, max: 1 }, rateLimit: null };
    }
    const flights = flightsOf(webhook.name);
    const window = windowOf(webhook.name);
    const blockedUntil = Math.max(backoffUntil.get(webhook.name) ?? 0, window.freeAt(now, plan.rateLimit));
    if (blockedUntil > now) return blockedUntil - now;

    if (!plan.digest) {
      const capacity = Math.min(maxInFlight - flights.size, window.remaining(plan.rateLimit));
      if (capacity <= 0) return Number.POSITIVE_INFINITY;
      const exclude = new Set([...flights.values()].flatMap((f) => f.eventIds));
      for (const due of store.dueDeliveries(webhook.name, now, capacity, exclude)) {
        window.record(now);
        startMessage(webhook, plan, [due], now);
      }
      return Number.POSITIVE_INFINITY;
    }

    // A digest webhook sends one message at a time, so a digest never overtakes the one before it.
    if (flights.size > 0) return Number.POSITIVE_INFINITY;
    const rows = store.dueDeliveries(webhook.name, now, plan.group.max);
    if (rows.length === 0) return Number.POSITIVE_INFINITY;
    // A new row waits `group.wait` for company; a retried row (or one the limit held back) goes at once.
    let sendAt = Number.POSITIVE_INFINITY;
    for (const { delivery: d } of rows) {
      sendAt = Math.min(sendAt, d.attempts > 0 ? d.nextAttemptAt : d.nextAttemptAt + plan.group.wait);
    }
    if (rows.length < plan.group.max && sendAt > now) return sendAt - now;
    window.record(now);
    startMessage(webhook, plan, rows, now);
    return Number.POSITIVE_INFINITY;
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

  /**
   * Builds the request for `rows` (cutting a digest to the platform's size: rows cut stay pending for the
   * next one) and sends it. A request that cannot be built dead-letters its rows at once.
   */
  function startMessage(webhook: WebhookConfig, plan: SendPlan, rows: DueDelivery[], now: number): void {
    let n = rows.length;
    let req: WebhookRequest;
    try {
      req = buildMessageRequest(
        rows.map((r) => r.event),
        webhook,
        now,
        deps.version,
      );
      const maxBytes = plan.format?.maxBodyBytes;
      let size = Buffer.byteLength(req.body);
      while (maxBytes !== undefined && n > 1 && size > maxBytes) {
        n = Math.max(1, Math.min(n - 1, Math.floor((n * maxBytes) / size)));
        req = buildMessageRequest(
          rows.slice(0, n).map((r) => r.event),
          webhook,
          now,
          deps.version,
        );
        size = Buffer.byteLength(req.body);
      }
    } catch (err) {
      const e = coerceError(err);
      const message = e instanceof AppError ? e.message : `cannot build request: ${e.message}`;
      for (const { event, delivery } of rows.slice(0, n)) {
        store.markDead(event.id, webhook.name, delivery.attempts + 1, message, now);
        log.warn(
          { webhook: webhook.name, eventId: event.id, status: null, reason: message },
          "webhook delivery dead-lettered",
        );
        deps.onOutcome?.(webhook.name, "dead");
      }
      return;
    }
    const sent = rows.slice(0, n);
    const flights = flightsOf(webhook.name);
    const key = sent[0]?.event.id as string;
    const controller = new AbortController();
    const entry: InFlight = { eventIds: sent.map((r) => r.event.id), controller, done: Promise.resolve() };
    flights.set(key, entry);
    entry.done = attempt(webhook, sent, req, controller.signal)
      .catch((err) => {
        log.error(
          { err: coerceError(err), webhook: webhook.name, eventIds: entry.eventIds },
          "delivery attempt failed",
        );
      })
      .finally(() => {
        flights.delete(key);
        queueRound();
      });
  }

  async function attempt(
    webhook: WebhookConfig,
    rows: DueDelivery[],
    req: WebhookRequest,
    signal: AbortSignal,
  ): Promise<void> {
    const first = rows[0] as DueDelivery;
    // One event: its id and attempt; a digest: how many events and the first one's id.
    const fields =
      rows.length === 1
        ? { webhook: webhook.name, eventId: first.event.id, attempt: first.delivery.attempts + 1 }
        : { webhook: webhook.name, eventId: first.event.id, events: rows.length };

    const result = await sendWebhookRequest(req.url ?? webhook.url, req, {
      dispatcher,
      timeoutMs: webhook.timeout,
      signal,
    });
    if (result.kind === "aborted") {
      // Shutdown: record nothing; the rows stay pending and are sent again after the restart.
      log.info({ ...fields, status: null }, "webhook delivery aborted by shutdown");
      return;
    }

    const now = clock.now();
    const status = result.kind === "response" ? result.status : null;
    if (result.kind === "response" && result.status >= 200 && result.status <= 299) {
      result.platformError = webhookFormat(webhook.format).platformError(result.body);
    }
    const decisions = decideAfterDigestAttempt({
      result,
      rows: rows.map((r) => ({ attempts: r.delivery.attempts + 1, createdAt: r.delivery.createdAt })),
      now,
      webhook,
      random,
    });
    const outcomes = { delivered: 0, retried: 0, dead: 0 };
    rows.forEach(({ event, delivery }, i) => {
      const decision = decisions[i];
      const attempts = delivery.attempts + 1;
      if (decision === undefined) return;
      switch (decision.action) {
        case "delivered":
          store.markDelivered(event.id, webhook.name, attempts, now);
          outcomes.delivered++;
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
          outcomes.retried++;
          deps.onOutcome?.(webhook.name, "retried");
          return;
        }
        case "dead":
          store.markDead(event.id, webhook.name, attempts, decision.error, now);
          outcomes.dead++;
          deps.onOutcome?.(webhook.name, "dead");
          return;
      }
    });
    const [shared] = decisions;
    if (shared?.action === "retry" && isFrequencyLimit(result)) {
      // The receiver's own limit: every row of this webhook waits, not only the ones just refused.
      backoffUntil.set(webhook.name, Math.max(backoffUntil.get(webhook.name) ?? 0, shared.nextAttemptAt));
    }
    const durationMs = Math.round(result.durationMs);
    if (outcomes.delivered > 0) {
      log.info({ ...fields, status, durationMs }, "webhook delivered");
    }
    if (outcomes.retried > 0 && shared?.action === "retry") {
      log.warn(
        {
          ...fields,
          status,
          reason: shared.error,
          nextAttemptAt: new Date(shared.nextAttemptAt).toISOString(),
        },
        "webhook delivery failed, will retry",
      );
    }
    if (outcomes.dead > 0) {
      const dead = decisions.find((d) => d.action === "dead");
      log.warn(
        { ...fields, status, reason: dead?.action === "dead" ? dead.error : "" },
        "webhook delivery dead-lettered",
      );
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
    pausedUntil(webhook) {
      const until = backoffUntil.get(webhook) ?? 0;
      return until > deps.clock.now() ? until : 0;
    },
  };
}
