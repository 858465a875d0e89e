/**
 * The SQLite schema of imagewatch as an ordered list of forward migrations. `PRAGMA user_version` holds the
 * number of steps applied; a database at a version above {@link SCHEMA_VERSION} was written by a newer
 * imagewatch and is never touched.
 */
import type BetterSqlite3 from "better-sqlite3";
import type { Logger } from "../lib/logger.js";

/**
 * Forward migrations: step `i` takes the schema from version `i` to version `i + 1`. Append only — a step
 * that shipped is never edited, a change is a new step.
 */
export const MIGRATIONS: readonly string[] = [
  // 0 → 1: the initial schema.
  `
  CREATE TABLE servers (
    project_id TEXT NOT NULL,
    server_id  TEXT NOT NULL,
    -- The whole ServerState as JSON: loadServers returns exactly what commitPoll saved.
    state      TEXT NOT NULL,
    PRIMARY KEY (project_id, server_id)
  ) WITHOUT ROWID;

  CREATE TABLE events (
    -- AUTOINCREMENT: a pruned seq is never reused, so seq stays the order of commits.
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    project_id  TEXT NOT NULL,
    server_id   TEXT NOT NULL,
    data        TEXT NOT NULL
  );
  CREATE INDEX events_server_seq ON events (project_id, server_id, seq);
  CREATE INDEX events_occurred_at ON events (occurred_at);

  CREATE TABLE deliveries (
    event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    webhook         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- Copies of the event's immutable seq and server, so the per-server ordering check of the due query
    -- is one index seek instead of a join per candidate.
    event_seq       INTEGER NOT NULL,
    project_id      TEXT NOT NULL,
    server_id       TEXT NOT NULL,
    PRIMARY KEY (event_id, webhook)
  ) WITHOUT ROWID;
  -- Partial indexes over pending rows only: the queue stays small while delivered rows pile up until pruned.
  -- Due scan in commit order:
  CREATE INDEX deliveries_pending_seq ON deliveries (webhook, event_seq) WHERE state = 'pending';
  -- "Is an earlier delivery of this server still pending?" (per-server order):
  CREATE INDEX deliveries_pending_server ON deliveries (webhook, project_id, server_id, event_seq)
    WHERE state = 'pending';
  -- nextDueAt and the queue stats:
  CREATE INDEX deliveries_pending_due ON deliveries (webhook, next_attempt_at, created_at)
    WHERE state = 'pending';
  -- The webhooks that have any delivery (queue stats report drained ones as 0), found by skip-scan:
  CREATE INDEX deliveries_webhook ON deliveries (webhook);

  -- Small key/value facts; the readiness probe writes here.
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 1 → 2: target health (DESIGN §10), restart-safe.
  `
  CREATE TABLE targets (
    project_id TEXT NOT NULL,
    cloud      TEXT NOT NULL,
    -- The whole TargetState as JSON: loadTargets returns exactly what commitPoll saved.
    state      TEXT NOT NULL,
    PRIMARY KEY (project_id, cloud)
  ) WITHOUT ROWID;
  `,
  // 2 → 3: image jobs (DESIGN §11).
  `
  -- Per project: the job lists' cursor (FAILED counts). No row = the project's first job tick.
  CREATE TABLE job_cursors (
    project_id TEXT PRIMARY KEY,
    state      TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE jobs (
    project_id TEXT NOT NULL,
    job_id     TEXT NOT NULL,
    -- Copies of JobRecord fields for the API's filters and order; the whole record is in state.
    status     TEXT NOT NULL,
    failed     INTEGER NOT NULL,
    server_id  TEXT NOT NULL,
    begin_time INTEGER,
    state      TEXT NOT NULL,
    PRIMARY KEY (project_id, job_id)
  ) WITHOUT ROWID;
  CREATE INDEX jobs_begin ON jobs (begin_time);
  CREATE INDEX jobs_server ON jobs (project_id, server_id);
  `,
  // 3 → 4: servers as a rowid table, and the list pages a stopping daemon leaves for a warm start.
  `
  -- A state row (~1.4 KB at 10,000 servers) spilled into an overflow page in the WITHOUT ROWID table
  -- (whose cells hold ~1 KB of a 4 KB page): every changed server wrote two pages, and loading them read
  -- two. A rowid table keeps a row in its leaf; the primary key becomes an index beside it.
  CREATE TABLE servers_v4 (
    project_id TEXT NOT NULL,
    server_id  TEXT NOT NULL,
    state      TEXT NOT NULL,
    PRIMARY KEY (project_id, server_id)
  );
  INSERT INTO servers_v4 (project_id, server_id, state)
    SELECT project_id, server_id, state FROM servers ORDER BY project_id, server_id;
  DROP TABLE servers;
  ALTER TABLE servers_v4 RENAME TO servers;

  -- Per cloud client: the pages of its last complete listings (digest, count, server ids), written by a
  -- daemon as it stops and taken (read and deleted) by the next one as it starts. Any write of the
  -- servers table deletes them, so they never outlive the states they name.
  CREATE TABLE warm_listings (
    cloud TEXT PRIMARY KEY,
    data  TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 4 → 5: deliveries keyed by (event_seq, webhook).
  `
  -- Keyed by (event_id, webhook), a new delivery went to a random leaf of a table that keeps every
  -- delivered row until it is pruned, and its foreign key looked up a random event id: at 500 changed
  -- servers a commit wrote hundreds of scattered pages. event_seq grows with every commit, so a new row is
  -- appended to the last leaf, and the key to events is their rowid. event_id stays as a column (a copy,
  -- like project_id and server_id) for the rows a query returns.
  CREATE TABLE deliveries_v5 (
    event_seq       INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    webhook         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    project_id      TEXT NOT NULL,
    server_id       TEXT NOT NULL,
    PRIMARY KEY (event_seq, webhook)
  ) WITHOUT ROWID;
  -- The seq is taken from the event itself, through its id (the old key): a delivery whose event is gone
  -- (possible only by an edit made with foreign keys off) is left behind instead of failing the upgrade.
  INSERT INTO deliveries_v5
      (event_seq, webhook, event_id, state, attempts, next_attempt_at, last_error, created_at, updated_at,
       project_id, server_id)
    SELECT e.seq, d.webhook, d.event_id, d.state, d.attempts, d.next_attempt_at, d.last_error, d.created_at,
           d.updated_at, d.project_id, d.server_id
      FROM deliveries d JOIN events e ON e.id = d.event_id
     ORDER BY e.seq, d.webhook;
  DROP TABLE deliveries;
  ALTER TABLE deliveries_v5 RENAME TO deliveries;
  -- The indexes of version 1, dropped with the old table:
  CREATE INDEX deliveries_pending_seq ON deliveries (webhook, event_seq) WHERE state = 'pending';
  CREATE INDEX deliveries_pending_server ON deliveries (webhook, project_id, server_id, event_seq)
    WHERE state = 'pending';
  CREATE INDEX deliveries_pending_due ON deliveries (webhook, next_attempt_at, created_at)
    WHERE state = 'pending';
  CREATE INDEX deliveries_webhook ON deliveries (webhook);
  `,
];

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Reads `PRAGMA user_version` (a read: it never modifies the file). */
export function readSchemaVersion(db: BetterSqlite3.Database): number {
  return Number(db.pragma("user_version", { simple: true }));
}

/**
 * Applies every missing step inside ONE immediate transaction (so a second process opening the same file
 * at the same moment waits, then finds nothing left to do). Returns the version found before migrating.
 * The caller has already refused a version above {@link SCHEMA_VERSION}.
 */
export function migrate(db: BetterSqlite3.Database, logger: Logger): number {
  const run = db.transaction((): number => {
    // Re-read inside the write lock: another process may have migrated since the caller looked.
    const from = readSchemaVersion(db);
    for (let v = from; v < SCHEMA_VERSION; v++) {
      const step = MIGRATIONS[v];
      if (step === undefined) throw new Error(`missing migration step ${v}`);
      db.exec(step);
    }
    if (from < SCHEMA_VERSION) {
      // user_version lives in the database header and is written in this same transaction.
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }
    return from;
  });
  const from = run.immediate();
  if (from < SCHEMA_VERSION) {
    logger.info({ from, to: SCHEMA_VERSION }, "store schema migrated");
  }
  return from;
}
