/**
 * The alerts imagewatch holds for Alertmanager (DESIGN §13), derived from state, and the tracker that
 * turns successive derivations into the postable set: firing alerts with a lease, resolved ones re-sent
 * for {@link RESOLVED_RESEND_MS} with `endsAt` = when they ended. Pure: no IO, times are arguments.
 */
import type { JobRecord } from "../domain/observe-jobs.js";
import type { PollError, ServerState } from "../domain/types.js";
import { formatHumanDuration } from "../lib/duration.js";

/** How long a resolved alert keeps being sent (ms), so every Alertmanager hears that it ended. */
export const RESOLVED_RESEND_MS = 5 * 60_000;
/** How long a failed job keeps its alert firing (ms). */
export const JOB_ALERT_MS = 60 * 60_000;

/** The alert names, in the order they are documented. */
export const ALERT_NAMES = [
  "ImageServerStuck",
  "ImageServerError",
  "ImageServerPollFailing",
  "ImagewatchTargetDown",
  "ImageJobFailed",
] as const;
/** One of {@link ALERT_NAMES}. */
export type AlertName = (typeof ALERT_NAMES)[number];

/** One alert as derived from state: its identity is its labels. */
export interface Alert {
  labels: Record<string, string>;
  annotations: { summary: string; description: string };
  /** When the condition began (ms). */
  startsAt: number;
  generatorURL?: string;
}

/**
 * A target failing as a whole (DESIGN §10). Fed by app.ts from the target-health state; defined here
 * so the derivation does not depend on where that state lives.
 */
export interface TargetAlertInput {
  projectId: string;
  cloud: string;
  failing: boolean;
  /** When the failure streak began (ms). */
  since: number;
  error: PollError | null;
}

/** A failed image job (DESIGN §11), fed by app.ts from job watching. */
export interface JobAlertInput {
  projectId: string;
  jobId: string;
  jobType: string;
  serverId: string;
  /** The server's name, "" when unknown. */
  name: string;
  /** When the job failed (ms). */
  failedAt: number;
  reason: string;
}

/**
 * The alert inputs of stored job records: every failing job (FAILED, or with a failed sub-job) this
 * replica owns (`owns`, keyed like job events: the server id, else the job id) that failed less than
 * {@link JOB_ALERT_MS} ago. A job's failure time is its end time, else when it was first seen.
 */
export function failedJobInputs(
  records: Iterable<JobRecord>,
  now: number,
  owns: (key: string) => boolean,
): JobAlertInput[] {
  const out: JobAlertInput[] = [];
  for (const r of records) {
    if (r.status !== "FAILED" && r.failures.length === 0) continue;
    const failedAt = r.endTime ?? r.firstSeenAt;
    if (now >= failedAt + JOB_ALERT_MS || !owns(r.serverId !== "" ? r.serverId : r.jobId)) continue;
    const f = r.failures[0];
    out.push({
      projectId: r.projectId,
      jobId: r.jobId,
      jobType: r.jobType,
      serverId: r.serverId,
      name: r.name,
      failedAt,
      reason: f ? [f.error_code, f.error_message].filter((x) => x !== "").join(" ") : "",
    });
  }
  return out;
}

/** Everything the alert set is derived from. */
export interface AlertInputs {
  servers: readonly ServerState[];
  targets: readonly TargetAlertInput[];
  jobs: readonly JobAlertInput[];
  now: number;
  /** `server.externalURL` (no trailing slash), for `generatorURL`. */
  externalURL?: string | undefined;
  /** The stuck threshold of a status (ms), for the description. */
  stuckThresholdFor?: (status: string) => number | undefined;
}

/** The status page of one server, or undefined without `externalURL`. */
export function serverPageURL(
  externalURL: string | undefined,
  projectId: string,
  serverId: string,
): string | undefined {
  if (externalURL === undefined) return undefined;
  return `${externalURL}/servers/${encodeURIComponent(projectId)}/${encodeURIComponent(serverId)}`;
}

function causeOf(error: PollError | null): string {
  if (error === null) return "unknown error";
  return [error.kind, error.http_status, error.error_code]
    .filter((x) => x !== undefined && x !== "")
    .join(" ");
}

