/**
 * How the daemon's V8 heap grows. Two defaults of V8 suit a short program better than a daemon that
 * holds 10,000 servers for months:
 *
 * - The old generation may grow to several times what is live before a full collection: at 10,000
 *   servers (~35 MB live) a steady daemon sat at 250 MiB RSS. With a growing factor of 1.3 it collects
 *   when the heap is 30 % above what survived the last full collection, which keeps RSS near the live
 *   size at any fleet size (unlike a fixed `--max-old-space-size`, which would crash a daemon that
 *   simply watches more servers), for a few more full collections (concurrent marking, so short pauses).
 * - The young generation doubles whenever enough survives its collections, up to two 16 MiB
 *   semi-spaces, and never shrinks while the process is busy. Loading 10,000 states at start is enough
 *   to grow it to the maximum, and a daemon polling every second is never idle: 32 MiB stay committed
 *   for a generation in which less than 1 MiB is live between polls. A growth factor of 1 keeps it at
 *   its initial size (1 MiB semi-spaces): measured at 10,000 servers, RSS 30–50 MiB lower, and no CPU
 *   cost that three alternating runs could tell from noise.
 *   Unlike `--max-semi-space-size`, which V8 reads only when it makes the heap, the growth factor is read
 *   each time the space would grow, so setting it at start takes effect.
 *
 * An operator who chose a value on node's command line or in NODE_OPTIONS keeps theirs.
 */
import { setFlagsFromString } from "node:v8";

/** The growing factor, as V8's `--heap-growing-percent` (the heap may grow 30 % past the live size). */
export const HEAP_GROWING_PERCENT = 30;

/** V8's `--semi-space-growth-factor`: 1 = the young generation stays at its initial size. */
export const SEMI_SPACE_GROWTH_FACTOR = 1;

/** Each tuning: the flag we set, and the flags by which an operator already chose that tuning. */
const TUNINGS: ReadonlyArray<{ flag: string; chosen: RegExp }> = [
  { flag: `--heap-growing-percent=${HEAP_GROWING_PERCENT}`, chosen: /^--heap[-_]growing[-_]percent\b/ },
  {
    flag: `--semi-space-growth-factor=${SEMI_SPACE_GROWTH_FACTOR}`,
    chosen: /^--(?:max[-_]|min[-_])?semi[-_]space[-_](?:size|growth[-_]factor)\b/,
  },
];

/**
 * The V8 flags to set, leaving out each tuning the operator chose themselves (on node's command line or
 * in NODE_OPTIONS, where a flag of their own wins).
 */
export function heapFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = [...execArgv, ...(nodeOptions ?? "").split(/\s+/)];
  return TUNINGS.filter((t) => !given.some((a) => t.chosen.test(a))).map((t) => t.flag);
}

/**
 * Applies `heapFlags` to this process. V8 reads the growing factor at each full collection and the
 * growth factor each time the young generation would grow, so setting them now is in time.
 */
export function tuneHeap(execArgv: readonly string[], nodeOptions: string | undefined): void {
  for (const flag of heapFlags(execArgv, nodeOptions)) setFlagsFromString(flag);
}
