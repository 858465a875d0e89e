/**
 * How the daemon's V8 heap grows. By default V8 lets the old generation grow to several times what is
 * live before a full collection: at 10,000 servers (~35 MB live) a steady daemon sat at 250 MiB RSS.
 * With a growing factor of 1.3 it collects when the heap is 30 % above what survived the last full
 * collection, which keeps RSS near the live size at any fleet size (unlike a fixed
 * `--max-old-space-size`, which would crash a daemon that simply watches more servers), for a few
 * more full collections (concurrent marking, so short pauses).
 */
import { setFlagsFromString } from "node:v8";

/** The growing factor, as V8's `--heap-growing-percent` (the heap may grow 30 % past the live size). */
export const HEAP_GROWING_PERCENT = 30;

/**
 * The V8 flag to set, unless the operator chose a growing factor themselves (on node's command line or
 * in NODE_OPTIONS, where a flag of their own wins).
 */
export function heapFlag(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  const chosen = [...execArgv, ...(nodeOptions ?? "").split(/\s+/)].some((a) =>
    /^--heap[-_]growing[-_]percent\b/.test(a),
  );
  return chosen ? undefined : `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

/** Applies `heapFlag` to this process (V8 reads the factor at each full collection, so now is in time). */
export function tuneHeap(execArgv: readonly string[], nodeOptions: string | undefined): void {
  const flag = heapFlag(execArgv, nodeOptions);
  if (flag) setFlagsFromString(flag);
}
