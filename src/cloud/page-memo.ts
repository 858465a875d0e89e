/**
 * What the last complete listing of each list query parsed, page by page: the SHA-256 of each page's
 * body and the value parsed from it. A page whose body is byte-for-byte what it was is the same answer,
 * so its value is reused: a steady poll of 10,000 servers parses no JSON, compares no objects, and never
 * decodes its ~150 KB bodies into strings (V8 keeps strings that large in its large-object space until
 * a full collection, which is what made a steady daemon's memory climb).
 *
 * A digest is taken of every 2xx page, chunk by chunk (~0.1 ms for 150 KB, a tenth of parsing it). A changed page, or
 * a server that orders its answers differently each time, is parsed as before.
 */
import { createHash } from "node:crypto";

/** The memo of one page of a listing (one offset). */
export interface PageMemo<T> {
  /** The value parsed last time from a body with this digest, if any. */
  recall(digest: string): T | undefined;
  /** Records what a body with this digest parsed to. */
  remember(digest: string, value: T): void;
}

/** One listing in progress: the memo of each page, kept only if the listing completes. */
export interface ListingRound<T, R> {
  page(offset: number): PageMemo<T>;
  /**
   * The previous listing's result when this one read the same pages and every one came back unchanged
   * (so its result would be the same); undefined otherwise.
   */
  unchanged(): R | undefined;
  /** The listing completed with `result`: what it read replaces what the previous one read. */
  complete(result: R): void;
}

interface Remembered<T> {
  digest: string;
  value: T;
}

interface Listing<T, R> {
  pages: Map<number, Remembered<T>>;
  /** Undefined for a listing seeded from a snapshot: its pages are recalled, its result is rebuilt. */
  result: R | undefined;
}

/** One remembered page as a snapshot: its offset, its body's digest and a description of its value. */
export interface PageSnapshot<S> {
  offset: number;
  digest: string;
  page: S;
}

/** One remembered listing as a snapshot. */
export interface ListingSnapshot<S> {
  key: string;
  pages: Array<PageSnapshot<S>>;
}

/** The SHA-256 of a body given as its chunks (base64): the chunks need not be joined first. */
export function digestOf(chunks: readonly Buffer[]): string {
  const h = createHash("sha256");
  for (const chunk of chunks) h.update(chunk);
  return h.digest("base64");
}

/**
 * The pages of the last complete listing of up to `maxListings` list queries (a query is a project and
 * its filter; the oldest is forgotten first). A listing that fails leaves the previous one in place.
 */
export class ListingMemo<T, R> {
  readonly #listings = new Map<string, Listing<T, R>>();

  constructor(private readonly maxListings = 256) {}

  /** Starts a listing of the query `key`. */
  begin(key: string): ListingRound<T, R> {
    const last = this.#listings.get(key);
    const next = new Map<number, Remembered<T>>();
    let parsed = false;
    return {
      page: (offset) => ({
        recall: (digest) => {
          const seen = last?.pages.get(offset);
          if (seen?.digest !== digest) return undefined;
          next.set(offset, seen);
          return seen.value;
        },
        remember: (digest, value) => {
          parsed = true;
          next.set(offset, { digest, value });
        },
      }),
      // Only recalled pages were read, and as many as last time: the same offsets, the same bodies.
      unchanged: () => (last && !parsed && next.size === last.pages.size ? last.result : undefined),
      complete: (result) => {
        this.#listings.delete(key);
        this.#listings.set(key, { pages: next, result });
        if (this.#listings.size > this.maxListings) {
          const oldest = this.#listings.keys().next().value;
          if (oldest !== undefined) this.#listings.delete(oldest);
        }
      },
    };
  }

  /**
   * The remembered pages, each described by `describe` (undefined leaves that page out), oldest listing
   * first; listings left with no page are left out.
   */
  snapshot<S>(describe: (key: string, value: T) => S | undefined): Array<ListingSnapshot<S>> {
    const out: Array<ListingSnapshot<S>> = [];
    for (const [key, listing] of this.#listings) {
      const pages: Array<PageSnapshot<S>> = [];
      for (const [offset, { digest, value }] of listing.pages) {
        const page = describe(key, value);
        if (page !== undefined) pages.push({ offset, digest, page });
      }
      if (pages.length > 0) out.push({ key, pages });
    }
    return out;
  }

  /**
   * Remembers the pages of `snapshots` (as `snapshot` gave them, from a previous process), each value
   * rebuilt by `revive` (undefined leaves that page out). A listing already remembered is kept as it is.
   */
  seed<S>(
    snapshots: ReadonlyArray<ListingSnapshot<S>>,
    revive: (key: string, page: S) => T | undefined,
  ): void {
    for (const { key, pages } of snapshots) {
      if (this.#listings.has(key) || this.#listings.size >= this.maxListings) continue;
      const kept = new Map<number, Remembered<T>>();
      for (const { offset, digest, page } of pages) {
        const value = revive(key, page);
        if (value !== undefined) kept.set(offset, { digest, value });
      }
      if (kept.size > 0) this.#listings.set(key, { pages: kept, result: undefined });
    }
  }

  /** How many list queries are remembered. */
  get size(): number {
    return this.#listings.size;
  }
}
