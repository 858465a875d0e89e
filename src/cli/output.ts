/**
 * What the one-shot commands (`once`, `jobs`, `events list`) share: aligned columns, the stderr line of
 * a failed API call, and the clouds a command asks with, stopped by Ctrl-C.
 */
import { createCloudForCommand } from "../app.js";
import type { CloudClient } from "../cloud/client.js";
import { CloudError } from "../cloud/errors.js";
import type { Config, TargetConfig } from "../config/types.js";
import { coerceError } from "../lib/errors.js";
import { createLogger } from "../lib/logger.js";
import type { CommandContext } from "./context.js";

/** The column widths of `header` and `rows`, for {@link alignedLine}. */
export function columnWidths(header: readonly string[], rows: readonly (readonly string[])[]): number[] {
  return header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
}

/** One line of aligned columns (two spaces apart; the last column is not padded). */
export function alignedLine(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
    .join("  ")
    .trimEnd();
}

/** A header and rows as aligned columns. */
export function renderColumns(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = columnWidths(header, rows);
  return [header, ...rows].map((cells) => alignedLine(cells, widths)).join("\n");
}

/** The stderr line of a failed call: `error: CODE where: message (request id …)`. */
export function describeCallFailure(where: string, error: unknown): string {
  if (error instanceof CloudError) {
    const rid = error.requestId === undefined ? "" : ` (request id ${error.requestId})`;
    return `error: ${error.code} ${where}: ${error.message}${rid}`;
  }
  return `error: ${where}: ${coerceError(error).message}`;
}

/**
 * Runs `ask` with the clients of every configured cloud (logs to stderr, so stdout stays the command's
 * output); SIGINT or SIGTERM aborts it. The clients are closed afterwards.
 */
export async function askClouds<T>(
  ctx: CommandContext,
  config: Readonly<Config>,
  ask: (cloudFor: (target: TargetConfig) => CloudClient, signal: AbortSignal) => Promise<T>,
): Promise<{ result: T; aborted: boolean }> {
  const logger = createLogger(config.log, ctx.stderr);
  const clouds = createCloudForCommand(config, { logger, env: ctx.env });
  const controller = new AbortController();
  const offInt = ctx.onSignal("SIGINT", () => controller.abort(new Error("interrupted")));
  const offTerm = ctx.onSignal("SIGTERM", () => controller.abort(new Error("interrupted")));
  try {
    const result = await ask((target) => clouds.forTarget(target), controller.signal);
    return { result, aborted: controller.signal.aborted };
  } finally {
    offInt();
    offTerm();
    await clouds.close();
  }
}
