/**
 * `npm run bench`: runs every benchmark in sequence and prints, for each, one summary line and its
 * detailed figures (JSON), then a markdown table of all results. Nothing is written to disk: BENCHMARKS.md
 * is written by hand from a real run.
 *
 * Every benchmark measures its baseline in the same run as its candidate, talks only to 127.0.0.1 and
 * stops by itself (bounded rounds).
 */

import os from "node:os";
import { performance } from "node:perf_hooks";
import { run as runCloudClient } from "./cloud-client.js";
import { run as runDaemon } from "./daemon.js";
import { run as runDelivery } from "./delivery.js";
import { run as runJobHistory } from "./job-history.js";
import { run as runLatency } from "./latency.js";
import { run as runMetricsHttp } from "./metrics-http.js";
import { type BenchResult, run as runMetricsScrape } from "./metrics-scrape.js";
import { run as runPollCycle } from "./poll-cycle.js";
import { run as runScheduler } from "./scheduler.js";
import { run as runStatusPage } from "./status-page.js";
import { run as runStoreHistory } from "./store-history.js";

/** A benchmark's result, possibly with further rows for the summary table. */
type AnyResult = BenchResult & { moreRows?: BenchResult[] };

const BENCHES: Array<{ name: string; run: () => Promise<AnyResult> }> = [
  { name: "metrics-scrape", run: runMetricsScrape },
  { name: "cloud-client", run: runCloudClient },
  { name: "poll-cycle", run: runPollCycle },
  { name: "store-history", run: runStoreHistory },
  { name: "job-history", run: runJobHistory },
  { name: "delivery", run: runDelivery },
  { name: "status-page", run: runStatusPage },
  { name: "metrics-http", run: runMetricsHttp },
  { name: "scheduler", run: runScheduler },
  { name: "daemon", run: runDaemon },
  { name: "latency", run: runLatency },
];

function out(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** How a ratio reads: "17.4x (baseline / candidate)". */
function ratioText(r: BenchResult): string {
  return `${r.ratio}x (${r.ratioNote ?? "baseline / candidate (speed-up)"})`;
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

/** Runs every benchmark; a failing one is reported and makes the exit code 1, the others still run. */
async function main(): Promise<void> {
  out(
    `imagewatch benchmarks — node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), ` +
      `${os.platform()} ${os.release()}, load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
  );
  const rows: BenchResult[] = [];
  const t0 = performance.now();
  for (const bench of BENCHES) {
    out();
    out(`== ${bench.name}`);
    const started = performance.now();
    try {
      const result = await bench.run();
      const { moreRows = [], ...main } = result;
      for (const r of [main, ...moreRows]) {
        rows.push(r);
        out(
          `${r.name}: baseline ${r.baseline.medianMs} ms (${r.baseline.label}); candidate ` +
            `${r.candidate.medianMs} ms (${r.candidate.label}); ratio ${ratioText(r)}`,
        );
      }
      const { name: _n, baseline: _b, candidate: _c, ratio: _r, method, ratioNote: _rn, ...details } = main;
      out(`method: ${method}`);
      out(`details: ${JSON.stringify(details)}`);
      out(
        `(${bench.name} took ${((performance.now() - started) / 1000).toFixed(1)} s; load average now ` +
          `${os.loadavg()[0]?.toFixed(2)})`,
      );
    } catch (err) {
      process.exitCode = 1;
      out(`${bench.name} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  out();
  out("| benchmark | baseline | candidate | ratio | method |");
  out("|---|---|---|---|---|");
  for (const r of rows) {
    out(
      `| ${cell(r.name)} | ${r.baseline.medianMs} ms — ${cell(r.baseline.label)} | ` +
        `${r.candidate.medianMs} ms — ${cell(r.candidate.label)} | ${cell(ratioText(r))} | ${cell(r.method)} |`,
    );
  }
  out();
  out(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
