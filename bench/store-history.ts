/**
 * Benchmark (not a test): does the commit of a poll in which servers changed get dearer as the database
 * keeps history? A daemon that has run for days holds every event and delivery since the last prune;
 * the poll-cycle benchmark commits into a fresh database.
 *
 * Each commit is what a 10%-changed poll of 5,000 servers writes through the real SQLite store (a file
 * in a temp dir): 500 server states, 500 `status_changed` events (from the real `observe`, on API
 * objects completed by the simulator's own generator) and their 500 deliveries to one webhook. After
 * each commit, every new delivery is marked delivered (untimed), as a working delivery worker would.
 *
 * - baseline: the commit on a fresh database (5,000 servers just discovered, nothing else kept);
 * - candidate: the same commit on a database that already keeps HISTORY_EVENTS events and deliveries.
 *
 * Rounds alternate baseline and candidate (a new fresh database each round), so both see the same load
 * of the machine; the ratio is the median of the per-round ratios (candidate / baseline: ~1 means the
 * cost does not grow with history).
 *
 * Then the aged database is copied twice and every one of its events pruned: in one transaction
 * (`store.prune(before)`, the baseline) and as the daemon does it, PRUNE_BATCH events per transaction
 * (the candidate). The figure is the longest the loop is held: the one call, or the slowest batch.
 *
 * Run alone: `node --import tsx bench/store-history.ts`.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { PRUNE_BATCH } from "../src/app.js";
import { parseImageServer } from "../src/cloud/parse.js";
import { initialState, type ObserveConfig, observe } from "../src/domain/observe.js";
import type { DomainEvent, ServerState } from "../src/domain/types.js";
import { completeServer } from "../src/simulator/state.js";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import type { Store } from "../src/store/types.js";
import { median, PROJECT, round2, runWhenMain, serverId } from "./helpers.js";
import type { BenchResult } from "./metrics-scrape.js";

const SERVERS = 5_000;
const CHANGED_EVERY = 10;
const HISTORY_EVENTS = 50_000;
const ROUNDS = 9;
const WEBHOOK = "ops";
const T0 = Date.parse("2026-12-01T00:00:00.000Z");
const CONFIG: ObserveConfig = { thresholds: {}, repeatEvery: 0, pollFailureThreshold: 3 };

/** This benchmark's result, with the extra figures it measures. */
export interface StoreHistoryBenchResult extends BenchResult {
  historyEvents: number;
  eventsPerCommit: number;
  prune: {
    batches: number;
    oneTransactionMs: number;
    batchesTotalMs: number;
    medianBatchMs: number;
    longestBatchMs: number;
  };
  moreRows: BenchResult[];
}

/** Prunes every event of a copy of `file`, in one call or in batches; returns each call's wall ms. */
function pruneCopy(dir: string, file: string, name: string, limit?: number): number[] {
  const copy = join(dir, `${name}.db`);
  copyFileSync(file, copy);
  const store = openSqliteStore(copy);
  const times: number[] = [];
  try {
    for (;;) {
      const started = performance.now();
      const n = store.prune(Number.MAX_SAFE_INTEGER, limit);
      times.push(performance.now() - started);
      if (limit === undefined || n < limit) return times;
    }
  } finally {
    store.close();
  }
}

/** One database and the servers it holds, with the time of its next commit. */
interface Db {
  store: Store;
  states: ServerState[];
  now: number;
  round: number;
}

/** Observes each server whose index is picked, with its API object at `status`; returns what changed. */
function observeAll(db: Db, pick: (i: number) => boolean, status: (prev: ServerState) => string) {
  const servers: ServerState[] = [];
  const events: DomainEvent[] = [];
  db.states.forEach((prev, i) => {
    if (!pick(i)) return;
    const raw = completeServer(
      { id: prev.serverId, status: status(prev), update_time: new Date(db.now).toISOString() },
      prev.serverId,
      T0,
    );
    const o = observe(
      prev,
      { kind: "ok", server: parseImageServer(raw) },
      {
        projectId: PROJECT,
        serverId: prev.serverId,
        now: db.now,
        config: CONFIG,
      },
    );
    db.states[i] = o.state;
    servers.push(o.state);
    events.push(...o.events);
  });
  return { servers, events };
}

