import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DomainEvent } from "../../src/domain/types.js";
import {
  CONFIG,
  failed,
  imageServer,
  MIN,
  NOT_FOUND,
  names,
  ok,
  run,
  SEC,
  type Step,
  T0,
} from "../helpers/observe-fixtures.js";

const HOUR = 60 * MIN;
const CFG = { ...CONFIG, repeatEvery: 30 * MIN };

/**
 * The API's truth over time: the object a GET returns at a given moment. Replicas poll it at their own
 * times; ids must agree when they are derived from what the API said, not from when we asked.
 */
interface ApiVersion {
  from: number;
  status: string;
  updateTime: number;
}
const TIMELINE: ApiVersion[] = [
  { from: T0 - 10 * MIN, status: "CREATING", updateTime: T0 - 10 * MIN },
  { from: T0 + 5 * MIN, status: "ACTIVE", updateTime: T0 + 5 * MIN },
  { from: T0 + 20 * MIN, status: "BUILDING", updateTime: T0 + 20 * MIN },
  { from: T0 + 4 * HOUR, status: "BUILT", updateTime: T0 + 4 * HOUR },
];

function apiAt(t: number, timeline = TIMELINE): Step["result"] {
  let v: ApiVersion | undefined;
  for (const version of timeline) if (version.from <= t) v = version;
  return v ? ok(v.status, v.updateTime) : NOT_FOUND;
}

/** A replica polling every `every` ms from `start`. */
function replica(start: number, every: number, until = T0 + 5 * HOUR): Step[] {
  const steps: Step[] = [];
  for (let at = start; at <= until; at += every) steps.push({ at, result: apiAt(at) });
  return steps;
}

function idsOf(events: DomainEvent[], type: string): string[] {
  return events.filter((e) => e.type === `image_server.${type}`).map((e) => e.id);
}

