import type { ServerState } from "../domain/types.js";
import { YIELD_EVERY, yieldToLoop } from "../lib/yield.js";
import type { JobMetricsInput, Metrics } from "./metrics.js";

/**
 * Brings the metrics up to date after a committed poll: counts its status changes (and times the status
 * each left), applies its job watch, and refreshes each
 * observed server's series (a gone server's series leave). Yields every few hundred servers, so a
 * 10,000-server poll never blocks a scrape for long.
 */
export async function applyPollToMetrics(
  metrics: Metrics,
  states: readonly ServerState[],
  transitions: ReadonlyArray<{ from: string; to: string; seconds?: number | undefined }>,
  jobs?: { projectId: string } & JobMetricsInput,
): Promise<void> {
  for (const t of transitions) {
    metrics.recordTransition(t.from, t.to);
    if (t.seconds !== undefined) metrics.recordStatusDuration(t.from, t.to, t.seconds);
  }
  if (jobs) metrics.applyJobs(jobs.projectId, jobs);
  let n = 0;
  for (const s of states) {
    metrics.setServer(s);
    if (++n % YIELD_EVERY === 0) await yieldToLoop();
  }
}