/** Commits one observation of the picked servers; returns the commit's wall ms. */
function commit(db: Db, pick: (i: number) => boolean, status: (prev: ServerState) => string): number {
  const { servers, events } = observeAll(db, pick, status);
  if (events.length !== servers.length)
    throw new Error(`${events.length} events for ${servers.length} servers`);
  const deliveries = events.map((e) => ({ eventId: e.id, webhook: WEBHOOK }));
  const started = performance.now();
  db.store.commitPoll({ servers, events, deliveries, now: db.now });
  const ms = performance.now() - started;
  for (const e of events) db.store.markDelivered(e.id, WEBHOOK, 1, db.now);
  db.now += 1_000;
  return ms;
}

/** A database with SERVERS servers discovered (and their discovered events delivered). */
function openDb(dir: string, name: string): Db {
  const states = Array.from({ length: SERVERS }, (_, i) => initialState(PROJECT, serverId(i)));
  const db: Db = { store: openSqliteStore(join(dir, `${name}.db`)), states, now: T0, round: 0 };
  commit(
    db,
    () => true,
    () => "ACTIVE",
  );
  return db;
}

/** The 10%-changed commit: every CHANGED_EVERY-th server (a different tenth each time) flips status. */
function changedCommit(db: Db): number {
  const offset = db.round++ % CHANGED_EVERY;
  return commit(
    db,
    (i) => i % CHANGED_EVERY === offset,
    (prev) => (prev.status === "ACTIVE" ? "BUILT" : "ACTIVE"),
  );
}

/** Runs the benchmark. */
export async function run(): Promise<StoreHistoryBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), "imagewatch-bench-history-"));
  try {
    const old = openDb(dir, "history");
    const perCommit = SERVERS / CHANGED_EVERY;
    while (SERVERS + old.round * perCommit < HISTORY_EVENTS) changedCommit(old);
    const fresh: number[] = [];
    const aged: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const db = openDb(dir, `fresh-${r}`);
      const f = changedCommit(db);
      db.store.close();
      const a = changedCommit(old);
      fresh.push(f);
      aged.push(a);
      ratios.push(a / f);
    }
    const historyEvents = SERVERS + old.round * perCommit;
    old.store.close(); // a clean close checkpoints the WAL into the file the copies take
    const whole = pruneCopy(dir, join(dir, "history.db"), "prune-whole");
    const batched = pruneCopy(dir, join(dir, "history.db"), "prune-batched", PRUNE_BATCH);
    const prune = {
      batches: batched.length,
      oneTransactionMs: round2(whole[0] as number),
      batchesTotalMs: round2(batched.reduce((a, b) => a + b, 0)),
      medianBatchMs: round2(median(batched)),
      longestBatchMs: round2(Math.max(...batched)),
    };
    return {
      name: "commit with history",
      baseline: {
        label: `commit of ${perCommit} changed servers on a fresh database, wall ms`,
        medianMs: round2(median(fresh)),
      },
      candidate: {
        label: `the same commit with ${historyEvents} events and deliveries kept, wall ms`,
        medianMs: round2(median(aged)),
      },
      ratio: round2(median(ratios)),
      ratioNote: "candidate / baseline (cost factor)",
      method:
        `real SQLite store on a temp file, ${SERVERS} servers, ${perCommit} status_changed events and deliveries ` +
        `per commit (every delivery then marked delivered); ${ROUNDS} rounds alternating a fresh database ` +
        "and the aged one; ratio = median of the per-round ratios",
      historyEvents,
      eventsPerCommit: perCommit,
      prune,
      moreRows: [
        {
          name: "prune, longest loop block",
          baseline: {
            label: `every one of ${historyEvents} events pruned in one transaction, wall ms`,
            medianMs: prune.oneTransactionMs,
          },
          candidate: {
            label: `the same in ${prune.batches} batches of ${PRUNE_BATCH} (as the daemon), slowest batch, wall ms`,
            medianMs: prune.longestBatchMs,
          },
          ratio: round2(prune.longestBatchMs / prune.oneTransactionMs),
          ratioNote: "candidate / baseline (longest block)",
          method:
            "two copies of the aged database; each pruned once (one run, not a median); the batches took " +
            `${prune.batchesTotalMs} ms in all, ${prune.medianBatchMs} ms the median batch`,
        },
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(import.meta.url, run);