/** The alerts that fire now, derived from state. Pure. */
export function deriveAlerts(input: AlertInputs): Alert[] {
  const out: Alert[] = [];
  const { now, externalURL } = input;
  for (const s of input.servers) {
    if (!s.present || s.status === null) continue;
    const name = s.name || s.serverId;
    const base = {
      severity: "warning",
      project_id: s.projectId,
      server_id: s.serverId,
      name: s.name,
      status: s.status,
    };
    const generatorURL = serverPageURL(externalURL, s.projectId, s.serverId);
    const link = generatorURL === undefined ? {} : { generatorURL };
    const inStatus = formatHumanDuration(now - s.statusSince);
    if (s.stuck) {
      const limit = input.stuckThresholdFor?.(s.status);
      out.push({
        labels: { alertname: "ImageServerStuck", ...base },
        annotations: {
          summary: `${name} stuck in ${s.status} for ${inStatus}`,
          description: `Image server ${name} (${s.serverId}) of project ${s.projectId} has been ${s.status} for ${inStatus}${limit === undefined ? "" : `, longer than its threshold of ${formatHumanDuration(limit)}`}.`,
        },
        startsAt: s.statusSince,
        ...link,
      });
    }
    if (s.status === "ERROR") {
      out.push({
        labels: { alertname: "ImageServerError", ...base, severity: "critical" },
        annotations: {
          summary: `${name} is in ERROR`,
          description: `Image server ${name} (${s.serverId}) of project ${s.projectId} has been in ERROR for ${inStatus}.`,
        },
        startsAt: s.statusSince,
        ...link,
      });
    }
    if (s.pollFailedNotified) {
      out.push({
        labels: { alertname: "ImageServerPollFailing", ...base },
        annotations: {
          summary: `${name} cannot be polled: ${causeOf(s.lastError)}`,
          description: `Polling image server ${name} (${s.serverId}) of project ${s.projectId} failed ${s.consecutiveFailures} times in a row: ${causeOf(s.lastError)}${s.lastError?.error_msg ? ` (${s.lastError.error_msg})` : ""}.`,
        },
        startsAt: s.lastSuccessAt ?? s.statusSince,
        ...link,
      });
    }
  }
  for (const t of input.targets) {
    if (!t.failing) continue;
    out.push({
      labels: {
        alertname: "ImagewatchTargetDown",
        severity: "critical",
        project_id: t.projectId,
        cloud: t.cloud,
      },
      annotations: {
        summary: `target ${t.projectId} is down: ${causeOf(t.error)}`,
        description: `No answer from the Workspace API for project ${t.projectId} (cloud ${t.cloud}) for ${formatHumanDuration(now - t.since)}: ${causeOf(t.error)}.`,
      },
      startsAt: t.since,
      ...(externalURL === undefined ? {} : { generatorURL: `${externalURL}/` }),
    });
  }
  for (const j of input.jobs) {
    if (now >= j.failedAt + JOB_ALERT_MS) continue;
    const name = j.name || j.serverId;
    const generatorURL = serverPageURL(externalURL, j.projectId, j.serverId);
    out.push({
      labels: {
        alertname: "ImageJobFailed",
        severity: "warning",
        project_id: j.projectId,
        server_id: j.serverId,
        name: j.name,
        job_id: j.jobId,
        job_type: j.jobType,
      },
      annotations: {
        summary: `${j.jobType} job of ${name} failed`,
        description: `Image job ${j.jobId} (${j.jobType}) of ${name} (${j.serverId}) failed: ${j.reason || "no reason given"}.`,
      },
      startsAt: j.failedAt,
      ...(generatorURL === undefined ? {} : { generatorURL }),
    });
  }
  return out;
}

/** An alert's identity: its labels, sorted. */
export function alertKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** One alert as `POST /api/v2/alerts` takes it (a postable alert). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/** What changed in one {@link AlertTracker.update}. */
export interface AlertChange {
  started: number;
  ended: number;
}

/**
 * The alert set over time: the firing alerts of the last derivation and the recently resolved ones.
 * An alert that disappears from the derivation ends at that moment; it is re-sent resolved for
 * {@link RESOLVED_RESEND_MS} and then forgotten.
 */
export class AlertTracker {
  private firing = new Map<string, Alert>();
  private resolved = new Map<string, { alert: Alert; endedAt: number }>();

  /** Replaces the firing set with `current` at `now`; says how many alerts started and ended. */
  update(current: readonly Alert[], now: number): AlertChange {
    const next = new Map(current.map((a) => [alertKey(a.labels), a]));
    let started = 0;
    let ended = 0;
    for (const [key, alert] of this.firing) {
      if (!next.has(key)) {
        this.resolved.set(key, { alert, endedAt: now });
        ended++;
      }
    }
    for (const key of next.keys()) {
      if (!this.firing.has(key)) started++;
      this.resolved.delete(key);
    }
    for (const [key, r] of this.resolved)
      if (now - r.endedAt >= RESOLVED_RESEND_MS) this.resolved.delete(key);
    this.firing = next;
    return { started, ended };
  }

  /** The firing alerts, for `alerts_firing{alertname}`. */
  firingAlerts(): Alert[] {
    return [...this.firing.values()];
  }

  /**
   * The whole set to post at `now`: firing alerts with `endsAt` = now + `leaseMs`, resolved ones with
   * `endsAt` = when they ended; `extraLabels` (the Alertmanager's configured `labels`) added to each.
   */
  postable(
    now: number,
    leaseMs: number,
    extraLabels: Readonly<Record<string, string>> = {},
  ): PostableAlert[] {
    const toPostable = (a: Alert, endsAt: number): PostableAlert => ({
      // An empty label value means "no such label" to Alertmanager: leave it out.
      labels: Object.fromEntries(Object.entries({ ...extraLabels, ...a.labels }).filter(([, v]) => v !== "")),
      annotations: { ...a.annotations },
      startsAt: new Date(a.startsAt).toISOString(),
      endsAt: new Date(endsAt).toISOString(),
      ...(a.generatorURL === undefined ? {} : { generatorURL: a.generatorURL }),
    });
    const out: PostableAlert[] = [];
    for (const a of this.firing.values()) out.push(toPostable(a, now + leaseMs));
    for (const r of this.resolved.values()) {
      if (now - r.endedAt < RESOLVED_RESEND_MS)
        out.push(toPostable(r.alert, Math.max(r.endedAt, r.alert.startsAt)));
    }
    return out;
  }
}

/** The lease of a firing alert (DESIGN §13): 4 × max(resendEvery, schedule.interval). */
export function leaseMs(resendEvery: number, scheduleInterval: number): number {
  return 4 * Math.max(resendEvery, scheduleInterval);
}
