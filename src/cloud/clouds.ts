/**
 * One cloud client per named cloud (`cloud:` is `default`, `clouds:` the others): each has its own
 * endpoint, credentials and token cache, rate limiter, retries and connection pool (DESIGN §12), so
 * throttling one cloud never slows another. A target names its cloud.
 */
import { isDeepStrictEqual } from "node:util";
import { type CloudConfig, DEFAULT_CLOUD } from "../config/types.js";
import type { CloudClient } from "./client.js";

/** The clients of every configured cloud. */
export interface CloudClients {
  /** The client of a target's cloud (`default` when it names none). */
  forTarget(target: { readonly projectId: string; readonly cloud?: string | undefined }): CloudClient;
  /** Every client, by cloud name. */
  byName(): ReadonlyMap<string, CloudClient>;
  /** The clients of this set that `next` does not use (to close once polls in flight are done). */
  retiredBy(next: CloudClients): CloudClient[];
  /** Closes every client. */
  close(): Promise<void>;
}

interface Entry {
  config: CloudConfig;
  client: CloudClient;
}

const entriesOf = new WeakMap<CloudClients, ReadonlyMap<string, Entry>>();

/**
 * Creates a client per cloud with `make`. With `previous`, a cloud whose config is unchanged keeps
 * its client (and so its tokens, limiter state and connections).
 */
export function createCloudClients(
  clouds: Readonly<Record<string, CloudConfig>>,
  make: (name: string, config: CloudConfig) => CloudClient,
  previous?: CloudClients,
): CloudClients {
  const before = previous === undefined ? undefined : entriesOf.get(previous);
  const entries = new Map<string, Entry>();
  for (const [name, config] of Object.entries(clouds)) {
    const kept = before?.get(name);
    entries.set(
      name,
      kept && isDeepStrictEqual(kept.config, config) ? kept : { config, client: make(name, config) },
    );
  }
  const set: CloudClients = {
    forTarget(target) {
      const name = target.cloud ?? DEFAULT_CLOUD;
      const entry = entries.get(name);
      // The config schema checks every target's cloud, so this is a bug, not a config problem.
      if (entry === undefined) throw new Error(`no cloud named ${name}`);
      return entry.client;
    },
    byName() {
      return new Map([...entries].map(([name, e]) => [name, e.client]));
    },
    retiredBy(next) {
      const used = new Set([...(entriesOf.get(next)?.values() ?? [])].map((e) => e.client));
      return [...entries.values()].map((e) => e.client).filter((c) => !used.has(c));
    },
    async close() {
      await Promise.all([...entries.values()].map((e) => e.client.close()));
    },
  };
  entriesOf.set(set, entries);
  return set;
}
