/**
 * The SQLite implementation of {@link Store} (DESIGN §7), on better-sqlite3 (synchronous, one
 * connection per process).
 *
 * Durability: WAL with `synchronous = NORMAL`. A commit is appended to the WAL with write() before
 * `commitPoll` returns, so it survives a crash or `kill -9` of the process; only a power loss or kernel
 * crash can drop the last few commits (never corrupt the file). That loss is safe here: event ids are
 * derived from content, so the next poll re-derives a lost event with the same id, and a lost
 * `markDelivered` means one duplicate delivery that receivers drop by id (at-least-once either way).
 * FULL would fsync every commit and every delivery mark for no gain in those guarantees. Checkpoints
 * (copying the WAL into the file, with an fsync) run every {@link WAL_AUTOCHECKPOINT_PAGES} pages rather
 * than SQLite's 1,000: how often they run does not change what a commit guarantees.
 *
 * Concurrency: the daemon and `imagewatch events replay`/`events list` may open the same file at once; WAL
 * lets a reader run beside the writer and `busy_timeout` makes a writer wait for the other's lock.
 * `events list` opens it read-only (`readOnly`), so it never takes the write lock.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { JobCursor, JobRecord } from "../domain/observe-jobs.js";
import type { TargetState } from "../domain/target-health.js";
import type { DomainEvent, EventType, ServerState } from "../domain/types.js";
import { type Clock, systemClock } from "../lib/clock.js";
import { AppError, coerceError } from "../lib/errors.js";
import { createSilentLogger, type Logger } from "../lib/logger.js";
import { migrate, readSchemaVersion, SCHEMA_VERSION } from "./migrations.js";
import { jobResultOf } from "./page-data.js";
import { toStoredJson } from "./stored-json.js";
import type {
  DeliveryRecord,
  DeliveryState,
  DueDelivery,
  EventFilter,
  EventWithDeliveries,
  JobResult,
  PollCommit,
  ReplayedDelivery,
  Store,
  StoredEvent,
} from "./types.js";

/** A `limit` argument as SQLite's LIMIT takes it: -1 (all) when omitted, else a whole number ≥ 0. */
function sqlLimit(limit: number | undefined): number {
  return limit === undefined ? -1 : Math.max(0, Math.floor(limit));
}

/** How long a statement waits for another connection's write lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

/** The most of the file `whileMapped` maps (SQLite reads the rest as usual). */
const SCAN_MMAP_BYTES = 1 << 30;

/** What the SQLite store may be given. */
export interface SqliteStoreDeps {
  /** Stamps the readiness probe's write; defaults to the system clock. */
  clock?: Clock;
  logger?: Logger;
  /**
   * Opens an existing file read-only (for `imagewatch events list` beside a running daemon): nothing is
   * written, not even a migration; the file must exist and hold this code's schema version. Every write
   * method then throws STORE_ERROR.
   */
  readOnly?: boolean;
}

interface EventRow {
  seq: number;
  id: string;
  type: string;
  occurred_at: number;
  project_id: string;
  server_id: string;
  data: string;
}

