import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import type { JobRecord } from "../../src/domain/observe-jobs.js";
import { initialTargetState } from "../../src/domain/target-health.js";
import { AppError } from "../../src/lib/errors.js";
import { openSqliteStore, SCHEMA_VERSION, withSqliteStore } from "../../src/store/index.js";
import {
  configureConnection,
  DUE_DELIVERIES_SQL,
  PAGE_CACHE_KIB,
  WAL_AUTOCHECKPOINT_PAGES,
} from "../../src/store/sqlite-store.js";
import { commitOf, makeEvent, makeServerState, runStoreSuite } from "../helpers/store-suite.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const T0 = Date.parse("2026-11-27T10:00:00.000Z");
const tmp = makeTempDir({ after }, "imagewatch-store-");

let fileCount = 0;
function tempDbPath(): string {
  fileCount += 1;
  return path.join(tmp, `db-${fileCount}`, "nested", "imagewatch.db");
}

/** A temp path holding an empty, migrated imagewatch store. */
function tempDbPathOpened(): string {
  const file = tempDbPath();
  openSqliteStore(file).close();
  return file;
}

runStoreSuite("SQLite on a temp file", () => openSqliteStore(tempDbPath()));
runStoreSuite("SQLite in memory", () => openSqliteStore(":memory:"));

/** Runs `fn` on `file` opened read-only, and closes it. */
function inspect(file: string, fn: (db: Database.Database) => void): void {
  const db = new Database(file, { readonly: true });
  try {
    fn(db);
  } finally {
    db.close();
  }
}

function assertAppError(fn: () => unknown, code: string, messageIncludes: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    assert.equal(err.code, code);
    for (const part of messageIncludes)
      assert.ok(err.message.includes(part), `"${err.message}" lacks "${part}"`);
    return true;
  });
}