describe("event ids from observe()", () => {
  it("two replicas polling the same API at different moments agree on every status change and stuck id", () => {
    const a = run(replica(T0, 30 * SEC), { config: CFG });
    const b = run(replica(T0 + 7 * SEC, 45 * SEC), { config: CFG });
    assert.deepEqual(idsOf(a.all, "status_changed"), idsOf(b.all, "status_changed"));
    assert.equal(idsOf(a.all, "status_changed").length, 3);
    assert.deepEqual(idsOf(a.all, "discovered"), idsOf(b.all, "discovered"));
    // BUILDING from T0+20m to T0+4h: stuck after 60m, reminders every 30m → slots 0..5.
    assert.deepEqual(idsOf(a.all, "stuck"), idsOf(b.all, "stuck"));
    assert.equal(idsOf(a.all, "stuck").length, 6);
    assert.deepEqual(idsOf(a.all, "stuck_resolved"), idsOf(b.all, "stuck_resolved"));
    // Same ids, but each replica's own observation time.
    const ea = a.all.find((e) => e.type === "image_server.status_changed")!;
    const eb = b.all.find((e) => e.type === "image_server.status_changed")!;
    assert.notEqual(ea.occurredAt, eb.occurredAt);
    assert.equal(ea.data.status_since, eb.data.status_since);
    assert.equal(ea.data.previous_status_duration_seconds, eb.data.previous_status_duration_seconds);
  });

  it("the same API data observed at different times gives the same status_changed id", () => {
    const steps = (lag: number): Step[] => [
      { at: T0 + lag, result: ok("BUILDING", T0 - MIN) },
      { at: T0 + MIN + lag, result: ok("BUILT", T0 + 50 * SEC) },
    ];
    const [x] = idsOf(run(steps(0)).all, "status_changed");
    const [y] = idsOf(run(steps(9 * SEC)).all, "status_changed");
    assert.ok(x);
    assert.equal(x, y);
  });

  it("a replica started later agrees on the changes it sees, and on the stuck slots", () => {
    const a = run(replica(T0, MIN), { config: CFG });
    const late = run(replica(T0 + 2 * HOUR + 13 * SEC, 2 * MIN), { config: CFG });
    // The late replica's first sight is BUILDING (stuck already, slot 1); its later events match A's.
    assert.deepEqual(names(late.perStep)[0], ["discovered", "stuck"]);
    const lateStuck = idsOf(late.all, "stuck");
    const aStuck = idsOf(a.all, "stuck");
    assert.deepEqual(lateStuck, aStuck.slice(aStuck.length - lateStuck.length));
    assert.deepEqual(idsOf(late.all, "status_changed"), idsOf(a.all, "status_changed").slice(-1));
    assert.deepEqual(idsOf(late.all, "stuck_resolved"), idsOf(a.all, "stuck_resolved"));
  });

  it("a restart between any two polls gives the same events and ids as no restart", () => {
    const steps: Step[] = [
      ...replica(T0, MIN, T0 + 3 * HOUR),
      ...[1, 2, 3, 4].map((i) => ({ at: T0 + 3 * HOUR + i * MIN, result: failed() })),
      { at: T0 + 3 * HOUR + 5 * MIN, result: apiAt(T0 + 3 * HOUR) },
      { at: T0 + 3 * HOUR + 6 * MIN, result: NOT_FOUND },
      { at: T0 + 3 * HOUR + 7 * MIN, result: NOT_FOUND },
      { at: T0 + 4 * HOUR + MIN, result: apiAt(T0 + 4 * HOUR + MIN) },
    ];
    const straight = run(steps, { config: CFG });
    const restarted = run(steps, { config: CFG, restart: true });
    assert.deepEqual(restarted.perStep, straight.perStep);
    assert.deepEqual(
      new Set(names(straight.perStep).flat()),
      new Set([
        "discovered",
        "status_changed",
        "stuck",
        "stuck_resolved",
        "poll_failed",
        "poll_recovered",
        "disappeared",
      ]),
      "the scenario covers every event type",
    );
  });

  it("every event of a rich history has its own id, and each server its own ids", () => {
    const steps: Step[] = [
      ...replica(T0, MIN),
      ...[1, 2, 3].map((i) => ({ at: T0 + 5 * HOUR + i * MIN, result: failed() })),
      { at: T0 + 5 * HOUR + 4 * MIN, result: NOT_FOUND },
      { at: T0 + 5 * HOUR + 5 * MIN, result: ok("ACTIVE", T0 + 5 * HOUR + 4 * MIN + 30 * SEC) },
      { at: T0 + 5 * HOUR + 6 * MIN, result: ok("BUILT", T0 + 5 * HOUR + 5 * MIN + 30 * SEC) },
      { at: T0 + 5 * HOUR + 7 * MIN, result: ok("ACTIVE", T0 + 5 * HOUR + 6 * MIN + 30 * SEC) },
      { at: T0 + 5 * HOUR + 8 * MIN, result: ok("BUILT", T0 + 5 * HOUR + 7 * MIN + 30 * SEC) },
    ];
    const one = run(steps, { config: CFG });
    const ids = one.all.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, "no two events of one server share an id");
    const otherSteps = steps.map((s) =>
      s.result.kind === "ok"
        ? { ...s, result: { ...s.result, server: { ...s.result.server, id: "other" } } }
        : s,
    );
    const two = run(otherSteps, { config: CFG, serverId: "other" });
    assert.equal(two.all.length, one.all.length);
    for (const id of two.all.map((e) => e.id)) assert.ok(!ids.includes(id), "ids differ across servers");
  });

  it("repeated flips between the same statuses without update_time still get distinct ids", () => {
    const steps: Step[] = ["ACTIVE", "BUILDING", "ACTIVE", "BUILDING", "ACTIVE"].map((status, i) => ({
      at: T0 + i * MIN,
      result: { kind: "ok", server: imageServer(status, null) },
    }));
    const ids = idsOf(run(steps).all, "status_changed");
    assert.equal(ids.length, 4);
    assert.equal(new Set(ids).size, 4);
  });
});
