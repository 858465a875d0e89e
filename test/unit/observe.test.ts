import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { initialState, type ObserveConfig, observe } from "../../src/domain/observe.js";
import type { ServerState } from "../../src/domain/types.js";
import {
  CONFIG,
  ERROR_503,
  failed,
  imageServer,
  iso,
  MIN,
  NOT_FOUND,
  names,
  ok,
  PROJECT,
  type RunResult,
  run,
  SEC,
  SERVER,
  type Step,
  T0,
} from "../helpers/observe-fixtures.js";

interface Case {
  name: string;
  config?: Partial<ObserveConfig>;
  steps: Step[];
  /** Event names (without `image_server.`) expected from each step, in order. */
  expect: string[][];
  check?: (r: RunResult) => void;
}

const HOUR = 60 * MIN;

/** Polls every `every` ms from `from` to `to` (inclusive), all returning `result`. */
function polls(from: number, to: number, every: number, result: Step["result"]): Step[] {
  const out: Step[] = [];
  for (let at = from; at <= to; at += every) out.push({ at, result });
  return out;
}

const cases: Case[] = [
  // --- first sight -------------------------------------------------------------------------------------
  {
    name: "first sight emits discovered (never status_changed), timed from update_time",
    steps: [{ at: T0, result: ok("BUILDING", T0 - 5 * MIN) }],
    expect: [["discovered"]],
    check: ({ all, state }) => {
      const d = all[0]!.data;
      assert.equal(d.previous_status, null);
      assert.equal(d.status, "BUILDING");
      assert.equal(d.status_since, iso(T0 - 5 * MIN));
      assert.equal(state.statusSince, T0 - 5 * MIN);
      assert.equal(state.present, true);
      assert.equal(state.status, "BUILDING");
    },
  },
  {
    name: "an unchanged status emits nothing",
    steps: [
      { at: T0, result: ok("ACTIVE", T0 - MIN) },
      { at: T0 + 30 * SEC, result: ok("ACTIVE", T0 - MIN) },
      { at: T0 + 60 * SEC, result: ok("ACTIVE", T0 + 45 * SEC, { name: "renamed" }) },
    ],
    expect: [["discovered"], [], []],
    check: ({ state }) => {
      assert.equal(state.name, "renamed", "name follows the API");
      assert.equal(state.statusSince, T0 - MIN, "a new update_time without a status change keeps the start");
    },
  },
  {
    name: "first sight with update_time in the future starts the status now",
    steps: [{ at: T0, result: ok("BUILDING", T0 + 10 * MIN) }],
    expect: [["discovered"]],
    check: ({ state }) => assert.equal(state.statusSince, T0),
  },
  {
    name: "first sight without update_time starts the status now",
    steps: [{ at: T0, result: ok("BUILDING", null) }],
    expect: [["discovered"]],
    check: ({ state }) => assert.equal(state.statusSince, T0),
  },
  {
    name: "first sight with an old update_time above the threshold: discovered then stuck on that poll",
    steps: [{ at: T0, result: ok("BUILDING", T0 - 90 * MIN) }],
    expect: [["discovered", "stuck"]],
    check: ({ all, state }) => {
      const s = all[1]!.data;
      assert.equal(s.stuck_threshold_seconds, 3600);
      assert.equal(s.stuck_seconds, 5400);
      assert.equal(s.status, "BUILDING");
      assert.equal(s.status_since, iso(T0 - 90 * MIN));
      assert.equal(state.stuck, true);
      assert.equal(state.stuckCount, 1);
      assert.equal(state.stuckNotifiedAt, T0);
    },
  },
  // --- status changes ----------------------------------------------------------------------------------
  {
    name: "a change emits status_changed with the previous status and its duration",
    steps: [
      { at: T0, result: ok("BUILDING", T0 - 10 * MIN) },
      { at: T0 + 30 * SEC, result: ok("BUILDING", T0 - 10 * MIN) },
      { at: T0 + 60 * SEC, result: ok("BUILT", T0 + 50 * SEC) },
    ],
    expect: [["discovered"], [], ["status_changed"]],
    check: ({ all, state }) => {
      const e = all[1]!;
      assert.equal(e.occurredAt, T0 + 60 * SEC);
      assert.deepEqual(e.data, {
        event_id: e.id,
        project_id: PROJECT,
        server_id: SERVER,
        name: "build-1",
        status: "BUILT",
        status_since: iso(T0 + 50 * SEC),
        previous_status: "BUILDING",
        previous_status_duration_seconds: 650,
        image_server: state.server!.raw,
      });
    },
  },
  {
    name: "a change whose update_time lies between the previous poll and now starts at update_time",
    steps: [
      { at: T0, result: ok("CREATING", T0 - MIN) },
      { at: T0 + MIN, result: ok("ACTIVE", T0 + 20 * SEC) },
    ],
    expect: [["discovered"], ["status_changed"]],
    check: ({ state, all }) => {
      assert.equal(state.statusSince, T0 + 20 * SEC);
      assert.equal(all[1]!.data.previous_status_duration_seconds, 80);
    },
  },
  {
    name: "a change whose update_time is older than the previous poll starts now",
    steps: [
      { at: T0, result: ok("CREATING", T0 - 10 * MIN) },
      { at: T0 + MIN, result: ok("ACTIVE", T0 - 5 * MIN) },
    ],
    expect: [["discovered"], ["status_changed"]],
    check: ({ state, all }) => {
      assert.equal(state.statusSince, T0 + MIN);
      assert.equal(all[1]!.data.previous_status_duration_seconds, 11 * 60);
    },
  },
  {
    name: "a change whose update_time is in the future starts now",
    steps: [
      { at: T0, result: ok("CREATING", T0 - MIN) },
      { at: T0 + MIN, result: ok("ACTIVE", T0 + 5 * MIN) },
    ],
    expect: [["discovered"], ["status_changed"]],
    check: ({ state }) => assert.equal(state.statusSince, T0 + MIN),
  },
  {
    name: "a change without update_time starts now",
    steps: [
      { at: T0, result: ok("CREATING", null) },
      { at: T0 + MIN, result: ok("ACTIVE", null) },
    ],
    expect: [["discovered"], ["status_changed"]],
    check: ({ state }) => assert.equal(state.statusSince, T0 + MIN),
  },
  {
    name: "a change while the daemon was down is reported with its update_time",
    steps: [
      { at: T0, result: ok("BUILDING", T0 - MIN) },
      { at: T0 + 3 * HOUR, result: ok("BUILT", T0 + 30 * MIN) },
    ],
    expect: [["discovered"], ["status_changed"]],
    check: ({ all }) => {
      assert.equal(all[1]!.data.status_since, iso(T0 + 30 * MIN));
      assert.equal(all[1]!.data.previous_status_duration_seconds, 31 * 60);
    },
  },
  {
    name: "a change into a status already past its threshold is stuck at once (after status_changed)",
    steps: [
      { at: T0, result: ok("ACTIVE", T0 - MIN) },
      { at: T0 + 3 * HOUR, result: ok("BUILDING", T0 + 30 * MIN) },
    ],
    expect: [["discovered"], ["status_changed", "stuck"]],
  },
  // --- statuses outside the six --------------------------------------------------------------------------
  {
    name: "an unexpected status string is tracked as it is",
    steps: [
      { at: T0, result: ok("MAINTAINING", T0 - MIN) },
      { at: T0 + MIN, result: ok("ACTIVE", T0 + 30 * SEC) },
    ],
    expect: [["discovered"], ["status_changed"]],
    check: ({ all, states }) => {
      assert.equal(states[0]!.status, "MAINTAINING");
      assert.equal(all[0]!.data.status, "MAINTAINING");
      assert.equal(all[1]!.data.previous_status, "MAINTAINING");
    },
  },
  {
    name: 'the literal "null", an empty or a missing status are UNKNOWN',
    steps: [
      { at: T0, result: ok("null", T0 - MIN) },
      { at: T0 + MIN, result: ok("", T0 - MIN) },
      {
        at: T0 + 2 * MIN,
        result: { kind: "ok", server: { ...imageServer("x", T0 - MIN), status: undefined as never } },
      },
      { at: T0 + 3 * MIN, result: ok("BUILDING", T0 + 150 * SEC) },
    ],
    expect: [["discovered"], [], [], ["status_changed"]],
    check: ({ all, states }) => {
      assert.equal(states[0]!.status, "UNKNOWN");
      assert.equal(states[0]!.server!.status, "UNKNOWN");
      assert.equal(all[0]!.data.status, "UNKNOWN");
      assert.equal(all[1]!.data.previous_status, "UNKNOWN");
    },
  },
  {
    name: "a threshold may be configured for any status name, unknown ones included",
    config: { thresholds: { ACTIVE: HOUR, UNKNOWN: 10 * MIN, MAINTAINING: 5 * MIN } },
    steps: [
      { at: T0, result: ok("MAINTAINING", T0 - 6 * MIN) },
      { at: T0 + MIN, result: ok("null", T0 + 30 * SEC) },
      { at: T0 + 12 * MIN, result: ok("null", T0 + 30 * SEC) },
    ],
    expect: [["discovered", "stuck"], ["stuck_resolved", "status_changed"], ["stuck"]],
  },
  {
    name: "a status named like an Object.prototype member has no threshold",
    steps: [{ at: T0, result: ok("constructor", T0 - 100 * HOUR) }],
    expect: [["discovered"]],
  },
  // --- stuck ---------------------------------------------------------------------------------------------
  {
    name: "thresholds are per status: DELETING after 20m, BUILDING after 60m, ACTIVE never",
    steps: [
      { at: T0, result: ok("DELETING", T0 - 25 * MIN) },
      { at: T0 + MIN, result: ok("BUILDING", T0 + 30 * SEC) },
      { at: T0 + 40 * MIN, result: ok("BUILDING", T0 + 30 * SEC) },
      { at: T0 + 61 * MIN, result: ok("BUILDING", T0 + 30 * SEC) },
      { at: T0 + 62 * MIN, result: ok("ACTIVE", T0 + 61 * MIN + 30 * SEC) },
      { at: T0 + 100 * HOUR, result: ok("ACTIVE", T0 + 61 * MIN + 30 * SEC) },
    ],
    expect: [
      ["discovered", "stuck"],
      ["stuck_resolved", "status_changed"],
      [],
      ["stuck"],
      ["stuck_resolved", "status_changed"],
      [],
    ],
    check: ({ all, state }) => {
      assert.equal(all[1]!.data.stuck_threshold_seconds, 1200);
      assert.equal(all[4]!.data.stuck_threshold_seconds, 3600);
      assert.equal(state.stuck, false);
    },
  },
  {
    name: "stuck once per episode when repeatEvery is 0",
    steps: [
      { at: T0, result: ok("BUILDING", T0) },
      ...polls(T0 + 10 * MIN, T0 + 24 * HOUR, 10 * MIN, ok("BUILDING", T0)),
    ],
    expect: [
      ["discovered"],
      ...polls(T0 + 10 * MIN, T0 + 24 * HOUR, 10 * MIN, NOT_FOUND).map((s) =>
        s.at === T0 + 70 * MIN ? ["stuck"] : [],
      ),
    ],
    check: ({ state }) => assert.equal(state.stuckCount, 1),
  },
  {
    name: "reminders every repeatEvery while stuck",
    config: { repeatEvery: 30 * MIN },
    steps: [
      { at: T0, result: ok("BUILDING", T0) },
      ...polls(T0 + 10 * MIN, T0 + 160 * MIN, 10 * MIN, ok("BUILDING", T0)),
    ],
    // stuck when above 60m (the 70m poll), then at 90m, 120m and 150m.
    expect: [
      ["discovered"],
      ...polls(T0 + 10 * MIN, T0 + 160 * MIN, 10 * MIN, NOT_FOUND).map((s) =>
        [70, 90, 120, 150].includes((s.at - T0) / MIN) ? ["stuck"] : [],
      ),
    ],
    check: ({ all, state }) => {
      const stuck = all.filter((e) => e.type === "image_server.stuck");
      assert.deepEqual(
        stuck.map((e) => e.data.stuck_seconds),
        [70 * 60, 90 * 60, 120 * 60, 150 * 60],
      );
      assert.equal(new Set(stuck.map((e) => e.id)).size, 4, "each reminder has its own id");
      assert.equal(state.stuckCount, 4);
      assert.equal(state.stuckNotifiedAt, T0 + 150 * MIN);
    },
  },
  {
    name: "a poll gap over several reminder slots sends one reminder, not a burst",
    config: { repeatEvery: 10 * MIN },
    steps: [
      { at: T0, result: ok("BUILDING", T0) },
      { at: T0 + 61 * MIN, result: ok("BUILDING", T0) },
      { at: T0 + 5 * HOUR, result: ok("BUILDING", T0) },
      { at: T0 + 5 * HOUR + MIN, result: ok("BUILDING", T0) },
    ],
    expect: [["discovered"], ["stuck"], ["stuck"], []],
  },
  {
    name: "stuck_resolved comes before status_changed when a stuck status moves on",
    steps: [
      { at: T0, result: ok("BUILDING", T0 - 2 * HOUR) },
      { at: T0 + MIN, result: ok("BUILT", T0 + 30 * SEC) },
    ],
    expect: [
      ["discovered", "stuck"],
      ["stuck_resolved", "status_changed"],
    ],
    check: ({ perStep, state }) => {
      const [resolved, changed] = perStep[1]!;
      assert.equal(resolved!.data.previous_status, "BUILDING");
      assert.equal(resolved!.data.status, "BUILT");
      assert.equal(resolved!.data.stuck_threshold_seconds, 3600);
      assert.equal(resolved!.data.stuck_seconds, 2 * 3600 + 30);
      assert.equal(changed!.data.previous_status_duration_seconds, 2 * 3600 + 30);
      assert.equal(state.stuck, false);
      assert.equal(state.stuckCount, 0);
      assert.equal(state.stuckNotifiedAt, null);
    },
  },
  {
    name: "stuck_resolved then disappeared when a stuck server disappears",
    steps: [
      { at: T0, result: ok("DELETING", T0 - HOUR) },
      { at: T0 + MIN, result: NOT_FOUND },
    ],
    expect: [
      ["discovered", "stuck"],
      ["stuck_resolved", "disappeared"],
    ],
    check: ({ state }) => {
      assert.equal(state.stuck, false);
      assert.equal(state.present, false);
    },
  },
  {
    name: "removing a status's threshold (config reload) resolves its stuck episode",
    steps: [
      { at: T0, result: ok("BUILDING", T0 - 2 * HOUR) },
      { at: T0 + MIN, result: ok("BUILDING", T0 - 2 * HOUR) },
    ],
    expect: [["discovered", "stuck"], []],
    check: ({ state }) => {
      const out = observe(state, ok("BUILDING", T0 - 2 * HOUR), {
        projectId: PROJECT,
        serverId: SERVER,
        now: T0 + 2 * MIN,
        config: { ...CONFIG, thresholds: {} },
      });
      assert.deepEqual(
        out.events.map((e) => e.type),
        ["image_server.stuck_resolved"],
      );
      assert.equal(out.state.stuck, false);
    },
  },
  {
    name: "failed polls do not evaluate stuck; the next success does",
    steps: [
      { at: T0, result: ok("BUILDING", T0) },
      ...polls(T0 + 50 * MIN, T0 + 70 * MIN, 10 * MIN, failed()),
      { at: T0 + 80 * MIN, result: ok("BUILDING", T0) },
    ],
    expect: [["discovered"], [], [], ["poll_failed"], ["poll_recovered", "stuck"]],
  },
  // --- disappearance -------------------------------------------------------------------------------------
  {
    name: "disappeared once, not again while absent, then discovered again",
    steps: [
      { at: T0, result: ok("ACTIVE", T0 - HOUR) },
      { at: T0 + 5 * MIN, result: NOT_FOUND },
      { at: T0 + 10 * MIN, result: NOT_FOUND },
      { at: T0 + 15 * MIN, result: NOT_FOUND },
      { at: T0 + 20 * MIN, result: ok("BUILDING", T0 + 18 * MIN) },
    ],
    expect: [["discovered"], ["disappeared"], [], [], ["discovered"]],
    check: ({ all, states }) => {
      const gone = all[1]!.data;
      assert.equal(gone.status, "ACTIVE", "disappeared reports the last status seen");
      assert.deepEqual(gone.image_server, states[0]!.server!.raw);
      assert.equal(states[1]!.present, false);
      assert.equal(states[1]!.lastPollOk, true, "a 404 is an answer");
      const again = all[2]!;
      assert.equal(again.data.previous_status, null);
      assert.equal(again.data.status_since, iso(T0 + 18 * MIN));
      assert.notEqual(again.id, all[0]!.id);
    },
  },
  {
    name: "an unchanged object coming back keeps its status start; each flap cycle gets fresh ids",
    steps: [
      { at: T0, result: ok("CREATING", T0 - 10 * MIN) },
      // update_time older than the previous poll: the change is timed from now (T0+1m).
      { at: T0 + MIN, result: ok("BUILDING", T0 - 5 * MIN) },
      { at: T0 + 2 * MIN, result: NOT_FOUND },
      { at: T0 + 3 * MIN, result: ok("BUILDING", T0 - 5 * MIN) },
      { at: T0 + 4 * MIN, result: NOT_FOUND },
      { at: T0 + 5 * MIN, result: ok("BUILDING", T0 - 5 * MIN) },
    ],
    expect: [
      ["discovered"],
      ["status_changed"],
      ["disappeared"],
      ["discovered"],
      ["disappeared"],
      ["discovered"],
    ],
    check: ({ all, states }) => {
      assert.equal(states[3]!.statusSince, T0 + MIN, "the status never changed: its start is kept");
      // The API object is identical in both cycles; the generation counter keeps the second outage from
      // being swallowed as a duplicate of the first.
      assert.notEqual(all[4]!.id, all[2]!.id);
      assert.notEqual(all[5]!.id, all[3]!.id);
      assert.notEqual(all[3]!.id, all[0]!.id);
      assert.equal(states[4]!.generation, 2);
    },
  },
  {
    name: "a server never seen that answers not_found emits nothing, then discovered when it appears",
    steps: [
      { at: T0, result: NOT_FOUND },
      { at: T0 + 5 * MIN, result: NOT_FOUND },
      { at: T0 + 10 * MIN, result: ok("CREATING", T0 + 9 * MIN) },
    ],
    expect: [[], [], ["discovered"]],
    check: ({ states }) => {
      assert.equal(states[0]!.status, null);
      assert.equal(states[0]!.present, false);
      assert.equal(states[0]!.lastPollAt, T0);
    },
  },
  {
    name: "a failed poll never makes a server disappear",
    steps: [{ at: T0, result: ok("ACTIVE", T0) }, ...polls(T0 + MIN, T0 + 10 * MIN, MIN, failed())],
    expect: [["discovered"], [], [], ["poll_failed"], [], [], [], [], [], [], []],
    check: ({ state }) => {
      assert.equal(state.present, true);
      assert.equal(state.status, "ACTIVE");
      assert.equal(state.consecutiveFailures, 10);
    },
  },
  // --- poll failures -------------------------------------------------------------------------------------
  {
    name: "a failure streak below the threshold emits nothing",
    steps: [
      { at: T0, result: ok("ACTIVE", T0) },
      { at: T0 + MIN, result: failed() },
      { at: T0 + 2 * MIN, result: failed() },
      { at: T0 + 3 * MIN, result: ok("ACTIVE", T0) },
    ],
    expect: [["discovered"], [], [], []],
    check: ({ states }) => {
      assert.equal(states[2]!.consecutiveFailures, 2);
      assert.equal(states[2]!.lastPollOk, false);
      assert.deepEqual(states[2]!.lastError, ERROR_503);
      assert.equal(states[2]!.lastSuccessAt, T0);
      assert.equal(states[3]!.consecutiveFailures, 0);
      assert.equal(states[3]!.lastError, null);
    },
  },
  {
    name: "poll_failed once per streak, when the streak reaches the threshold",
    steps: [{ at: T0, result: ok("ACTIVE", T0) }, ...polls(T0 + MIN, T0 + 5 * MIN, MIN, failed())],
    expect: [["discovered"], [], [], ["poll_failed"], [], []],
    check: ({ all, states }) => {
      const f = all[1]!;
      assert.equal(f.data.consecutive_failures, 3);
      assert.deepEqual(f.data.error, ERROR_503);
      assert.equal(f.data.status, "ACTIVE");
      assert.equal(f.occurredAt, T0 + 3 * MIN);
      assert.equal(states[3]!.pollFailedNotified, true);
    },
  },
  {
    name: "poll_recovered on the first success after poll_failed, after the change it sees",
    steps: [
      { at: T0, result: ok("BUILDING", T0) },
      ...polls(T0 + MIN, T0 + 4 * MIN, MIN, failed()),
      { at: T0 + 5 * MIN, result: ok("BUILT", T0 + 4 * MIN + 30 * SEC) },
      { at: T0 + 6 * MIN, result: ok("BUILT", T0 + 4 * MIN + 30 * SEC) },
    ],
    expect: [["discovered"], [], [], ["poll_failed"], [], ["status_changed", "poll_recovered"], []],
    check: ({ perStep, state }) => {
      const recovered = perStep[5]![1]!;
      assert.equal(recovered.data.consecutive_failures, 4);
      assert.equal(recovered.data.status, "BUILT", "it carries the status after the change");
      assert.equal(state.consecutiveFailures, 0);
      assert.equal(state.pollFailedNotified, false);
      assert.equal(
        state.statusSince,
        T0 + 4 * MIN + 30 * SEC,
        "a change seen after failures still uses update_time",
      );
    },
  },
  {
    name: "a second streak gets its own poll_failed and poll_recovered",
    steps: [
      { at: T0, result: ok("ACTIVE", T0) },
      ...polls(T0 + MIN, T0 + 3 * MIN, MIN, failed()),
      { at: T0 + 4 * MIN, result: ok("ACTIVE", T0) },
      ...polls(T0 + 5 * MIN, T0 + 7 * MIN, MIN, failed({ kind: "timeout" })),
      { at: T0 + 8 * MIN, result: ok("ACTIVE", T0) },
    ],
    expect: [
      ["discovered"],
      [],
      [],
      ["poll_failed"],
      ["poll_recovered"],
      [],
      [],
      ["poll_failed"],
      ["poll_recovered"],
    ],
    check: ({ all }) => {
      assert.equal(new Set(all.map((e) => e.id)).size, all.length, "every event has its own id");
      assert.deepEqual(all[3]!.data.error, { kind: "timeout" });
    },
  },
  {
    name: "not_found resets the failure streak (it is an answer)",
    steps: [
      { at: T0, result: ok("ACTIVE", T0) },
      { at: T0 + MIN, result: failed() },
      { at: T0 + 2 * MIN, result: failed() },
      { at: T0 + 3 * MIN, result: NOT_FOUND },
      { at: T0 + 4 * MIN, result: failed() },
      { at: T0 + 5 * MIN, result: failed() },
    ],
    expect: [["discovered"], [], [], ["disappeared"], [], []],
    check: ({ states }) => {
      assert.equal(states[3]!.consecutiveFailures, 0);
      assert.equal(states[5]!.consecutiveFailures, 2);
    },
  },
  {
    name: "not_found after poll_failed: disappeared, then poll_recovered",
    steps: [
      { at: T0, result: ok("ACTIVE", T0) },
      ...polls(T0 + MIN, T0 + 3 * MIN, MIN, failed()),
      { at: T0 + 4 * MIN, result: NOT_FOUND },
    ],
    expect: [["discovered"], [], [], ["poll_failed"], ["disappeared", "poll_recovered"]],
  },
  {
    name: "poll_failed for a server never seen reports no status",
    config: { pollFailureThreshold: 1 },
    steps: [
      { at: T0, result: failed({ kind: "auth", http_status: 401, error_code: "APIGW.0301" }) },
      { at: T0 + MIN, result: ok("CREATING", T0 + 30 * SEC) },
    ],
    expect: [["poll_failed"], ["discovered", "poll_recovered"]],
    check: ({ all }) => {
      assert.equal(all[0]!.data.status, null);
      assert.equal(all[0]!.data.image_server, null);
      assert.equal("status_since" in all[0]!.data, false);
    },
  },
  {
    name: "a poll failure threshold below 1 counts as 1",
    config: { pollFailureThreshold: 0 },
    steps: [{ at: T0, result: failed() }],
    expect: [["poll_failed"]],
  },
  // --- clocks ----------------------------------------------------------------------------------------------
  {
    name: "a clock that goes backwards gives no negative durations and no duplicate or missed events",
    config: { repeatEvery: 30 * MIN },
    steps: [
      { at: T0, result: ok("BUILDING", T0 - 50 * MIN) },
      { at: T0 + 15 * MIN, result: ok("BUILDING", T0 - 50 * MIN) }, // 65m: stuck (slot 0)
      { at: T0 - 3 * HOUR, result: ok("BUILDING", T0 - 50 * MIN) }, // clock 3h back: nothing
      { at: T0 + 16 * MIN, result: ok("BUILDING", T0 - 50 * MIN) }, // back to normal: still slot 0
      { at: T0 + 41 * MIN, result: ok("BUILDING", T0 - 50 * MIN) }, // 91m: slot 1 reminder
      { at: T0 - HOUR, result: ok("BUILT", T0 + 40 * MIN) }, // change seen while the clock is behind
      { at: T0 - 59 * MIN, result: ok("BUILT", T0 + 40 * MIN) },
    ],
    expect: [["discovered"], ["stuck"], [], [], ["stuck"], ["stuck_resolved", "status_changed"], []],
    check: ({ all, states }) => {
      for (const e of all) {
        for (const key of ["previous_status_duration_seconds", "stuck_seconds"] as const) {
          const v = e.data[key];
          if (v !== undefined) assert.ok(v >= 0, `${e.type}.${key} = ${v}`);
        }
      }
      const changed = all.find((e) => e.type === "image_server.status_changed")!;
      assert.equal(changed.data.previous_status_duration_seconds, 0);
      assert.equal(states[5]!.statusSince, T0 - HOUR, "an update_time ahead of our clock is not trusted");
    },
  },
];

