import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isSteadyAnswer, type ObserveConfig, observe } from "../../src/domain/observe.js";
import type { ImageServer, ServerState } from "../../src/domain/types.js";
import { CONFIG, ERROR_503, imageServer, MIN, PROJECT, SERVER, T0 } from "../helpers/observe-fixtures.js";

const HOUR = 60 * MIN;
const NOW = T0 + 10 * HOUR;

/** A present, healthy server last polled a minute ago, holding `server`. */
function steadyState(server: ImageServer, over: Partial<ServerState> = {}): ServerState {
  return {
    projectId: PROJECT,
    serverId: SERVER,
    name: server.name,
    status: server.status,
    statusSince: T0,
    present: true,
    stuck: false,
    stuckNotifiedAt: null,
    stuckCount: 0,
    consecutiveFailures: 0,
    pollFailedNotified: false,
    lastPollAt: NOW - MIN,
    lastPollOk: true,
    lastSuccessAt: NOW - MIN,
    lastError: null,
    server,
    ...over,
  };
}

interface Case {
  name: string;
  prev: ServerState;
  /** The answer; the held object itself unless given. */
  answer?: ImageServer;
  config?: Partial<ObserveConfig>;
  steady: boolean;
}

const active = imageServer("ACTIVE", T0);
const building = imageServer("BUILDING", T0);
const untrimmed = imageServer(" ACTIVE ", T0);

const CASES: Case[] = [
  { name: "an unchanged answer of a steady server", prev: steadyState(active), steady: true },
  {
    name: "a stuck server within its episode (no reminder due)",
    prev: steadyState(building, { stuck: true, stuckNotifiedAt: T0 + 2 * HOUR, stuckCount: 1 }),
    steady: true,
  },
  {
    name: "a transitional server below its threshold",
    prev: steadyState(building, { statusSince: NOW - 10 * MIN }),
    steady: true,
  },
  {
    name: "a server that has already disappeared once (generation kept)",
    prev: steadyState(active, { generation: 2 }),
    steady: true,
  },
  {
    name: "an equal but different API object",
    prev: steadyState(active),
    answer: imageServer("ACTIVE", T0),
    steady: false,
  },
  { name: "a changed status", prev: steadyState(active), answer: imageServer("BUILT", NOW), steady: false },
  { name: "a server over its threshold, not yet stuck", prev: steadyState(building), steady: false },
  {
    name: "a stuck server whose reminder is due",
    prev: steadyState(building, { stuck: true, stuckNotifiedAt: T0 + 2 * HOUR, stuckCount: 1 }),
    config: { repeatEvery: HOUR },
    steady: false,
  },
  {
    name: "a stuck server whose threshold was removed",
    prev: steadyState(active, { stuck: true, stuckNotifiedAt: T0 + 2 * HOUR, stuckCount: 1 }),
    steady: false,
  },
  {
    name: "a server back after a failure streak",
    prev: steadyState(active, { consecutiveFailures: 2, lastPollOk: false, lastError: ERROR_503 }),
    steady: false,
  },
  {
    name: "a server whose poll_failed was sent",
    prev: steadyState(active, {
      consecutiveFailures: 3,
      pollFailedNotified: true,
      lastPollOk: false,
      lastError: ERROR_503,
    }),
    steady: false,
  },
  { name: "a server with target failures", prev: steadyState(active, { targetFailures: 0 }), steady: false },
  { name: "a server not polled yet", prev: steadyState(active, { lastPollOk: null }), steady: false },
  { name: "a disappeared server", prev: steadyState(active, { present: false }), steady: false },
  { name: "a renamed server", prev: steadyState(active, { name: "old-name" }), steady: false },
  { name: "a held object with an unnormalised status", prev: steadyState(untrimmed), steady: false },
];

describe("isSteadyAnswer", () => {
  for (const c of CASES) {
    it(`${c.steady ? "recognises" : "leaves to observe"}: ${c.name}`, () => {
      const config = { ...CONFIG, ...c.config };
      const server = c.answer ?? (c.prev.server as ImageServer);
      assert.equal(isSteadyAnswer(c.prev, server, NOW, config), c.steady);
    });
  }

  it("says steady only when observe would emit nothing and move only the poll times", () => {
    for (const c of CASES) {
      const config = { ...CONFIG, ...c.config };
      const server = c.answer ?? (c.prev.server as ImageServer);
      if (!isSteadyAnswer(c.prev, server, NOW, config)) continue;
      const before = structuredClone(c.prev);
      const out = observe(
        c.prev,
        { kind: "ok", server },
        { projectId: PROJECT, serverId: SERVER, now: NOW, config },
      );
      assert.deepEqual(out.events, [], c.name);
      assert.deepEqual(out.state, { ...before, lastPollAt: NOW, lastSuccessAt: NOW }, c.name);
      assert.equal(out.state.server, c.prev.server, c.name);
    }
  });
});
