import type { ServerState } from "../domain/types.js";
import { YIELD_EVERY, yieldToLoop } from "../lib/yield.js";
import type { Metrics } from "./metrics.js";

/**
 * Brings the metrics up to date after a committed poll: counts its status changes and refreshes each
 * observed server's series (a gone server's series leave). Yields every few hundred servers, so a
 * 10,000-server poll never blocks a scrape for long.
 */
export async function applyPollToMetrics(
  metrics: Metrics,
  states: readonly ServerState[],
  transitions: ReadonlyArray<{ from: string; to: string }>,
): Promise<void> {
  for (const t of transitions) metrics.recordTransition(t.from, t.to);
  let n = 0;
  for (const s of states) {
    metrics.setServer(s);
    if (++n % YIELD_EVERY === 0) await yieldToLoop();
  }
}