describe("observe()", () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = run(c.steps, { config: { ...CONFIG, ...c.config } });
      assert.deepEqual(names(r.perStep), c.expect);
      for (const e of r.all) {
        assert.equal(e.data.event_id, e.id, "data.event_id = id");
        assert.equal(e.projectId, PROJECT);
        assert.equal(e.serverId, SERVER);
        assert.match(e.id, /^evt_[0-9a-f]{32}$/);
      }
      c.check?.(r);
    });
  }

  it("runs every table case identically across a restart between any two polls", () => {
    for (const c of cases) {
      const config = { ...CONFIG, ...c.config };
      const straight = run(c.steps, { config });
      const restarted = run(c.steps, { config, restart: true });
      assert.deepEqual(restarted.perStep, straight.perStep, c.name);
      assert.deepEqual(restarted.state, straight.state, c.name);
    }
  });

  it("does not modify the previous state", () => {
    const first = observe(undefined, ok("BUILDING", T0 - 2 * HOUR), {
      projectId: PROJECT,
      serverId: SERVER,
      now: T0,
      config: CONFIG,
    }).state;
    const frozen = deepFreeze(structuredClone(first));
    const snapshot = structuredClone(frozen);
    for (const result of [ok("BUILT", T0 + 30 * SEC), NOT_FOUND, failed()]) {
      observe(frozen, result, { projectId: PROJECT, serverId: SERVER, now: T0 + MIN, config: CONFIG });
    }
    assert.deepEqual(frozen, snapshot);
  });

  it("starts from initialState when there is no previous state", () => {
    const init = initialState(PROJECT, SERVER);
    assert.deepEqual(init, {
      projectId: PROJECT,
      serverId: SERVER,
      name: "",
      status: null,
      statusSince: 0,
      present: false,
      stuck: false,
      stuckNotifiedAt: null,
      stuckCount: 0,
      consecutiveFailures: 0,
      pollFailedNotified: false,
      lastPollAt: null,
      lastPollOk: null,
      lastSuccessAt: null,
      lastError: null,
      server: null,
    } satisfies ServerState);
    const ctx = { projectId: PROJECT, serverId: SERVER, now: T0, config: CONFIG };
    assert.deepEqual(observe(init, ok("ACTIVE", T0), ctx), observe(undefined, ok("ACTIVE", T0), ctx));
  });

  it("records poll bookkeeping on every kind of result", () => {
    const ctx = (now: number) => ({ projectId: PROJECT, serverId: SERVER, now, config: CONFIG });
    const a = observe(undefined, ok("ACTIVE", T0), ctx(T0)).state;
    assert.deepEqual(
      [a.lastPollAt, a.lastPollOk, a.lastSuccessAt, a.consecutiveFailures, a.name, a.present],
      [T0, true, T0, 0, "build-1", true],
    );
    const b = observe(a, failed(), ctx(T0 + MIN)).state;
    assert.deepEqual(
      [b.lastPollAt, b.lastPollOk, b.lastSuccessAt, b.consecutiveFailures],
      [T0 + MIN, false, T0, 1],
    );
    assert.deepEqual(b.server, a.server, "a failed poll keeps the object last seen");
    const c = observe(b, NOT_FOUND, ctx(T0 + 2 * MIN)).state;
    assert.deepEqual(
      [c.lastPollAt, c.lastPollOk, c.lastSuccessAt, c.consecutiveFailures, c.lastError, c.present],
      [T0 + 2 * MIN, true, T0 + 2 * MIN, 0, null, false],
    );
    assert.equal(c.status, "ACTIVE", "a disappeared server keeps its last status");
  });
});

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
