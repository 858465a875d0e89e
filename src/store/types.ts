/**
 * The durable store's contract (DESIGN §7). One implementation today (SQLite); the store test suite
 * is written against this interface so any other runs the same scenarios.
 */
import type { JobCursor, JobRecord } from "../domain/observe-jobs.js";
import type { TargetState } from "../domain/target-health.js";
import type { DomainEvent, ServerState } from "../domain/types.js";

export type DeliveryState = "pending" | "delivered" | "dead";

/** One event's delivery to one webhook. */
export interface DeliveryRecord {
  eventId: string;
  webhook: string;
  state: DeliveryState;
  attempts: number;
  /** When the next attempt is due (ms); meaningful while pending. */
  nextAttemptAt: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

/** An event as stored, with its insertion sequence (the order of commits). */
export interface StoredEvent extends DomainEvent {
  seq: number;
}

/** An event with every delivery it has (to each webhook it matched when it was committed). */
export type EventWithDeliveries = StoredEvent & { deliveries: DeliveryRecord[] };

/** Which events {@link Store.listEvents} returns; every field given narrows the result (AND). */
export interface EventFilter {
  /** Events with a delivery in this state (to `webhook`, when that is given too). */
  state?: DeliveryState;
  /** Events with a delivery to this webhook. */
  webhook?: string;
  /** A full event type (`image_server.stuck`). */
  type?: string;
  projectId?: string;
  serverId?: string;
  /** Events that occurred at or after this time (ms). */
  since?: number;
  /** The paging cursor: only events committed before the event with this id (none when it is unknown). */
  before?: string;
}

/**
 * Which of an event's deliveries {@link Store.replay} re-queues: `undelivered` the dead and pending ones,
 * `all` every one, `webhook` that webhook's whatever its state (with `create`, a delivery row is added when
 * the event has none to it).
 */
export type ReplayScope =
  | { kind: "undelivered" }
  | { kind: "all" }
  | { kind: "webhook"; webhook: string; create: boolean };

/** One delivery {@link Store.replay} re-queued, with the state it was in (`null`: the row was created). */
export interface ReplayedDelivery {
  webhook: string;
  previousState: DeliveryState | null;
  previousAttempts: number;
}

/** A due delivery together with its event, as a delivery worker takes it. */
export interface DueDelivery {
  delivery: DeliveryRecord;
  event: StoredEvent;
}

/** What one poll commits, atomically. */
export interface PollCommit {
  /** Server states to upsert (keyed by projectId + serverId). */
  servers: readonly ServerState[];
  /** New events; an id already stored is ignored (content-derived ids make this deduplication). */
  events: readonly DomainEvent[];
  /** One row per (event, webhook whose filters match); ignored when its event id was already stored. */
  deliveries: ReadonlyArray<{ eventId: string; webhook: string }>;
  /** Commit time (ms): createdAt and first nextAttemptAt of the new deliveries. */
  now: number;
  /** Target states to upsert (keyed by projectId + cloud); omitted = none. */
  targets?: readonly TargetState[];
  /** The tick's image jobs: the project's cursor and the records that changed (absent: none watched). */
  jobs?: { cursor: JobCursor; records: readonly JobRecord[] } | undefined;
}

/** Which jobs {@link Store.listJobs} returns. */
export interface JobFilter {
  /** active: WAITING/RUNNING; finished: ended; failed: FAILED or with a failed sub-job. */
  state?: "active" | "finished" | "failed";
  projectId?: string;
  serverId?: string;
  /** Jobs that began (or, without a begin time, were first seen) at or after this time (ms). */
  since?: number;
}

/** One `image_server.status_changed`, as the status page's strip reads it. */
export interface StatusChange {
  projectId: string;
  serverId: string;
  occurredAt: number;
  previousStatus: string | null;
  /** When the previous status began (ms), from `previous_status_duration_seconds`; null when unknown. */
  previousSince: number | null;
  status: string | null;
}

/** The latest job outcome known for a server: an `image_job.*` event or a status change's `job` field. */
export interface JobResult {
  projectId: string;
  serverId: string;
  occurredAt: number;
  /** `image_job.failed`, `image_job.succeeded`, `image_job.stuck`, or `image_server.status_changed`. */
  eventType: string;
  jobType: string;
  status: string;
  /** The failure reason (`error_code: error_message` of the first failure), "" when none. */
  reason: string;
}

export interface Store {
  /** Every persisted server state. */
  loadServers(): ServerState[];
  /** Every persisted target state (DESIGN §10). */
  loadTargets(): TargetState[];
  /** Writes servers, events and delivery rows in ONE transaction. Returns the ids of the events newly inserted. */
  commitPoll(commit: PollCommit): string[];
  /**
   * Forgets server states (no longer watched by any target or shard, or gone longer than the retention).
   * Their events and deliveries stay. Returns how many rows were deleted.
   */
  deleteServers(keys: ReadonlyArray<{ projectId: string; serverId: string }>): number;
  /**
   * Replaces the warm listings (per cloud name, opaque JSON: what a cloud client exports of the list
   * pages it remembers) left for the next start. Written by a stopping daemon after its last commit.
   */
  saveWarmListings(byCloud: ReadonlyMap<string, unknown>): void;
  /**
   * The warm listings left by the last daemon, deleted as they are read (they are good for one start).
   * Empty when none were left, or when the servers table was written since: any server write or delete
   * drops them, so they never describe states other than the stored ones.
   */
  takeWarmListings(): Map<string, unknown>;
  /**
   * Pending deliveries of `webhook` that are due at `now`, oldest first, at most `limit`. A delivery is not
   * returned while an earlier pending delivery (lower seq) of the same server for the same webhook exists:
   * per-server order. `exclude` lists event ids already in flight.
   */
  dueDeliveries(webhook: string, now: number, limit: number, exclude?: ReadonlySet<string>): DueDelivery[];
  /** The earliest nextAttemptAt of pending deliveries for `webhook`, or null when none pend. */
  nextDueAt(webhook: string): number | null;
  markDelivered(eventId: string, webhook: string, attempts: number, now: number): void;
  markRetry(
    eventId: string,
    webhook: string,
    attempts: number,
    nextAttemptAt: number,
    lastError: string,
    now: number,
  ): void;
  markDead(eventId: string, webhook: string, attempts: number, lastError: string, now: number): void;
  /**
   * Re-queues every delivery of an event (dead or delivered → pending, attempts reset, due now; pending →
   * due now). With `webhook`, only that one. Returns how many rows were re-queued; 0 when the event is unknown.
   */
  requeue(eventId: string, now: number, webhook?: string): number;
  /**
   * Re-queues the deliveries of an event that `scope` selects, in one transaction: dead or delivered rows
   * become pending with attempts, error and createdAt reset; pending rows become due now. Returns what it
   * re-queued, or `undefined` when the event is unknown.
   */
  replay(eventId: string, now: number, scope: ReplayScope): ReplayedDelivery[] | undefined;
  /** Pending count and the createdAt of the oldest pending delivery, per webhook name. */
  queueStats(): Map<string, { depth: number; oldestCreatedAt: number | null }>;
  /** Newest first (by commit order), at most `limit`, each with all its deliveries, narrowed by `filter`. */
  listEvents(limit: number, filter?: EventFilter): EventWithDeliveries[];
  /** Every `image_server.status_changed` that occurred at or after `since` (ms), oldest first. */
  statusChangesSince(since: number): StatusChange[];
  /** `previous_status_duration_seconds` of every BUILDING→BUILT change at or after `since` (ms). */
  buildDurationsSince(since: number): number[];
  /** The newest job result per server among events at or after `since` (ms). */
  lastJobResults(since: number): JobResult[];
  /** One event with all its deliveries, or undefined when no event has this id. */
  getEvent(eventId: string): EventWithDeliveries | undefined;
  /**
   * Deletes events older than `before` (ms) whose deliveries are all delivered (or that have none), with
   * their deliveries, oldest first: at most `limit` of them in one transaction (all when omitted). Returns
   * how many it deleted.
   */
  prune(before: number, limit?: number): number;
  /**
   * Deletes the records of one project's finished jobs that ended (or, without an end, began) before
   * `before` (ms): the rule of `jobRetainedSince` (domain/jobs.ts); active jobs and jobs without a begin
   * time stay. Oldest first, at most `limit` in one transaction (all when omitted). Returns the deleted
   * job ids, and remembers `before` for the project (see {@link jobsPrunedBefore}).
   */
  pruneJobs(projectId: string, before: number, limit?: number): string[];
  /**
   * The latest cut-off `pruneJobs` was called with for the project (ms; it never goes back), undefined
   * before the first: a finished job of it that aged out before this has no record, pruned or never seen.
   */
  jobsPrunedBefore(projectId: string): number | undefined;
  /** One project's job cursor (undefined before its first job tick) and every job record of it. */
  loadJobs(projectId: string): { cursor: JobCursor | undefined; jobs: JobRecord[] };
  /** Job records, newest begin time first, at most `limit`, narrowed by `filter`. */
  listJobs(limit: number, filter?: JobFilter): JobRecord[];
  /** True when a write succeeds (for /-/ready). */
  isWritable(): boolean;
  close(): void;
}
