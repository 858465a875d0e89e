/**
 * What one tick of a target does, decided from data alone: which servers are due, and whether one list
 * call or single GETs fetch them with fewer API calls. The poller executes the plan (IO) and commits;
 * `once` plans the same way. Pure: no IO, no clock.
 */
import { ownsServer, type ShardAssignment } from "./sharding.js";
import type { ImageServer, PollError, ServerPollResult, ServerState } from "./types.js";
import { isTransitional } from "./types.js";

/** What selects a target's servers (the shape of a configured target). */
export interface PlanTarget {
  projectId: string;
  serverIds: readonly string[];
  discover: boolean;
  serverName?: string;
  enterpriseProjectId?: string;
}

/** The settings a plan depends on (ms), and this replica's shard. */
export interface PlanSettings {
  /** schedule.interval: transitional and failing servers. */
  interval: number;
  /** schedule.steadyInterval: steady and disappeared servers, and discover mode's refresh list. */
  steadyInterval: number;
  sharding: ShardAssignment;
}

/** Per-target memory kept between ticks (not persisted: it only tunes API-call choices). */
export interface TargetMemory {
  /** Pages the last full list of this project took; undefined before the first list. */
  listPages?: number;
  /** When the last complete list succeeded (discover mode's steady refresh). */
  lastListAt?: number;
  /** The last complete list's plan, answer and results, for `reusableResults`. */
  listed?: ListedResults;
}

/** What a complete list produced: its plan, the servers it answered, and `listResults` of the two. */
export interface ListedResults {
  plan: Extract<TickPlan, { kind: "list" }>;
  servers: readonly ImageServer[];
  results: ReadonlyMap<string, ServerPollResult>;
}

/** The list call's filter: `server_name` (partial match) and `enterprise_project_id`. */
export interface ListFilter {
  serverName?: string;
  enterpriseProjectId?: string;
}

/**
 * One tick's work.
 * - `none`: nothing is due.
 * - `list` with `discover`: every listed server this shard owns is observed; a known server of `ids`
 *   absent from a complete list is `not_found`.
 * - `list` without `discover`: each of `ids` (the due ones) is `ok` if listed, else `not_found`.
 * - `get`: one GET per id of `ids`.
 */
export type TickPlan =
  | { kind: "none" }
  | { kind: "list"; discover: boolean; filter: ListFilter; ids: readonly string[]; sharding: ShardAssignment }
  | { kind: "get"; ids: readonly string[] };

/** How long a server may go unpolled given its last known status. */
function pollPeriod(state: ServerState, settings: PlanSettings): number {
  if (state.status === null) return settings.interval;
  // A failing server is retried every interval, so poll_failed does not wait threshold × steadyInterval.
  if (state.consecutiveFailures > 0) return settings.interval;
  if (!state.present) return settings.steadyInterval;
  return isTransitional(state.status) ? settings.interval : settings.steadyInterval;
}

/**
 * Whether `period` has elapsed since `last`, with a slack of a quarter interval so a tick that fires a
 * little early (a late previous poll, a tick that waited for a concurrency slot) does not push the poll
 * a whole period later. A clock that went backwards (negative elapsed) counts as due: poll, rather than
 * wait for the clock to catch up.
 */
function elapsed(last: number, now: number, period: number, settings: PlanSettings): boolean {
  const e = now - last;
  return e < 0 || e + settings.interval / 4 >= period;
}

/** Whether a server is due for a poll at `now`. */
function isDue(state: ServerState | undefined, now: number, settings: PlanSettings): boolean {
  if (!state || state.lastPollAt === null) return true;
  return elapsed(state.lastPollAt, now, pollPeriod(state, settings), settings);
}

/**
 * Whether a known server belongs to a discover target: the list filters it by `serverName` (partial
 * match) and `enterpriseProjectId`, so only servers matching them can be "absent from its list". Other
 * servers of the same project may belong to another target.
 */
export function matchesTargetFilter(target: PlanTarget, state: ServerState): boolean {
  if (target.serverName && !state.name.includes(target.serverName)) return false;
  if (target.enterpriseProjectId !== undefined) {
    const epid = state.server?.raw.enterprise_project_id;
    if (epid !== undefined && epid !== target.enterpriseProjectId) return false;
  }
  return true;
}

