/**
 * Warm listings: what a cloud client remembers of its server listings (page-memo.ts), carried from a
 * stopping daemon to the next one through the store, so the first poll after a restart recognises the
 * unchanged pages instead of parsing all of them (at 10,000 servers, 100 pages: ~250 ms of start-up).
 *
 * A page is carried as its body's digest, the API's `count` and the ids of its servers, never the
 * servers themselves: the next process takes those from the states it loaded. That is only true if
 * the stored state of each id is what the page parsed to, so a page is exported only when every one of
 * its servers is, at that moment, the very object the daemon holds as that server's state (the page
 * was parsed into, or recognised as, exactly the committed states). The store drops warm listings on
 * any write of the servers table, and a page with a server the next process does not hold is left out.
 */
import type { ImageServer } from "../domain/types.js";
import type { ListingMemo, ListingSnapshot } from "./page-memo.js";
import type { ListPage } from "./parse.js";

/** The held API object of a server, if any. */
export type HeldServer = (projectId: string, serverId: string) => ImageServer | undefined;

/** One page as carried: the API's count and its servers' ids, in the page's order. */
interface CarriedPage {
  count: number | null;
  ids: string[];
}

/** The persisted form (JSON). `v` changes if the form does; another `v` is ignored. */
export interface WarmListings {
  v: 1;
  listings: Array<ListingSnapshot<CarriedPage>>;
}

type ServerMemo = ListingMemo<ListPage, readonly ImageServer[]>;

/** The project of a listing key (`JSON.stringify([projectId, query])`, see client.ts). */
function projectOf(key: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(key);
    return Array.isArray(parsed) && typeof parsed[0] === "string" ? parsed[0] : undefined;
  } catch {
    return undefined;
  }
}

/** The pages of `memo` whose every server is the object `held` gives for its id. */
export function exportWarmListings(memo: ServerMemo, held: HeldServer): WarmListings {
  const listings = memo.snapshot<CarriedPage>((key, page) => {
    const projectId = projectOf(key);
    if (projectId === undefined) return undefined;
    const ids: string[] = [];
    for (const server of page.items) {
      if (held(projectId, server.id) !== server) return undefined;
      ids.push(server.id);
    }
    return { count: page.count ?? null, ids };
  });
  return { v: 1, listings };
}

function isCarriedPage(value: unknown): value is CarriedPage {
  if (typeof value !== "object" || value === null) return false;
  const { count, ids } = value as Record<string, unknown>;
  return (
    (count === null || (typeof count === "number" && Number.isSafeInteger(count) && count >= 0)) &&
    Array.isArray(ids) &&
    ids.every((id) => typeof id === "string")
  );
}

/** The listings of a persisted value, or none when it is not one this code wrote. */
function listingsOf(value: unknown): Array<ListingSnapshot<CarriedPage>> {
  if (typeof value !== "object" || value === null) return [];
  const { v, listings } = value as Record<string, unknown>;
  if (v !== 1 || !Array.isArray(listings)) return [];
  const out: Array<ListingSnapshot<CarriedPage>> = [];
  for (const l of listings as unknown[]) {
    if (typeof l !== "object" || l === null) continue;
    const { key, pages } = l as Record<string, unknown>;
    if (typeof key !== "string" || !Array.isArray(pages)) continue;
    const ok = (pages as unknown[]).filter(
      (p): p is ListingSnapshot<CarriedPage>["pages"][number] =>
        typeof p === "object" &&
        p !== null &&
        Number.isSafeInteger((p as { offset?: unknown }).offset) &&
        typeof (p as { digest?: unknown }).digest === "string" &&
        isCarriedPage((p as { page?: unknown }).page),
    );
    out.push({ key, pages: ok });
  }
  return out;
}

/**
 * Seeds `memo` with the pages of a persisted value (anything else is ignored): each page's servers are
 * the held objects of its ids; a page naming a server not held is left out.
 */
export function seedWarmListings(memo: ServerMemo, value: unknown, held: HeldServer): void {
  memo.seed<CarriedPage>(listingsOf(value), (key, page) => {
    const projectId = projectOf(key);
    if (projectId === undefined) return undefined;
    const items: ImageServer[] = [];
    for (const id of page.ids) {
      const server = held(projectId, id);
      if (server === undefined) return undefined;
      items.push(server);
    }
    return { count: page.count ?? undefined, items };
  });
}
