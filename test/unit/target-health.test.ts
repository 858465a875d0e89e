import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { initialState, observe } from "../../src/domain/observe.js";
import {
  failsAsWhole,
  initialTargetState,
  observeTarget,
  type TargetState,
  type TickOutcome,
  tickOutcomeOf,
} from "../../src/domain/target-health.js";
import type { DomainEvent, PollError, ServerPollResult, ServerState } from "../../src/domain/types.js";
import { targetBanner } from "../../src/http/status-page.js";

const P = "proj";
const E503: PollError = { kind: "http_5xx", http_status: 503, error_code: "WKS.0003" };
const whole: TickOutcome = { answered: false, concerned: 300, unsent: true, error: E503, servers: 300 };
const answered: TickOutcome = { answered: true, concerned: 300, unsent: false, error: null, servers: 300 };
const ctx = (now: number) => ({ now, threshold: 3 });

/** Runs outcomes through observeTarget from `start`, collecting event types per tick. */
function run(start: TargetState, outcomes: TickOutcome[], t0 = 1000) {
  let state = start;
  const ticks: string[][] = [];
  const all: DomainEvent[] = [];
  outcomes.forEach((o, i) => {
    const out = observeTarget(state, o, ctx(t0 + i * 1000));
    state = out.state;
    ticks.push(out.events.map((e) => e.type));
    all.push(...out.events);
  });
  return { state, ticks, events: all };
}

describe("observeTarget", () => {
  it("is down and never answered before the first answer; one poll_failed at the threshold, then poll_recovered", () => {
    const { state, ticks, events } = run(initialTargetState(P, "default"), [
      whole,
      whole,
      whole,
      whole,
      answered,
      answered,
    ]);
    assert.deepEqual(ticks, [[], [], ["target.poll_failed"], [], ["target.poll_recovered"], []]);
    assert.equal(state.up, true);
    assert.equal(state.consecutiveFailures, 0);
    assert.equal(state.lastError, null);
    assert.equal(state.downSince, null);
    const failed = events[0];
    assert.equal(failed?.serverId, "");
    assert.deepEqual(failed?.data, {
      event_id: failed?.id,
      project_id: P,
      cloud: "default",
      consecutive_failures: 3,
      error: E503,
      servers: 300,
    });
    assert.equal(events[1]?.data.consecutive_failures, 4);
  });

  it("is down from the first failing tick, and remembers since when and the error", () => {
    const up = observeTarget(initialTargetState(P, "default"), answered, ctx(1000)).state;
    const down = observeTarget(up, whole, ctx(5000)).state;
    assert.equal(down.up, false);
    assert.equal(down.lastSuccessAt, 1000);
    assert.equal(down.downSince, 5000);
    assert.deepEqual(down.lastError, E503);
    assert.equal(observeTarget(down, whole, ctx(9000)).state.downSince, 5000, "the streak's start stays");
  });

  it("anchors ids to the target and the last answer before the streak, not to when a replica saw it", () => {
    const up = observeTarget(initialTargetState(P, "default"), answered, ctx(1000)).state;
    const a = run(up, [whole, whole, whole, answered], 2000).events;
    const b = run(up, [whole, whole, whole, whole, answered], 2500).events;
    assert.deepEqual(
      a.map((e) => e.id),
      b.map((e) => e.id),
      "two replicas agree on both ids",
    );
    assert.notEqual(a[0]?.id, a[1]?.id);
    // The next outage (after another answer) gets fresh ids; so does another project.
    const later = run(run(up, [whole, whole, whole, answered], 2000).state, [whole, whole, whole], 9000);
    assert.notEqual(later.events[0]?.id, a[0]?.id);
    const other = run(observeTarget(initialTargetState("other", "default"), answered, ctx(1000)).state, [
      whole,
      whole,
      whole,
    ]);
    assert.notEqual(other.events[0]?.id, a[0]?.id);
  });

  it("emits nothing for ticks that failed for one server alone, though the target is down", () => {
    const single: TickOutcome = { answered: false, concerned: 1, unsent: false, error: E503, servers: 1 };
    const { state, ticks } = run(initialTargetState(P, "default"), [single, single, single, single]);
    assert.deepEqual(ticks, [[], [], [], []]);
    assert.equal(state.up, false);
    assert.equal(state.consecutiveFailures, 4);
    assert.equal(state.failingAsWhole, false);
  });

  it("treats a tick that could not be sent as a whole failure even for one server", () => {
    const auth: TickOutcome = {
      answered: false,
      concerned: 1,
      unsent: true,
      error: { kind: "auth" },
      servers: 1,
    };
    assert.equal(failsAsWhole(auth), true);
    assert.deepEqual(run(initialTargetState(P, "default"), [auth, auth, auth]).ticks, [
      [],
      [],
      ["target.poll_failed"],
    ]);
  });
});