/**
 * Plans one tick of `target` at `now`. `projectStates` are the known states of the target's project
 * (others are ignored); `force` polls every owned server whether due or not (the start-up poll, `once`).
 */
export function planTick(
  target: PlanTarget,
  projectStates: readonly ServerState[],
  now: number,
  settings: PlanSettings,
  memory: Readonly<TargetMemory>,
  force: boolean,
): TickPlan {
  const { sharding } = settings;
  if (target.discover) {
    const known = projectStates.filter(
      (s) =>
        s.projectId === target.projectId &&
        s.present &&
        ownsServer(s.serverId, sharding) &&
        matchesTargetFilter(target, s),
    );
    const listDue =
      force ||
      memory.lastListAt === undefined ||
      known.some((s) => isDue(s, now, settings)) ||
      // The steady refresh: a list every steadyInterval finds servers created since the last one.
      elapsed(memory.lastListAt, now, settings.steadyInterval, settings);
    if (!listDue) return { kind: "none" };
    return {
      kind: "list",
      discover: true,
      filter: { serverName: target.serverName, enterpriseProjectId: target.enterpriseProjectId },
      ids: known.map((s) => s.serverId),
      sharding,
    };
  }

  const byId = new Map<string, ServerState>();
  for (const s of projectStates) if (s.projectId === target.projectId) byId.set(s.serverId, s);
  const due = target.serverIds.filter(
    (id) => ownsServer(id, sharding) && (force || isDue(byId.get(id), now, settings)),
  );
  if (due.length === 0) return { kind: "none" };
  // A list costs its pages; GETs cost one call per due server. The list's cost is learnt the first time
  // more than one server is due (assumed one page until then), then the cheaper one is chosen.
  const listCost = memory.listPages ?? 1;
  if (due.length > 1 && listCost < due.length) {
    return {
      kind: "list",
      discover: false,
      // No filter: the ids name the servers. An enterpriseProjectId filter here would make a listed id
      // of another enterprise project look "disappeared", while a GET finds it.
      filter: {},
      ids: due,
      sharding,
    };
  }
  return { kind: "get", ids: due };
}

/**
 * The results of the last list, when this plan and answer are the same as its own: the same ids, the
 * same shard and mode, and the very same server objects in the same order (the cloud client hands back
 * the objects it gave last time for an unchanged answer). Undefined otherwise. A steady poll of 10,000
 * servers then builds no map of every server (a large object, allocated anew each poll).
 */
export function reusableResults(
  last: ListedResults | undefined,
  plan: Extract<TickPlan, { kind: "list" }>,
  outcome: readonly ImageServer[] | { kind: "failed"; error: PollError },
): ReadonlyMap<string, ServerPollResult> | undefined {
  if (!last || "kind" in outcome) return undefined;
  const before = last.plan;
  if (
    before.discover !== plan.discover ||
    before.sharding.count !== plan.sharding.count ||
    before.sharding.index !== plan.sharding.index ||
    !sameItems(before.ids, plan.ids) ||
    !sameItems(last.servers, outcome)
  ) {
    return undefined;
  }
  return last.results;
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The per-server results of a list plan: from the complete list, or from the failure every server of
 * the plan shares. Only a successful, complete list can say a server is absent.
 */
export function listResults(
  plan: Extract<TickPlan, { kind: "list" }>,
  outcome: readonly ImageServer[] | { kind: "failed"; error: PollError },
): Map<string, ServerPollResult> {
  const results = new Map<string, ServerPollResult>();
  if ("kind" in outcome) {
    for (const id of plan.ids) results.set(id, outcome);
    return results;
  }
  if (plan.discover) {
    for (const server of outcome) {
      if (ownsServer(server.id, plan.sharding)) results.set(server.id, { kind: "ok", server });
    }
    for (const id of plan.ids) if (!results.has(id)) results.set(id, { kind: "not_found" });
    return results;
  }
  const byId = new Map(outcome.map((s) => [s.id, s] as const));
  for (const id of plan.ids) {
    const server = byId.get(id);
    results.set(id, server ? { kind: "ok", server } : { kind: "not_found" });
  }
  return results;
}
