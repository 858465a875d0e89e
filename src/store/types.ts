/**
 * The durable store's contract (DESIGN.md §7). One implementation today (SQLite); the store test suite
 * is written against this interface so any other runs the same scenarios.
 */
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
   * Re-queues an event's deliveries (dead or delivered → pending, attempts reset, due now). With `webhook`,
   * only that one. Returns how many rows were re-queued; 0 when the event is unknown.
   */
  requeue(eventId: string, now: number, webhook?: string): number;
  /** Pending count and the createdAt of the oldest pending delivery, per webhook name. */
  queueStats(): Map<string, { depth: number; oldestCreatedAt: number | null }>;
  /** Newest first, each with all its deliveries. */
  listEvents(limit: number): Array<StoredEvent & { deliveries: DeliveryRecord[] }>;
  /** Deletes events older than `before` (ms) whose deliveries are all delivered (or that have none). Returns count. */
  prune(before: number): number;
  /** True when a write succeeds (for /-/ready). */
  isWritable(): boolean;
  close(): void;
}