describe("tickOutcomeOf", () => {
  const ok = { kind: "ok" } as unknown as ServerPollResult;
  const failed = (error: PollError): ServerPollResult => ({ kind: "failed", error });

  it("answered when one server answered; a 404 is an answer", () => {
    const o = tickOutcomeOf([failed(E503), { kind: "not_found" }], { discover: false, servers: 2 });
    assert.equal(o.answered, true);
    assert.equal(failsAsWhole(o), false);
    assert.equal(tickOutcomeOf([ok, failed(E503)], { discover: false, servers: 2 }).answered, true);
  });

  it("a complete list is an answer even when it lists nothing", () => {
    assert.equal(tickOutcomeOf([], { list: "ok", discover: true, servers: 0 }).answered, true);
  });

  it("a failed list of a discover target could not be sent, even with no server known yet", () => {
    const o = tickOutcomeOf([], { list: { error: E503 }, discover: true, servers: 0 });
    assert.deepEqual(o, { answered: false, concerned: 0, unsent: true, error: E503, servers: 0 });
    assert.equal(failsAsWhole(o), true);
  });

  it("every GET failing is a whole failure for several servers, the server's own for one", () => {
    assert.equal(
      failsAsWhole(tickOutcomeOf([failed(E503), failed(E503)], { discover: false, servers: 2 })),
      true,
    );
    assert.equal(failsAsWhole(tickOutcomeOf([failed(E503)], { discover: false, servers: 1 })), false);
    assert.equal(
      failsAsWhole(tickOutcomeOf([failed({ kind: "auth" })], { discover: false, servers: 1 })),
      true,
    );
  });
});

describe("observe while the target fails as a whole", () => {
  const config = { thresholds: {}, repeatEvery: 0, pollFailureThreshold: 2 };
  const failure: ServerPollResult = { kind: "failed", error: E503 };
  const step = (prev: ServerState, targetFailing: boolean, now: number) =>
    observe(prev, failure, { projectId: P, serverId: "s", now, config, targetFailing });

  it("counts the failures but emits no poll_failed of the server's own", () => {
    let s = initialState(P, "s");
    for (let i = 0; i < 5; i++) {
      const out = step(s, true, 1000 + i);
      assert.deepEqual(out.events, [], `tick ${i}`);
      s = out.state;
    }
    assert.equal(s.consecutiveFailures, 5);
    assert.equal(s.lastPollOk, false);
    assert.equal(s.pollFailedNotified, false);
  });

  it("after the target recovers, a server still failing alone needs threshold failures of its own (no stale burst)", () => {
    let s = initialState(P, "s");
    for (let i = 0; i < 5; i++) s = step(s, true, 1000 + i).state;
    const first = step(s, false, 2000);
    assert.deepEqual(first.events, [], "one failure of its own is below the threshold of 2");
    const second = step(first.state, false, 3000);
    assert.deepEqual(
      second.events.map((e) => e.type),
      ["image_server.poll_failed"],
    );
    assert.equal(second.events[0]?.data.consecutive_failures, 7);
  });

  it("forgets the target's share of the streak once the server answers", () => {
    let s = initialState(P, "s");
    for (let i = 0; i < 3; i++) s = step(s, true, 1000 + i).state;
    assert.equal(s.targetFailures, 3);
    const server = {
      id: "s",
      name: "n",
      status: "ACTIVE",
      updateTime: 500,
      createTime: 500,
      imageId: "",
      imageType: "",
      serverGroupId: "",
      appGroupId: "",
      apsServerId: "",
      instanceId: "",
      raw: {},
    };
    const back = observe(s, { kind: "ok", server }, { projectId: P, serverId: "s", now: 2000, config });
    assert.equal(back.state.targetFailures, undefined);
    assert.equal(back.state.consecutiveFailures, 0);
    assert.ok(!back.events.some((e) => e.type === "image_server.poll_recovered"), "nothing to recover from");
  });
});

describe("the status page banner", () => {
  it("names a never-answered target as such, with its error escaped and since when", () => {
    const t = observeTarget(
      initialTargetState(P, "default"),
      { ...whole, error: { kind: "http_4xx", http_status: 400, error_msg: "<script>x</script>" } },
      ctx(Date.parse("2026-11-27T10:00:00Z")),
    ).state;
    const html = targetBanner(t, Date.parse("2026-11-27T10:05:00Z"));
    assert.match(html, /Project <code>proj<\/code> has never answered/);
    assert.match(html, /since 2026-11-27T10:00:00\.000Z \(5m 0s\)/);
    assert.match(html, /http_4xx 400 &lt;script&gt;x&lt;\/script&gt;/);
    assert.doesNotMatch(html, /<script>/);
  });

  it("shows nothing for a target that is up", () => {
    assert.equal(
      targetBanner(observeTarget(initialTargetState(P, "default"), answered, ctx(1)).state, 2),
      "",
    );
  });
});
