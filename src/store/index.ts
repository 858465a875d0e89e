/** The durable store: its contract and the SQLite implementation (DESIGN §7). */
export { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
export { BUSY_TIMEOUT_MS, openSqliteStore, type SqliteStoreDeps, withSqliteStore } from "./sqlite-store.js";
export type {
  DeliveryRecord,
  DeliveryState,
  DueDelivery,
  PollCommit,
  Store,
  StoredEvent,
} from "./types.js";