interface DeliveryRow {
  event_id: string;
  webhook: string;
  state: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

type DueRow = DeliveryRow & {
  e_seq: number;
  e_type: string;
  e_occurred_at: number;
  e_project_id: string;
  e_server_id: string;
  e_data: string;
};

/**
 * Opens (creating if needed) the SQLite store at `file`, or an in-memory one for `":memory:"`, and brings
 * its schema up to {@link SCHEMA_VERSION}. Parent directories are created.
 *
 * Throws `AppError`:
 * - `STORE_CORRUPT` when the file is not a SQLite database, is damaged (`PRAGMA quick_check` fails), or
 *   holds tables but no imagewatch schema version (someone else's database);
 * - `STORE_SCHEMA_NEWER` when its schema version is above this code's (written by a newer imagewatch);
 * - `STORE_ERROR` for anything else (permissions, a directory in the way, a failed migration).
 * In the first two cases the file is left byte for byte as it was.
 */
export function openSqliteStore(file: string, deps: SqliteStoreDeps = {}): Store {
  const logger = (deps.logger ?? createSilentLogger()).child({ component: "store" });
  const clock = deps.clock ?? systemClock;
  const readOnly = deps.readOnly === true;
  const db = openDatabase(file, readOnly);
  try {
    if (readOnly) checkReadOnlySchema(db, file);
    else prepareSchema(db, file, logger);
  } catch (err) {
    db.close();
    throw err;
  }
  return createSqliteStore(db, file, clock, logger);
}

/**
 * Opens the store at `file`, runs `fn` on it and closes it, even when `fn` throws. For one-shot commands
 * such as `imagewatch events replay`, which may run while the daemon holds the same file open.
 */
export function withSqliteStore<T>(file: string, fn: (store: Store) => T, deps: SqliteStoreDeps = {}): T {
  const store = openSqliteStore(file, deps);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

function openDatabase(file: string, readOnly: boolean): Database.Database {
  try {
    if (readOnly)
      return new Database(file, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    return new Database(file, { timeout: BUSY_TIMEOUT_MS });
  } catch (err) {
    throw storeOpenError(file, err);
  }
}

/** Checks what the file holds (reads only), then sets the connection up and migrates. */
function prepareSchema(db: Database.Database, file: string, logger: Logger): void {
  let version: number;
  let hasTables: boolean;
  try {
    // Reads first: nothing may be written to a file we are about to refuse (journal_mode = WAL writes
    // the header).
    version = readSchemaVersion(db);
    hasTables = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' LIMIT 1").get() !== undefined;
    // A damaged file is refused now rather than failing mid-run. quick_check reads every page once
    // but skips the index-content cross-check of integrity_check.
    const problems = quickCheck(db);
    const first = problems[0]?.quick_check;
    if (first !== undefined && first !== "ok") throw damagedError(file, first);
  } catch (err) {
    throw storeOpenError(file, err);
  }
  if (version > SCHEMA_VERSION) {
    throw new AppError(
      "STORE_SCHEMA_NEWER",
      `store ${file} has schema version ${version}, above ${SCHEMA_VERSION}: written by a newer imagewatch; refusing to downgrade`,
    );
  }
  if (version === 0 && hasTables) {
    throw new AppError(
      "STORE_CORRUPT",
      `store ${file} is a SQLite database but not an imagewatch one (it has tables and no schema version); refusing to modify it`,
    );
  }
  try {
    configureConnection(db);
    migrate(db, logger);
  } catch (err) {
    throw storeOpenError(file, err);
  }
}

/**
 * Runs a scan of many pages with the file memory-mapped: through the map a page costs a fraction of the
 * read() it would otherwise be (the 4 MiB page cache holds few of them). The map is dropped afterwards,
 * so its pages leave the daemon's RSS and the running daemon reads and writes as before. Only for the
 * start-up scans: an I/O error on a mapped page would be a signal, not an error the store can report.
 */
function whileMapped<T>(db: Database.Database, scan: () => T): T {
  db.pragma(`mmap_size = ${SCAN_MMAP_BYTES}`);
  try {
    return scan();
  } finally {
    db.pragma("mmap_size = 0");
  }
}

/**
 * `PRAGMA quick_check`, mapped: the check reads every page (60 MB at 10,000 servers), and through the
 * map that costs a third of the CPU of one read() per page.
 */
function quickCheck(db: Database.Database): Array<{ quick_check: string }> {
  return whileMapped(db, () => db.pragma("quick_check", { simple: false }) as Array<{ quick_check: string }>);
}

/**
 * WAL pages after which a commit checkpoints them into the database file (SQLite's default: 1,000). A
 * poll in which 10 % of 5,000 servers change writes ~1,100 pages (each changed state row and the
 * event and delivery index pages it touches); at the default nearly every such commit would copy its
 * pages into the file again and fsync twice. At 4,000 (16 MiB of WAL at most, beyond one commit's
 * overshoot) one checkpoint serves several commits, and pages they share (the same index pages, state
 * rows next to each other) are copied once.
 */
export const WAL_AUTOCHECKPOINT_PAGES = 4000;

/**
 * SQLite's page cache per connection, in KiB. better-sqlite3 builds SQLite with 16 MiB, which a daemon
 * at 10,000 servers fills (its database is larger) and keeps in its own memory, while the same pages
 * sit in the kernel's file cache anyway. A poll's commit touches few pages per changed server (its row,
 * the right edge of each index), so a smaller cache costs reads of cached file pages, not disk: measured,
 * a few ms more per commit of a poll in which 500 of 5,000 servers changed.
 */
export const PAGE_CACHE_KIB = 4096;

/**
 * Sets a writable connection up: WAL, `synchronous = NORMAL` (see the module comment), foreign keys,
 * the checkpoint threshold ({@link WAL_AUTOCHECKPOINT_PAGES}) and the page cache
 * ({@link PAGE_CACHE_KIB}). Per connection: nothing is stored.
 */
export function configureConnection(db: Database.Database): void {
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
}

/** A read-only open cannot migrate: the file must already be at this code's schema version. */
function checkReadOnlySchema(db: Database.Database, file: string): void {
  let version: number;
  try {
    version = readSchemaVersion(db);
  } catch (err) {
    throw storeOpenError(file, err);
  }
  if (version > SCHEMA_VERSION) {
    throw new AppError(
      "STORE_SCHEMA_NEWER",
      `store ${file} has schema version ${version}, above ${SCHEMA_VERSION}: written by a newer imagewatch`,
    );
  }
  if (version < SCHEMA_VERSION) {
    throw new AppError(
      "STORE_ERROR",
      version === 0
        ? `store ${file} holds no imagewatch schema`
        : `store ${file} has schema version ${version}, below ${SCHEMA_VERSION}: start the daemon once to migrate it`,
    );
  }
}

/** The state file is a SQLite database whose pages are damaged. */
function damagedError(file: string, detail: string, cause?: Error): AppError {
  return new AppError(
    "STORE_CORRUPT",
    `state file ${file} is damaged (${detail}): restore it from a backup or move it aside to start fresh`,
    cause === undefined ? {} : { cause },
  );
}

/** STORE_CORRUPT naming `file` when `err` is SQLite reporting a damaged or foreign file, else undefined. */
function corruptionError(file: string, e: Error): AppError | undefined {
  const code = sqliteCode(e);
  if (code === "SQLITE_NOTADB") {
    return new AppError(
      "STORE_CORRUPT",
      `store ${file} is not a valid SQLite database (${e.message}); refusing to replace it — move it away or point state.path elsewhere`,
      { cause: e },
    );
  }
  if (code?.startsWith("SQLITE_CORRUPT")) return damagedError(file, e.message, e);
  return undefined;
}

/** Classifies an error met while opening: corruption vs. anything else. */
function storeOpenError(file: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = coerceError(err);
  const corrupt = corruptionError(file, e);
  if (corrupt !== undefined) return corrupt;
  const code = sqliteCode(e);
  return new AppError("STORE_ERROR", `cannot open store ${file}: ${e.message}`, {
    cause: e,
    retryable: isBusy(code),
  });
}

function sqliteCode(err: Error): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

function isBusy(code: string | undefined): boolean {
  return code?.startsWith("SQLITE_BUSY") === true || code?.startsWith("SQLITE_LOCKED") === true;
}

/**
 * Wraps a failure of one store operation: `STORE_CORRUPT` naming the file when SQLite finds it damaged,
 * else `STORE_ERROR` (retryable when it was lock contention).
 */
function guard<T>(file: string, op: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AppError) throw err;
    const e = coerceError(err);
    const corrupt = corruptionError(file, e);
    if (corrupt !== undefined) throw corrupt;
    throw new AppError("STORE_ERROR", `store ${op} failed: ${e.message}`, {
      cause: e,
      retryable: isBusy(sqliteCode(e)),
    });
  }
}

function toEvent(
  seq: number,
  id: string,
  type: string,
  occurredAt: number,
  projectId: string,
  serverId: string,
  data: string,
): StoredEvent {
  return {
    seq,
    id,
    type: type as EventType,
    occurredAt,
    projectId,
    serverId,
    data: JSON.parse(data) as DomainEvent["data"],
  };
}

function toDelivery(r: DeliveryRow): DeliveryRecord {
  return {
    eventId: r.event_id,
    webhook: r.webhook,
    state: r.state as DeliveryState,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const DELIVERY_COLUMNS =
  "d.event_id, d.webhook, d.state, d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.updated_at";

/**
 * The due-deliveries query (exported so a test can show its plan seeks indexes only). Due, oldest commit
 * first; a delivery waits while an earlier one of its server is still pending for this webhook (in
 * flight, backing off or due). Excluded (in-flight) ids are skipped but still block. The literal
 * 'pending' lets SQLite use the partial indexes.
 */
export const DUE_DELIVERIES_SQL = `SELECT ${DELIVERY_COLUMNS},
            e.seq AS e_seq, e.type AS e_type, e.occurred_at AS e_occurred_at,
            e.project_id AS e_project_id, e.server_id AS e_server_id, e.data AS e_data
       FROM deliveries d INDEXED BY deliveries_pending_seq
       JOIN events e ON e.seq = d.event_seq
      WHERE d.webhook = @webhook AND d.state = 'pending' AND d.next_attempt_at <= @now
        AND d.event_id NOT IN (SELECT value FROM json_each(@exclude))
        AND NOT EXISTS (
              SELECT 1 FROM deliveries p
               WHERE p.webhook = d.webhook AND p.state = 'pending'
                 AND p.project_id = d.project_id AND p.server_id = d.server_id
                 AND p.event_seq < d.event_seq)
      ORDER BY d.event_seq
      LIMIT @limit`;

function createSqliteStore(db: Database.Database, file: string, clock: Clock, logger: Logger): Store {
  // Every statement is prepared once, here.
  const selectServers = db.prepare<[], { state: string }>(
    "SELECT state FROM servers ORDER BY project_id, server_id",
  );
  const upsertServer = db.prepare<[string, string, string]>(
    `INSERT INTO servers (project_id, server_id, state) VALUES (?, ?, ?)
     ON CONFLICT (project_id, server_id) DO UPDATE SET state = excluded.state`,
  );
  const selectTargets = db.prepare<[], { state: string }>(
    "SELECT state FROM targets ORDER BY project_id, cloud",
  );
  const upsertTarget = db.prepare<[string, string, string]>(
    `INSERT INTO targets (project_id, cloud, state) VALUES (?, ?, ?)
     ON CONFLICT (project_id, cloud) DO UPDATE SET state = excluded.state`,
  );
  const deleteServer = db.prepare<[string, string]>(
    "DELETE FROM servers WHERE project_id = ? AND server_id = ?",
  );
  const selectWarm = db.prepare<[], { cloud: string; data: string }>("SELECT cloud, data FROM warm_listings");
  const insertWarm = db.prepare<[string, string]>("INSERT INTO warm_listings (cloud, data) VALUES (?, ?)");
  // Run by every transaction that writes or deletes server rows (a no-op on the empty table while a
  // daemon runs): warm listings name server states and are only true of the states they were saved with.
  const dropWarm = db.prepare("DELETE FROM warm_listings");
  const saveWarmTx = db.transaction((byCloud: ReadonlyMap<string, unknown>) => {
    dropWarm.run();
    for (const [cloud, data] of byCloud) insertWarm.run(cloud, JSON.stringify(data));
  });
  const takeWarmTx = db.transaction(() => {
    const rows = selectWarm.all();
    dropWarm.run();
    return rows;
  });
  const deleteServersTx = db.transaction((keys: ReadonlyArray<{ projectId: string; serverId: string }>) => {
    dropWarm.run();
    let n = 0;
    for (const k of keys) n += deleteServer.run(k.projectId, k.serverId).changes;
    return n;
  });
  const insertEvent = db.prepare<[string, string, number, string, string, string]>(
    // ON CONFLICT DO NOTHING, not INSERT OR IGNORE: OR IGNORE would also silently skip a row that breaks
    // NOT NULL or CHECK, where we want the whole poll to fail.
    `INSERT INTO events (id, type, occurred_at, project_id, server_id, data)
     VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO NOTHING`,
  );
  const insertDelivery = db.prepare<[string, string, number, number, number, number, string, string]>(
    `INSERT INTO deliveries
       (event_id, webhook, state, attempts, next_attempt_at, last_error, created_at, updated_at,
        event_seq, project_id, server_id)
     VALUES (?, ?, 'pending', 0, ?, NULL, ?, ?, ?, ?, ?)
     ON CONFLICT (event_seq, webhook) DO NOTHING`,
  );
  const selectDue = db.prepare<{ webhook: string; now: number; exclude: string; limit: number }, DueRow>(
    DUE_DELIVERIES_SQL,
  );
  const selectNextDue = db.prepare<[string], { next: number | null }>(
    "SELECT MIN(next_attempt_at) AS next FROM deliveries WHERE webhook = ? AND state = 'pending'",
  );
  const updateDelivered = db.prepare<[number, number, string, string]>(
    `UPDATE deliveries SET state = 'delivered', attempts = ?, updated_at = ?
      WHERE event_seq = (SELECT seq FROM events WHERE id = ?) AND webhook = ?`,
  );
  const updateRetry = db.prepare<[number, number, string, number, string, string]>(
    `UPDATE deliveries SET state = 'pending', attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ?
      WHERE event_seq = (SELECT seq FROM events WHERE id = ?) AND webhook = ?`,
  );
  const updateDead = db.prepare<[number, string, number, string, string]>(
    `UPDATE deliveries SET state = 'dead', attempts = ?, last_error = ?, updated_at = ?
      WHERE event_seq = (SELECT seq FROM events WHERE id = ?) AND webhook = ?`,
  );
  // A replayed delivery re-enters the queue as new: attempts, error and createdAt restart, so the
  // worker's maxAge and the queue-age metric count from the replay, not from the original event.
  const requeueFinished = db.prepare<{ eventId: string; webhook: string; now: number }>(
    `UPDATE deliveries
        SET state = 'pending', attempts = 0, last_error = NULL, next_attempt_at = @now,
            created_at = @now, updated_at = @now
      WHERE event_seq = (SELECT seq FROM events WHERE id = @eventId) AND webhook = @webhook AND state IN ('dead', 'delivered')`,
  );
  // A pending delivery is already queued: it only becomes due now, keeping its attempts and age.
  const requeuePending = db.prepare<{ eventId: string; webhook: string; now: number }>(
    `UPDATE deliveries SET next_attempt_at = @now, updated_at = @now
      WHERE event_seq = (SELECT seq FROM events WHERE id = @eventId) AND webhook = @webhook AND state = 'pending'`,
  );
  const selectPendingStats = db.prepare<[], { webhook: string; depth: number; oldest: number | null }>(
    `SELECT webhook, COUNT(*) AS depth, MIN(created_at) AS oldest
       FROM deliveries WHERE state = 'pending' GROUP BY webhook`,
  );
  // DISTINCT by skip-scan: one index seek per webhook instead of a scan of every delivery row kept.
  const selectWebhooks = db.prepare<[], { webhook: string }>(
    `WITH RECURSIVE w (webhook) AS (
       SELECT MIN(webhook) FROM deliveries
       UNION ALL
       SELECT (SELECT MIN(webhook) FROM deliveries WHERE webhook > w.webhook) FROM w WHERE w.webhook IS NOT NULL)
     SELECT webhook FROM w WHERE webhook IS NOT NULL`,
  );
  const selectEventById = db.prepare<[string], EventRow>(
    "SELECT seq, id, type, occurred_at, project_id, server_id, data FROM events WHERE id = ?",
  );
  const selectStatusChanges = db.prepare<
    [number],
    {
      project_id: string;
      server_id: string;
      occurred_at: number;
      prev: string | null;
      prev_s: number | null;
      status: string | null;
    }
  >(
    `SELECT project_id, server_id, occurred_at,
            json_extract(data, '$.previous_status') AS prev, json_extract(data, '$.status') AS status,
            json_extract(data, '$.previous_status_duration_seconds') AS prev_s
       FROM events WHERE occurred_at >= ? AND type = 'image_server.status_changed'
      ORDER BY occurred_at, seq`,
  );
  const selectBuildDurations = db.prepare<[number], { d: number }>(
    `SELECT json_extract(data, '$.previous_status_duration_seconds') AS d
       FROM events WHERE occurred_at >= ? AND type = 'image_server.status_changed'
        AND json_extract(data, '$.previous_status') = 'BUILDING' AND json_extract(data, '$.status') = 'BUILT'
        AND json_type(data, '$.previous_status_duration_seconds') IN ('integer', 'real')`,
  );
  const selectJobEvents = db.prepare<[number], EventRow>(
    `SELECT seq, id, type, occurred_at, project_id, server_id, data FROM events
      WHERE occurred_at >= ? AND server_id <> ''
        AND (substr(type, 1, 10) = 'image_job.'
             OR (type = 'image_server.status_changed' AND json_type(data, '$.job') = 'object'))
      ORDER BY seq`,
  );
  const insertReplayDelivery = db.prepare<{ eventId: string; webhook: string; now: number }>(
    `INSERT INTO deliveries
       (event_id, webhook, state, attempts, next_attempt_at, last_error, created_at, updated_at,
        event_seq, project_id, server_id)
     SELECT id, @webhook, 'pending', 0, @now, NULL, @now, @now, seq, project_id, server_id
       FROM events WHERE id = @eventId
     ON CONFLICT (event_seq, webhook) DO NOTHING`,
  );
  // One statement per combination of filters (at most 2^7), so each uses the indexes its WHERE allows
  // instead of one catch-all `(@x IS NULL OR …)` statement that can use none.
  const listStatements = new Map<string, Database.Statement<Record<string, unknown>, EventRow>>();
  const listStatement = (filter: EventFilter) => {
    const where: string[] = [];
    if (filter.type !== undefined) where.push("e.type = @type");
    if (filter.projectId !== undefined) where.push("e.project_id = @projectId");
    if (filter.serverId !== undefined) where.push("e.server_id = @serverId");
    if (filter.since !== undefined) where.push("e.occurred_at >= @since");
    // An unknown cursor makes the comparison NULL: no rows, never "from the top" again.
    if (filter.before !== undefined) where.push("e.seq < (SELECT seq FROM events WHERE id = @before)");
    if (filter.state !== undefined || filter.webhook !== undefined) {
      const d = ["d.event_seq = e.seq"];
      if (filter.webhook !== undefined) d.push("d.webhook = @webhook");
      if (filter.state !== undefined) d.push("d.state = @state");
      where.push(`EXISTS (SELECT 1 FROM deliveries d WHERE ${d.join(" AND ")})`);
    }
    const sql = `SELECT e.seq, e.id, e.type, e.occurred_at, e.project_id, e.server_id, e.data
       FROM events e ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY e.seq DESC LIMIT @limit`;
    let stmt = listStatements.get(sql);
    if (stmt === undefined) {
      stmt = db.prepare<Record<string, unknown>, EventRow>(sql);
      listStatements.set(sql, stmt);
    }
    return stmt;
  };
  const selectDeliveriesOf = db.prepare<[string], DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM deliveries d
      WHERE d.event_seq IN (SELECT seq FROM events WHERE id IN (SELECT value FROM json_each(?)))
      ORDER BY d.event_id, d.webhook`,
  );
  // The oldest prunable events (LIMIT -1: all), by the occurred_at index; their deliveries are all delivered.
  const selectPrunable = db.prepare<{ before: number; limit: number }, { seq: number }>(
    `SELECT seq FROM events
      WHERE occurred_at < @before AND NOT EXISTS (
            SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq AND d.state <> 'delivered')
      ORDER BY occurred_at, seq LIMIT @limit`,
  );
  const deletePrunedDeliveries = db.prepare<[string]>(
    "DELETE FROM deliveries WHERE event_seq IN (SELECT value FROM json_each(?))",
  );
  const deletePrunedEvents = db.prepare<[string]>(
    "DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))",
  );
  // jobRetainedSince (domain/jobs.ts) in SQL. By the jobs_begin index: begin_time < @before narrows the
  // rows whose JSON is read (an end is never before its begin). Left to choose, SQLite takes the primary
  // key for project_id = @project and reads the project's whole history every hour, even with nothing to
  // delete (measured at 40,000 records: 14–16 ms a call against 0.04–1.1 ms; a batch of 500: 29 vs 6 ms).
  const deletePrunableJobs = db.prepare<
    { project: string; before: number; limit: number },
    { job_id: string }
  >(
    `DELETE FROM jobs WHERE (project_id, job_id) IN (
       SELECT project_id, job_id FROM jobs INDEXED BY jobs_begin
        WHERE project_id = @project AND begin_time < @before AND status NOT IN ('WAITING', 'RUNNING')
          AND COALESCE(json_extract(state, '$.endTime'), begin_time) < @before
        ORDER BY begin_time LIMIT @limit)
     RETURNING job_id`,
  );
  // Per project, the latest cut-off pruneJobs was called with: every finished job that aged out before
  // it is gone.
  const raiseJobsPrunedBefore = db.prepare<[string, string]>(
    `INSERT INTO meta (key, value) VALUES ('jobs_pruned_before:' || ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))`,
  );
  const selectJobsPrunedBefore = db.prepare<[string], { value: string }>(
    "SELECT value FROM meta WHERE key = 'jobs_pruned_before:' || ?",
  );
  const pruneJobsTx = db.transaction((project: string, before: number, limit: number) => {
    const gone = deletePrunableJobs.all({ project, before, limit });
    raiseJobsPrunedBefore.run(project, String(Math.floor(before)));
    return gone.map((r) => r.job_id);
  });
  const writeProbe = db.prepare<[string]>(
    "INSERT INTO meta (key, value) VALUES ('ready_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  );

  // Rows already reported as holding a placeholder: a bad server is re-written every tick, logged once.
  const reportedPlaceholders = new Set<string>();
  /** JSON of one row's column; a value that cannot be serialised becomes a placeholder (logged once). */
  const columnJson = (value: unknown, row: Record<string, string>): string => {
    const { json, replaced } = toStoredJson(value);
    if (replaced.length === 0) return json;
    const key = JSON.stringify(row);
    if (!reportedPlaceholders.has(key)) {
      if (reportedPlaceholders.size >= 1000) reportedPlaceholders.clear(); // bounded memory
      reportedPlaceholders.add(key);
      logger.warn(
        { ...row, reasons: [...new Set(replaced)] },
        "stored a placeholder for an unserialisable value",
      );
    }
    return json;
  };

  const upsertJobCursor = db.prepare<[string, string]>(
    `INSERT INTO job_cursors (project_id, state) VALUES (?, ?)
     ON CONFLICT (project_id) DO UPDATE SET state = excluded.state`,
  );
  const upsertJob = db.prepare<[string, string, string, number, string, number | null, string]>(
    `INSERT INTO jobs (project_id, job_id, status, failed, server_id, begin_time, state)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (project_id, job_id) DO UPDATE SET status = excluded.status, failed = excluded.failed,
       server_id = excluded.server_id, begin_time = excluded.begin_time, state = excluded.state`,
  );
  const selectJobCursor = db.prepare<[string], { state: string }>(
    "SELECT state FROM job_cursors WHERE project_id = ?",
  );
  const selectProjectJobs = db.prepare<[string], { state: string }>(
    "SELECT state FROM jobs WHERE project_id = ? ORDER BY job_id",
  );
  const selectJobs = db.prepare<Record<string, string | number | null>, { state: string }>(
    `SELECT state FROM jobs
      WHERE (@state IS NULL
             OR (@state = 'active' AND status IN ('WAITING', 'RUNNING'))
             OR (@state = 'finished' AND status NOT IN ('WAITING', 'RUNNING'))
             OR (@state = 'failed' AND failed = 1))
        AND (@project IS NULL OR project_id = @project)
        AND (@server IS NULL OR server_id = @server)
        AND (@since IS NULL OR coalesce(begin_time, json_extract(state, '$.firstSeenAt')) >= @since)
      ORDER BY coalesce(begin_time, json_extract(state, '$.firstSeenAt')) DESC, job_id DESC
      LIMIT @limit`,
  );

  const commitJobs = (jobs: NonNullable<PollCommit["jobs"]>): void => {
    upsertJobCursor.run(jobs.cursor.projectId, JSON.stringify(jobs.cursor));
    for (const j of jobs.records) {
      const failed = j.status === "FAILED" || j.failures.length > 0 ? 1 : 0;
      upsertJob.run(
        j.projectId,
        j.jobId,
        j.status,
        failed,
        j.serverId,
        j.beginTime,
        columnJson(j, { projectId: j.projectId, jobId: j.jobId }),
      );
    }
  };

  const commitTx = db.transaction((commit: PollCommit): string[] => {
    if (commit.jobs) commitJobs(commit.jobs);
    if (commit.servers.length > 0) dropWarm.run();
    for (const s of commit.servers) {
      upsertServer.run(
        s.projectId,
        s.serverId,
        columnJson(s, { projectId: s.projectId, serverId: s.serverId }),
      );
    }
    for (const t of commit.targets ?? []) {
      upsertTarget.run(t.projectId, t.cloud, columnJson(t, { projectId: t.projectId, cloud: t.cloud }));
    }
    const inserted = new Map<string, { seq: number; projectId: string; serverId: string }>();
    for (const e of commit.events) {
      const info = insertEvent.run(
        e.id,
        e.type,
        e.occurredAt,
        e.projectId,
        e.serverId,
        columnJson(e.data, { eventId: e.id }),
      );
      // changes = 0: the id is already stored (or repeated in this commit), so it is not new.
      if (info.changes > 0) {
        inserted.set(e.id, {
          seq: Number(info.lastInsertRowid),
          projectId: e.projectId,
          serverId: e.serverId,
        });
      }
    }
    for (const d of commit.deliveries) {
      const ev = inserted.get(d.eventId);
      if (ev === undefined) continue; // an event stored before keeps the deliveries it has
      insertDelivery.run(
        d.eventId,
        d.webhook,
        commit.now,
        commit.now,
        commit.now,
        ev.seq,
        ev.projectId,
        ev.serverId,
      );
    }
    return [...inserted.keys()];
  });

  /** Each event with its deliveries, in the order given. */
  const withDeliveries = (events: EventRow[]): EventWithDeliveries[] => {
    const byEvent = new Map<string, DeliveryRecord[]>();
    const ids = events.map((e) => e.id);
    for (const r of selectDeliveriesOf.all(JSON.stringify(ids))) {
      const list = byEvent.get(r.event_id);
      if (list === undefined) byEvent.set(r.event_id, [toDelivery(r)]);
      else list.push(toDelivery(r));
    }
    return events.map((e) => ({
      ...toEvent(e.seq, e.id, e.type, e.occurred_at, e.project_id, e.server_id, e.data),
      deliveries: byEvent.get(e.id) ?? [],
    }));
  };

  const replayTx = db.transaction(
    (eventId: string, now: number, scope: Parameters<Store["replay"]>[2]): ReplayedDelivery[] | undefined => {
      const event = selectEventById.get(eventId);
      if (event === undefined) return undefined;
      const rows = selectDeliveriesOf.all(JSON.stringify([eventId]));
      const chosen = rows.filter((r) =>
        scope.kind === "all"
          ? true
          : scope.kind === "undelivered"
            ? r.state !== "delivered"
            : r.webhook === scope.webhook,
      );
      const out: ReplayedDelivery[] = [];
      for (const r of chosen) {
        const params = { eventId, webhook: r.webhook, now };
        if (r.state === "pending") requeuePending.run(params);
        else requeueFinished.run(params);
        out.push({
          webhook: r.webhook,
          previousState: r.state as DeliveryState,
          previousAttempts: r.attempts,
        });
      }
      if (scope.kind === "webhook" && chosen.length === 0 && scope.create) {
        insertReplayDelivery.run({ eventId, webhook: scope.webhook, now });
        out.push({ webhook: scope.webhook, previousState: null, previousAttempts: 0 });
      }
      return out;
    },
  );

  const pruneTx = db.transaction((before: number, limit: number): number => {
    const seqs = JSON.stringify(selectPrunable.all({ before, limit }).map((r) => r.seq));
    deletePrunedDeliveries.run(seqs);
    return deletePrunedEvents.run(seqs).changes;
  });

  let closed = false;

  return {
    loadServers: () =>
      guard(file, "loadServers", () => {
        // Row by row: each row's JSON text dies young once parsed, where `.all()` kept all of them (14 MB
        // at 10,000 servers) alive at once, to be copied by every scavenge while the states are built.
        // Mapped: at 10,000 servers ~5,000 pages, 30–60 ms sooner than one read() each.
        return whileMapped(db, () => {
          const out: ServerState[] = [];
          for (const r of selectServers.iterate()) out.push(JSON.parse(r.state) as ServerState);
          return out;
        });
      }),

    loadTargets: () =>
      guard(file, "loadTargets", () => selectTargets.all().map((r) => JSON.parse(r.state) as TargetState)),

    commitPoll: (commit) => guard(file, "commitPoll", () => commitTx(commit)),

    loadJobs: (projectId) =>
      guard(file, "loadJobs", () => {
        const cursor = selectJobCursor.get(projectId);
        return {
          cursor: cursor === undefined ? undefined : (JSON.parse(cursor.state) as JobCursor),
          jobs: selectProjectJobs.all(projectId).map((r) => JSON.parse(r.state) as JobRecord),
        };
      }),

    listJobs: (limit, filter = {}) =>
      guard(file, "listJobs", () =>
        selectJobs
          .all({
            state: filter.state ?? null,
            project: filter.projectId ?? null,
            server: filter.serverId ?? null,
            since: filter.since ?? null,
            limit: Math.max(0, Math.floor(limit)),
          })
          .map((r) => JSON.parse(r.state) as JobRecord),
      ),

    deleteServers: (keys) => guard(file, "deleteServers", () => deleteServersTx(keys)),

    saveWarmListings: (byCloud) => guard(file, "saveWarmListings", () => saveWarmTx(byCloud)),

    takeWarmListings: () =>
      guard(file, "takeWarmListings", () => {
        const out = new Map<string, unknown>();
        for (const r of takeWarmTx.immediate()) {
          try {
            out.set(r.cloud, JSON.parse(r.data));
          } catch {
            // Unreadable: that cloud starts cold, as after a crash.
          }
        }
        return out;
      }),

    dueDeliveries: (webhook, now, limit, exclude) =>
      guard(file, "dueDeliveries", () => {
        if (limit <= 0) return [];
        const rows = selectDue.all({
          webhook,
          now,
          limit,
          exclude: JSON.stringify(exclude === undefined ? [] : [...exclude]),
        });
        return rows.map(
          (r): DueDelivery => ({
            delivery: toDelivery(r),
            event: toEvent(
              r.e_seq,
              r.event_id,
              r.e_type,
              r.e_occurred_at,
              r.e_project_id,
              r.e_server_id,
              r.e_data,
            ),
          }),
        );
      }),

    nextDueAt: (webhook) => guard(file, "nextDueAt", () => selectNextDue.get(webhook)?.next ?? null),

    markDelivered: (eventId, webhook, attempts, now) =>
      guard(file, "markDelivered", () => {
        updateDelivered.run(attempts, now, eventId, webhook);
      }),

    markRetry: (eventId, webhook, attempts, nextAttemptAt, lastError, now) =>
      guard(file, "markRetry", () => {
        updateRetry.run(attempts, nextAttemptAt, lastError, now, eventId, webhook);
      }),

    markDead: (eventId, webhook, attempts, lastError, now) =>
      guard(file, "markDead", () => {
        updateDead.run(attempts, lastError, now, eventId, webhook);
      }),

    requeue: (eventId, now, webhook) =>
      guard(
        file,
        "requeue",
        () =>
          replayTx(
            eventId,
            now,
            webhook === undefined ? { kind: "all" } : { kind: "webhook", webhook, create: false },
          )?.length ?? 0,
      ),

    replay: (eventId, now, scope) => guard(file, "replay", () => replayTx(eventId, now, scope)),

    queueStats: () =>
      guard(file, "queueStats", () => {
        const stats = new Map<string, { depth: number; oldestCreatedAt: number | null }>();
        // Webhooks with deliveries but none pending report depth 0, so a drained queue reads as 0.
        for (const { webhook } of selectWebhooks.all())
          stats.set(webhook, { depth: 0, oldestCreatedAt: null });
        for (const r of selectPendingStats.all()) {
          stats.set(r.webhook, { depth: r.depth, oldestCreatedAt: r.oldest });
        }
        return stats;
      }),

    listEvents: (limit, filter = {}) =>
      guard(file, "listEvents", () => {
        if (limit <= 0) return [];
        // Only the parameters the statement names: better-sqlite3 rejects unused named parameters.
        const params: Record<string, unknown> = { limit };
        for (const [k, v] of Object.entries(filter)) if (v !== undefined) params[k] = v;
        return withDeliveries(listStatement(filter).all(params));
      }),

    statusChangesSince: (since) =>
      guard(file, "statusChangesSince", () =>
        selectStatusChanges.all(since).map((r) => ({
          projectId: r.project_id,
          serverId: r.server_id,
          occurredAt: r.occurred_at,
          previousStatus: r.prev,
          previousSince: typeof r.prev_s === "number" ? r.occurred_at - r.prev_s * 1000 : null,
          status: r.status,
        })),
      ),

    buildDurationsSince: (since) =>
      guard(file, "buildDurationsSince", () => selectBuildDurations.all(since).map((r) => r.d)),

    lastJobResults: (since) =>
      guard(file, "lastJobResults", () => {
        const latest = new Map<string, JobResult>();
        for (const row of selectJobEvents.all(since)) {
          const result = jobResultOf(
            toEvent(row.seq, row.id, row.type, row.occurred_at, row.project_id, row.server_id, row.data),
          );
          if (result) latest.set(`${row.project_id}\u0000${row.server_id}`, result);
        }
        return [...latest.values()];
      }),

    getEvent: (eventId) =>
      guard(file, "getEvent", () => {
        const row = selectEventById.get(eventId);
        return row === undefined ? undefined : withDeliveries([row])[0];
      }),

    prune: (before, limit) => guard(file, "prune", () => pruneTx(before, sqlLimit(limit))),

    pruneJobs: (projectId, before, limit) =>
      guard(file, "pruneJobs", () => pruneJobsTx(projectId, before, sqlLimit(limit))),

    jobsPrunedBefore: (projectId) =>
      guard(file, "jobsPrunedBefore", () => {
        const row = selectJobsPrunedBefore.get(projectId);
        return row === undefined ? undefined : Number(row.value);
      }),

    isWritable: () => {
      if (closed) return false;
      try {
        writeProbe.run(String(clock.now()));
        return true;
      } catch (err) {
        logger.warn({ err: coerceError(err) }, "store write probe failed");
        return false;
      }
    },

    close: () => {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
