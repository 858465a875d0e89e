/**
 * Pushes the alert set to every configured Alertmanager (DESIGN §13), as Prometheus does: the whole set
 * every `resendEvery`, and at once when an alert starts or ends. A failed push is counted and logged; the
 * next one carries the whole set again, so nothing needs an outbox.
 */
import type { Dispatcher } from "undici";
import type { AlertmanagerConfig } from "../config/types.js";
import type { Clock, TimerHandle, Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { sendWebhookRequest } from "../notify/send.js";
import {
  ALERT_NAMES,
  type Alert,
  type AlertName,
  AlertTracker,
  leaseMs,
  type PostableAlert,
} from "./alert-set.js";

/** The outcomes of `alertmanager_pushes_total`. */
export const PUSH_OUTCOMES = ["success", "failure"] as const;
/** One of {@link PUSH_OUTCOMES}. */
export type PushOutcome = (typeof PUSH_OUTCOMES)[number];

/** What one push got back. */
export type PushResult =
  | { ok: true; status: number; body: string; alerts: number }
  | { ok: false; status?: number; body?: string; error: string; alerts: number };

/** POSTs `alerts` to `{am.url}/api/v2/alerts` once. Never throws; never reports the URL or headers. */
export async function postAlerts(
  am: AlertmanagerConfig,
  alerts: readonly PostableAlert[],
  deps: { dispatcher: Dispatcher; userAgent: string; signal?: AbortSignal },
): Promise<PushResult> {
  const result = await sendWebhookRequest(
    `${am.url}/api/v2/alerts`,
    {
      body: JSON.stringify(alerts),
      headers: { ...am.headers, "content-type": "application/json", "user-agent": deps.userAgent },
    },
    { dispatcher: deps.dispatcher, timeoutMs: am.timeout, ...(deps.signal ? { signal: deps.signal } : {}) },
  );
  const n = alerts.length;
  switch (result.kind) {
    case "response":
      return result.status >= 200 && result.status <= 299
        ? { ok: true, status: result.status, body: result.body, alerts: n }
        : { ok: false, status: result.status, body: result.body, error: `HTTP ${result.status}`, alerts: n };
    case "timeout":
      return { ok: false, error: `timeout after ${result.timeoutMs} ms`, alerts: n };
    case "network":
      return { ok: false, error: result.message, alerts: n };
    case "aborted":
      return { ok: false, error: "aborted", alerts: n };
  }
}

/** A test alert that fires for 5 minutes from `now`: `alertname=ImagewatchTest`. */
export function testAlert(now: number, labels: Readonly<Record<string, string>> = {}): PostableAlert {
  return {
    labels: { ...labels, alertname: "ImagewatchTest", severity: "none" },
    annotations: {
      summary: "test alert from imagewatch",
      description: "Sent by `imagewatch alertmanager test`: this Alertmanager is configured correctly.",
    },
    startsAt: new Date(now).toISOString(),
    endsAt: new Date(now + 5 * 60_000).toISOString(),
  };
}

/** What the pusher needs. */
export interface AlertPusherDeps {
  /** The current `alertmanagers:` (re-read at every push). */
  alertmanagers(): readonly AlertmanagerConfig[];
  /** The current `schedule.interval` (ms), for the lease. */
  scheduleInterval(): number;
  /** The alerts firing now, derived from state. */
  derive(now: number): Alert[];
  clock: Clock;
  timers: Timers;
  dispatcher: Dispatcher;
  logger: Logger;
  userAgent: string;
  /** Counts one push (`alertmanager_pushes_total`). */
  onPush?(alertmanager: string, outcome: PushOutcome): void;
  /** The firing alerts per name after every update (`alerts_firing`). */
  onFiring?(counts: ReadonlyMap<AlertName, number>): void;
}

/** The running pusher. */
export interface AlertPusher {
  /** Derives the set and pushes it to every Alertmanager now, then every `resendEvery`. */
  start(): void;
  /**
   * Derives the set again (after a commit); when an alert started or ended, pushes to every Alertmanager
   * at once. Resolves when those pushes are done.
   */
  refresh(): Promise<void>;
  /** Follows a reload: timers for added and removed Alertmanagers. */
  reconfigure(): void;
  /** Stops the timers and waits for pushes in flight. */
  stop(): Promise<void>;
}

/** Creates the pusher (idle until `start`). */
export function createAlertPusher(deps: AlertPusherDeps): AlertPusher {
  const tracker = new AlertTracker();
  const timers = new Map<string, TimerHandle>();
  const chains = new Map<string, Promise<void>>();
  const queued = new Set<string>();
  let running = false;

  const update = (): boolean => {
    const now = deps.clock.now();
    const change = tracker.update(deps.derive(now), now);
    if (deps.onFiring) {
      const counts = new Map<AlertName, number>(ALERT_NAMES.map((n) => [n, 0]));
      for (const a of tracker.firingAlerts()) {
        const name = a.labels.alertname as AlertName;
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
      deps.onFiring(counts);
    }
    return change.started > 0 || change.ended > 0;
  };

  const pushOnce = async (name: string): Promise<void> => {
    const am = deps.alertmanagers().find((a) => a.name === name);
    if (am === undefined) return;
    const now = deps.clock.now();
    const alerts = tracker.postable(now, leaseMs(am.resendEvery, deps.scheduleInterval()), am.labels);
    const result = await postAlerts(am, alerts, { dispatcher: deps.dispatcher, userAgent: deps.userAgent });
    deps.onPush?.(name, result.ok ? "success" : "failure");
    if (result.ok) deps.logger.debug({ alertmanager: name, alerts: alerts.length }, "alerts pushed");
    else
      deps.logger.warn(
        { alertmanager: name, alerts: alerts.length, error: result.error },
        "alert push failed; the next push carries the whole set",
      );
  };

  /** Queues one push to `name` after any in flight; a push already queued covers this one too. */
  const push = (name: string): Promise<void> => {
    const prev = chains.get(name) ?? Promise.resolve();
    if (queued.has(name)) return prev;
    queued.add(name);
    const next = prev.then(() => {
      queued.delete(name);
      return pushOnce(name);
    });
    chains.set(name, next);
    return next;
  };

  const schedule = (am: AlertmanagerConfig): void => {
    const old = timers.get(am.name);
    if (old !== undefined) deps.timers.clearTimeout(old);
    timers.set(
      am.name,
      deps.timers.setTimeout(() => {
        timers.delete(am.name);
        if (!running) return;
        update();
        void push(am.name).finally(() => {
          const current = deps.alertmanagers().find((a) => a.name === am.name);
          if (running && current && !timers.has(am.name)) schedule(current);
        });
      }, am.resendEvery),
    );
  };

  const pushAll = async (): Promise<void> => {
    const ams = deps.alertmanagers();
    await Promise.all(
      ams.map(async (am) => {
        const p = push(am.name);
        schedule(am);
        await p;
      }),
    );
  };

  return {
    start() {
      running = true;
      update();
      void pushAll();
    },
    async refresh() {
      if (!running) return;
      if (update()) await pushAll();
    },
    reconfigure() {
      if (!running) return;
      const names = new Set(deps.alertmanagers().map((a) => a.name));
      for (const [name, handle] of timers) {
        if (!names.has(name)) {
          deps.timers.clearTimeout(handle);
          timers.delete(name);
        }
      }
      for (const am of deps.alertmanagers())
        if (!timers.has(am.name)) void push(am.name).then(() => schedule(am));
    },
    async stop() {
      running = false;
      for (const handle of timers.values()) deps.timers.clearTimeout(handle);
      timers.clear();
      await Promise.all(chains.values());
    },
  };
}
