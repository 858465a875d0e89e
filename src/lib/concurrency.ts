/** Runs `fn` over `items` with at most `limit` calls in flight (at least one). */
export async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/**
 * Like `Promise.all`, but waits for every promise to settle before rejecting (with the first rejection,
 * in the given order): nothing is left running behind a failure (a request still in flight after its
 * poll gave up would be sent, and counted, in the next poll's time).
 */
export async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  for (const s of settled) if (s.status === "rejected") throw s.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/**
 * `fn` over `items` with at most `limit` calls in flight (at least one), the results in the order of
 * `items`. After a call fails no new call starts; the ones in flight are waited for, then the first
 * failure (in the order of `items`) is thrown, as `settleAll` does.
 */
export async function settleLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  const failures: Array<{ index: number; reason: unknown }> = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length && failures.length === 0) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T);
      } catch (reason) {
        failures.push({ index, reason });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failures.length > 0) throw failures.reduce((a, b) => (b.index < a.index ? b : a)).reason;
  return results;
}
