/**
 * Warnings about a valid config that is probably wrong (DESIGN §3): a stuck threshold for a status the
 * API does not have, a threshold or interval no poll can honour, a key with no effect where it is.
 * Pure; `check-config` prints them and `run` logs them.
 */
import { KNOWN_STATUSES, TRANSITIONAL_STATUSES } from "../domain/types.js";
import { formatDuration } from "../lib/duration.js";
import type { Config } from "./types.js";

/** Statuses a stuck threshold may name without a warning: the API's, and imagewatch's own UNKNOWN. */
const STUCK_STATUSES: readonly string[] = [...KNOWN_STATUSES, "UNKNOWN"];

/** Levenshtein distance between two short strings. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost));
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** The known status closest to `name`, when it is close enough to be a typo (at most 2 edits). */
function closestStatus(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const status of STUCK_STATUSES) {
    const d = editDistance(name, status);
    if (d < bestDistance) {
      best = status;
      bestDistance = d;
    }
  }
  return best;
}

/** Warnings about targets, schedule and stuck, one line each, `path: what`. */
export function collectPollingWarnings(config: Readonly<Config>): string[] {
  const warnings: string[] = [];
  const { interval, steadyInterval } = config.schedule;
  const d = formatDuration;

  config.targets.forEach((t, i) => {
    if (t.discover) return;
    if (t.serverName !== undefined) {
      warnings.push(
        `targets[${i}].serverName: has no effect without discover: true (it filters the list discover watches)`,
      );
    }
    if (t.enterpriseProjectId !== undefined) {
      warnings.push(
        `targets[${i}].enterpriseProjectId: has no effect without discover: true (serverIds already names the servers)`,
      );
    }
  });

  if (steadyInterval < interval) {
    warnings.push(
      `schedule.steadyInterval: ${d(steadyInterval)} is shorter than schedule.interval (${d(interval)}); ` +
        "no server is polled more often than once per interval",
    );
  }

  const { repeatEvery } = config.stuck;
  if (repeatEvery > 0 && repeatEvery < interval) {
    warnings.push(
      `stuck.repeatEvery: ${d(repeatEvery)} is shorter than schedule.interval (${d(interval)}); ` +
        "a reminder can come only when a poll runs",
    );
  }

  for (const [status, threshold] of Object.entries(config.stuck.thresholds)) {
    if (!STUCK_STATUSES.includes(status)) {
      const guess = closestStatus(status);
      warnings.push(
        guess !== undefined
          ? `stuck.${status}: not a status the API has; did you mean ${guess}?`
          : `stuck.${status}: not a status the API has (it has ${KNOWN_STATUSES.join(", ")})`,
      );
      continue;
    }
    // Stuck is noticed only when a poll runs, and a server in a steady status is polled every steadyInterval.
    const transitional = TRANSITIONAL_STATUSES.has(status);
    const period = transitional ? interval : Math.max(interval, steadyInterval);
    if (threshold < period) {
      const key = transitional || period === interval ? "schedule.interval" : "schedule.steadyInterval";
      warnings.push(
        `stuck.${status}: ${d(threshold)} is shorter than ${key} (${d(period)}); ` +
          "stuck is noticed only when a poll runs",
      );
    }
  }
  return warnings;
}