describe("SQLite store on a file", () => {
  it("answers the due-deliveries query by index seeks only, never a scan of a table", () => {
    const db = new Database(tempDbPathOpened());
    try {
      const plan = db
        .prepare<{ webhook: string; now: number; exclude: string; limit: number }, { detail: string }>(
          `EXPLAIN QUERY PLAN ${DUE_DELIVERIES_SQL}`,
        )
        .all({ webhook: "w1", now: T0, exclude: "[]", limit: 100 })
        .map((r) => r.detail);
      // Each table is reached by a seek on the index meant for it ("SEARCH x USING [COVERING] INDEX i").
      // The event is reached by its rowid, the delivery's event_seq ("SEARCH e USING INTEGER PRIMARY KEY").
      const seeks = plan.flatMap((d) => {
        const m = /^SEARCH (d|p|e) USING (?:COVERING )?(?:INDEX (\w+)|(INTEGER PRIMARY KEY))/.exec(d);
        return m ? [`${m[1]}: ${m[2] ?? m[3]}`] : [];
      });
      assert.deepEqual(
        seeks,
        ["d: deliveries_pending_seq", "p: deliveries_pending_server", "e: INTEGER PRIMARY KEY"],
        plan.join("\n"),
      );
      // The only scan is of the (small) list of in-flight ids.
      assert.deepEqual(
        plan.filter((d) => d.startsWith("SCAN")),
        ["SCAN json_each VIRTUAL TABLE INDEX 1:"],
      );
    } finally {
      db.close();
    }
  });

  it("creates parent directories, uses WAL, and records the schema version", () => {
    const file = tempDbPath();
    openSqliteStore(file).close();
    inspect(file, (db) => {
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
      assert.equal(db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
    });
  });

  it("sets a writable connection up: WAL, synchronous NORMAL, foreign keys, a checkpoint every 4,000 pages, a 4 MiB page cache", () => {
    const db = new Database(path.join(tmp, "configured.db"));
    try {
      configureConnection(db);
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
      assert.equal(db.pragma("synchronous", { simple: true }), 1); // NORMAL
      assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
      assert.equal(WAL_AUTOCHECKPOINT_PAGES, 4000);
      assert.equal(db.pragma("wal_autocheckpoint", { simple: true }), WAL_AUTOCHECKPOINT_PAGES);
      assert.equal(PAGE_CACHE_KIB, 4096);
      assert.equal(
        db.pragma("cache_size", { simple: true }),
        -PAGE_CACHE_KIB,
        "KiB, not better-sqlite3's 16 MiB",
      );
    } finally {
      db.close();
    }
  });

  it("maps the file only while it scans it at start (quick_check, loading the servers), then unmaps it", (t) => {
    if (!fs.existsSync("/proc/self/maps")) return t.skip("no /proc/self/maps");
    const file = tempDbPath();
    const servers = Array.from({ length: 50 }, (_, i) => makeServerState({ serverId: `s-${i}` }));
    const mapped = () =>
      fs
        .readFileSync("/proc/self/maps", "utf8")
        .split("\n")
        .some((line) => line.endsWith(` ${file}`));
    const writer = openSqliteStore(file);
    writer.commitPoll(commitOf([], [], T0, servers));
    writer.close();
    const store = openSqliteStore(file);
    try {
      assert.equal(mapped(), false, "still mapped after the quick_check");
      assert.equal(store.loadServers().length, 50);
      assert.equal(mapped(), false, "still mapped after loading the servers");
    } finally {
      store.close();
    }
  });

  it("upgrades a version 2 database (target health, no jobs) to the current schema, keeping its targets", () => {
    const file = tempDbPath();
    const target = { ...initialTargetState("p1", "default"), up: true, lastSuccessAt: T0, lastTickAt: T0 };
    const v3 = openSqliteStore(file);
    v3.commitPoll({ ...commitOf([], [], T0), targets: [target] });
    v3.close();
    // Back to what version 2 wrote: the same schema without the job tables (and version 4's table).
    const db = new Database(file);
    db.exec("DROP TABLE jobs; DROP TABLE job_cursors; DROP TABLE warm_listings;");
    db.pragma("user_version = 2");
    db.close();

    const store = openSqliteStore(file);
    try {
      assert.deepEqual(store.loadTargets(), [target]);
      assert.deepEqual(store.loadJobs("p1"), { cursor: undefined, jobs: [] });
      const job: JobRecord = {
        projectId: "p1",
        jobId: "j1",
        jobType: "CREATE_SERVER_IMAGE",
        status: "FAILED",
        beginTime: T0,
        endTime: T0 + 1000,
        serverId: "s1",
        name: "build-one",
        resources: [],
        subJobsSeen: true,
        failures: [],
        outcomeHandled: true,
        stuckCount: 0,
        firstSeenAt: T0,
      };
      store.commitPoll({
        ...commitOf([], [], T0 + 2000),
        jobs: { cursor: { projectId: "p1", failedCounts: { CREATE_SERVER_IMAGE: 1 } }, records: [job] },
      });
      assert.deepEqual(store.listJobs(10, { state: "failed" }), [job]);
    } finally {
      store.close();
    }
    inspect(file, (check) => {
      assert.equal(check.pragma("user_version", { simple: true }), SCHEMA_VERSION);
      assert.equal(SCHEMA_VERSION, 5);
    });
  });

  it("upgrades a version 3 database: the same server states, in a rowid table", () => {
    const file = tempDbPath();
    const servers = [makeServerState({ serverId: "a" }), makeServerState({ serverId: "b", status: "ERROR" })];
    const v4 = openSqliteStore(file);
    v4.commitPoll(commitOf([], [], T0, servers));
    v4.close();
    // Back to what version 3 wrote: servers WITHOUT ROWID, no warm listings.
    const db = new Database(file);
    db.exec(`
      CREATE TABLE servers_v3 (project_id TEXT NOT NULL, server_id TEXT NOT NULL, state TEXT NOT NULL,
        PRIMARY KEY (project_id, server_id)) WITHOUT ROWID;
      INSERT INTO servers_v3 SELECT project_id, server_id, state FROM servers;
      DROP TABLE servers; ALTER TABLE servers_v3 RENAME TO servers; DROP TABLE warm_listings;`);
    db.pragma("user_version = 3");
    db.close();

    const store = openSqliteStore(file);
    try {
      assert.deepEqual(store.loadServers(), servers);
      store.saveWarmListings(new Map([["default", { v: 1 }]]));
      assert.deepEqual(store.takeWarmListings(), new Map([["default", { v: 1 }]]));
    } finally {
      store.close();
    }
    inspect(file, (check) => {
      assert.equal(check.pragma("user_version", { simple: true }), SCHEMA_VERSION);
      assert.equal(SCHEMA_VERSION, 5);
      const sql = (
        check.prepare("SELECT sql FROM sqlite_schema WHERE name = 'servers'").get() as { sql: string }
      ).sql;
      assert.doesNotMatch(sql, /WITHOUT ROWID/);
    });
  });

  it("keys deliveries by (event_seq, webhook), so a commit appends them, and finds their events by rowid", () => {
    inspect(tempDbPathOpened(), (db) => {
      const key = (db.pragma("table_info(deliveries)") as Array<{ name: string; pk: number }>)
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name);
      assert.deepEqual(key, ["event_seq", "webhook"]);
      const fks = db.pragma("foreign_key_list(deliveries)") as Array<{
        table: string;
        from: string;
        to: string;
      }>;
      assert.deepEqual(
        fks.map((f) => `${f.from} -> ${f.table}.${f.to}`),
        ["event_seq -> events.seq"],
      );
    });
  });

  it("upgrades a version 4 database: every delivery kept, with its state, attempts and error", () => {
    const file = tempDbPath();
    const v4 = openSqliteStore(file);
    v4.commitPoll(
      commitOf([makeEvent("e1", "a"), makeEvent("e2", "a"), makeEvent("e3", "b")], ["w1", "w2"], T0),
    );
    v4.markDelivered("e1", "w1", 1, T0 + 1);
    v4.markDead("e1", "w2", 3, "HTTP 400", T0 + 2);
    v4.markRetry("e2", "w1", 2, T0 + 60_000, "timeout", T0 + 3);
    const before = v4.listEvents(10);
    v4.close();
    // Back to what version 4 wrote: deliveries keyed by (event_id, webhook), referencing events (id).
    const db = new Database(file);
    db.exec(`
      CREATE TABLE deliveries_v4 (
        event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE, webhook TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')), attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL, last_error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        event_seq INTEGER NOT NULL, project_id TEXT NOT NULL, server_id TEXT NOT NULL,
        PRIMARY KEY (event_id, webhook)) WITHOUT ROWID;
      INSERT INTO deliveries_v4 SELECT event_id, webhook, state, attempts, next_attempt_at, last_error,
        created_at, updated_at, event_seq, project_id, server_id FROM deliveries;
      DROP TABLE deliveries; ALTER TABLE deliveries_v4 RENAME TO deliveries;
      CREATE INDEX deliveries_pending_seq ON deliveries (webhook, event_seq) WHERE state = 'pending';
      CREATE INDEX deliveries_pending_server ON deliveries (webhook, project_id, server_id, event_seq)
        WHERE state = 'pending';
      CREATE INDEX deliveries_pending_due ON deliveries (webhook, next_attempt_at, created_at)
        WHERE state = 'pending';
      CREATE INDEX deliveries_webhook ON deliveries (webhook);`);
    db.pragma("user_version = 4");
    // Made with foreign keys off, as an outside edit could: a delivery whose event is gone, and one whose
    // copied event_seq disagrees with its event's.
    db.pragma("foreign_keys = OFF");
    db.exec(
      `INSERT INTO deliveries VALUES ('gone', 'w1', 'pending', 0, ${T0}, NULL, ${T0}, ${T0}, 999, 'proj-1', 'z')`,
    );
    db.exec("UPDATE deliveries SET event_seq = event_seq + 100 WHERE event_id = 'e3' AND webhook = 'w2'");
    db.close();

    const store = openSqliteStore(file);
    try {
      assert.deepEqual(store.listEvents(10), before);
      // The queue works on the upgraded rows: e2 waits for its retry time, e3 is due, e2 blocks nothing
      // of b; e1 is finished for both webhooks.
      assert.deepEqual(
        store.dueDeliveries("w1", T0 + 10, 10).map((d) => d.event.id),
        ["e3"],
      );
      assert.deepEqual(
        store.dueDeliveries("w2", T0 + 10, 10).map((d) => d.event.id),
        ["e2", "e3"],
      );
      store.markDelivered("e3", "w1", 1, T0 + 20);
      assert.equal(store.getEvent("e3")?.deliveries.find((d) => d.webhook === "w1")?.state, "delivered");
      assert.deepEqual(
        store.queueStats(),
        new Map([
          ["w1", { depth: 1, oldestCreatedAt: T0 }],
          ["w2", { depth: 2, oldestCreatedAt: T0 }],
        ]),
      );
    } finally {
      store.close();
    }
    inspect(file, (check) => {
      assert.equal(check.pragma("user_version", { simple: true }), SCHEMA_VERSION);
      assert.deepEqual(check.pragma("foreign_key_check"), []);
    });
  });

  it("keeps warm listings for one start only, and drops them on any write of the servers table", () => {
    const file = tempDbPath();
    const warm = new Map<string, unknown>([
      ["default", { v: 1, listings: [] }],
      ["other", { v: 1, listings: [{ key: "k", pages: [] }] }],
    ]);
    const store = openSqliteStore(file);
    try {
      assert.deepEqual(store.takeWarmListings(), new Map(), "none left yet");
      store.saveWarmListings(warm);
      store.close();
    } catch (e) {
      store.close();
      throw e;
    }
    const reopened = openSqliteStore(file);
    try {
      assert.deepEqual(reopened.takeWarmListings(), warm, "they survive a close");
      assert.deepEqual(reopened.takeWarmListings(), new Map(), "taken once");

      reopened.saveWarmListings(warm);
      reopened.commitPoll(commitOf([makeEvent("e1", "a")], ["w1"], T0));
      assert.deepEqual(reopened.takeWarmListings(), warm, "a commit without server rows keeps them");

      reopened.saveWarmListings(warm);
      reopened.commitPoll(commitOf([], [], T0, [makeServerState({ serverId: "a" })]));
      assert.deepEqual(reopened.takeWarmListings(), new Map(), "a server write drops them");

      reopened.saveWarmListings(warm);
      reopened.deleteServers([{ projectId: "p1", serverId: "nobody" }]);
      assert.deepEqual(reopened.takeWarmListings(), new Map(), "a delete drops them");
    } finally {
      reopened.close();
    }
  });

  it("keeps everything across close and reopen", () => {
    const file = tempDbPath();
    const servers = [makeServerState({ serverId: "a" }), makeServerState({ serverId: "b", status: "ERROR" })];
    const first = openSqliteStore(file);
    first.commitPoll(commitOf([makeEvent("e1", "a"), makeEvent("e2", "b")], ["w1", "w2"], T0, servers));
    first.markDead("e1", "w1", 3, "HTTP 400", T0 + 1);
    first.markRetry("e2", "w2", 1, T0 + 5000, "HTTP 503", T0 + 1);
    const events = first.listEvents(10);
    const stats = first.queueStats();
    const due = first.dueDeliveries("w2", T0 + 5000, 10);
    first.close();

    const second = openSqliteStore(file);
    try {
      assert.deepEqual(second.loadServers(), servers);
      assert.deepEqual(second.listEvents(10), events);
      assert.deepEqual(second.queueStats(), stats);
      assert.deepEqual(second.dueDeliveries("w2", T0 + 5000, 10), due);
      assert.equal(due.length, 2);
      // seq keeps counting: a later commit sorts after the earlier ones.
      second.commitPoll(commitOf([makeEvent("e3", "c")], ["w1"], T0 + 2));
      assert.equal(second.listEvents(1)[0]?.id, "e3");
    } finally {
      second.close();
    }
  });

  it("refuses a file that is not a SQLite database, naming the path, and leaves its bytes unchanged", () => {
    const file = tempDbPath();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const bytes = Buffer.from("this is not a database, it is a shopping list\n".repeat(200));
    fs.writeFileSync(file, bytes);
    assertAppError(() => openSqliteStore(file), "STORE_CORRUPT", [file, "not a valid SQLite database"]);
    assert.deepEqual(fs.readFileSync(file), bytes);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ["imagewatch.db"]);
  });

  it("refuses a database whose pages are damaged (header intact), naming the path and what to do", () => {
    const file = tempDbPath();
    const store = openSqliteStore(file);
    store.commitPoll(commitOf([makeEvent("e1", "a")], ["w1"], T0, [makeServerState()]));
    store.close(); // checkpoints the WAL into the file
    const pageSize = 4096;
    const size = fs.statSync(file).size;
    assert.ok(size > 4 * pageSize);
    // Page 1 (header and schema) survives; every later page is garbage.
    const fd = fs.openSync(file, "r+");
    fs.writeSync(fd, Buffer.alloc(size - pageSize, 0x5a), 0, size - pageSize, pageSize);
    fs.closeSync(fd);
    const bytes = fs.readFileSync(file);

    assertAppError(() => openSqliteStore(file), "STORE_CORRUPT", [
      `state file ${file} is damaged (`,
      "restore it from a backup or move it aside to start fresh",
    ]);
    assert.deepEqual(fs.readFileSync(file), bytes);
  });

  it("a store call that meets a damaged page later names the path too", () => {
    const file = tempDbPath();
    const store = openSqliteStore(file);
    try {
      store.commitPoll(commitOf([makeEvent("e1", "a")], ["w1"], T0, [makeServerState()]));
      // Damage the events table's page under the open store, then let another connection commit, so the
      // store's page cache is dropped and its next read meets the damage.
      const other = new Database(file);
      other.pragma("wal_checkpoint(TRUNCATE)");
      const { rootpage } = other
        .prepare<[], { rootpage: number }>("SELECT rootpage FROM sqlite_schema WHERE name = 'events'")
        .get() as { rootpage: number };
      const pageSize = Number(other.pragma("page_size", { simple: true }));
      const fd = fs.openSync(file, "r+");
      fs.writeSync(fd, Buffer.alloc(pageSize, 0x5a), 0, pageSize, (rootpage - 1) * pageSize);
      fs.closeSync(fd);
      other.prepare("INSERT INTO meta (key, value) VALUES ('poke', '1')").run();
      other.close();

      assertAppError(() => store.listEvents(10), "STORE_CORRUPT", [
        `state file ${file} is damaged (database disk image is malformed)`,
      ]);
    } finally {
      store.close();
    }
  });

  it("refuses someone else's SQLite database (tables, no schema version) without touching it", () => {
    const file = tempDbPath();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const other = new Database(file);
    other.exec(
      "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5)",
    );
    other.close();
    const bytes = fs.readFileSync(file);
    assertAppError(() => openSqliteStore(file), "STORE_CORRUPT", [file, "not an imagewatch one"]);
    assert.deepEqual(fs.readFileSync(file), bytes);
  });

  it("refuses a database written by a newer imagewatch and leaves it untouched", () => {
    const file = tempDbPath();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const newer = new Database(file);
    newer.exec("CREATE TABLE servers (x TEXT)");
    newer.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    newer.close();
    const bytes = fs.readFileSync(file);
    assertAppError(() => openSqliteStore(file), "STORE_SCHEMA_NEWER", [
      file,
      "written by a newer imagewatch; refusing to downgrade",
    ]);
    assert.deepEqual(fs.readFileSync(file), bytes);
  });

  it("reports a path it cannot create as STORE_ERROR", () => {
    const blocker = path.join(tmp, "a-file");
    fs.writeFileSync(blocker, "x");
    assertAppError(() => openSqliteStore(path.join(blocker, "imagewatch.db")), "STORE_ERROR", [blocker]);
  });

  it("a second connection (the replay CLI) can requeue while the first is open, and the first sees it", () => {
    const file = tempDbPath();
    const daemon = openSqliteStore(file);
    try {
      daemon.commitPoll(commitOf([makeEvent("e1", "a"), makeEvent("e2", "b")], ["w1"]));
      daemon.markDead("e1", "w1", 5, "HTTP 404", T0 + 1);
      daemon.markDelivered("e2", "w1", 1, T0 + 1);
      assert.deepEqual(daemon.dueDeliveries("w1", T0 + 10, 10), []);

      const requeued = withSqliteStore(
        file,
        (cli) => cli.requeue("e1", T0 + 10) + cli.requeue("e2", T0 + 10),
      );
      assert.equal(requeued, 2);

      assert.deepEqual(
        daemon.dueDeliveries("w1", T0 + 10, 10).map((d) => d.event.id),
        ["e1", "e2"],
      );
      assert.equal(daemon.nextDueAt("w1"), T0 + 10);
      assert.equal(daemon.isWritable(), true);
    } finally {
      daemon.close();
    }
  });
});
