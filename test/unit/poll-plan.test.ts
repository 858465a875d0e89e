import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  listResults,
  matchesTargetFilter,
  type PlanSettings,
  type PlanTarget,
  planTick,
  reusableResults,
  type TargetMemory,
  type TickPlan,
} from "../../src/domain/poll-plan.js";
import { shardOf } from "../../src/domain/sharding.js";
import type { PollError, ServerState } from "../../src/domain/types.js";
import { imageServer, MIN, PROJECT, SEC, T0 } from "../helpers/observe-fixtures.js";

const SETTINGS: PlanSettings = {
  interval: 30 * SEC,
  steadyInterval: 5 * MIN,
  sharding: { count: 1, index: 0 },
};
const NOW = T0;

/** A known server, polled `ago` ms before NOW (null: never polled). */
function known(
  serverId: string,
  status: string | null,
  ago: number | null,
  over: Partial<ServerState> = {},
): ServerState {
  return {
    projectId: PROJECT,
    serverId,
    name: `build-${serverId}`,
    status,
    statusSince: NOW - 10 * MIN,
    present: true,
    stuck: false,
    stuckNotifiedAt: null,
    stuckCount: 0,
    consecutiveFailures: 0,
    pollFailedNotified: false,
    lastPollAt: ago === null ? null : NOW - ago,
    lastPollOk: ago === null ? null : true,
    lastSuccessAt: ago === null ? null : NOW - ago,
    lastError: null,
    server: null,
    ...over,
  };
}

/** The API object of a server in enterprise project `ep`. */
function inEnterpriseProject(id: string, ep: string) {
  const server = imageServer("ACTIVE", NOW, {}, id);
  return { ...server, raw: { ...server.raw, enterprise_project_id: ep } };
}

const ids = (...serverIds: string[]): PlanTarget => ({ projectId: PROJECT, serverIds, discover: false });
const discover = (over: Partial<PlanTarget> = {}): PlanTarget => ({
  projectId: PROJECT,
  serverIds: [],
  discover: true,
  ...over,
});

/** The part of a plan a case pins: its kind and ids (and whether a list is discover's). */
function shape(plan: TickPlan): string {
  if (plan.kind === "none") return "none";
  if (plan.kind === "get") return `get ${plan.ids.join(",")}`;
  return `list${plan.discover ? " discover" : ""} ${plan.ids.join(",")}`;
}

/** Ids owned by shard `index` of 2 (found by hashing, so the case does not depend on magic ids). */
function idsOfShard(index: number, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (shardOf(`srv-${i}`, 2) === index) out.push(`srv-${i}`);
  return out;
}
const [MINE1, MINE2] = idsOfShard(0, 2) as [string, string];
const [THEIRS] = idsOfShard(1, 1) as [string];

interface Case {
  name: string;
  target: PlanTarget;
  states?: ServerState[];
  memory?: TargetMemory;
  force?: boolean;
  settings?: PlanSettings;
  want: string;
}

const CASES: Case[] = [
  // discover
  { name: "discover: the first tick lists", target: discover(), want: "list discover " },
  {
    name: "discover: nothing due, list fresh → nothing",
    target: discover(),
    states: [known("a", "ACTIVE", 30 * SEC)],
    memory: { lastListAt: NOW - 30 * SEC },
    want: "none",
  },
  {
    name: "discover: a transitional server is due → list, with the known servers that may disappear",
    target: discover(),
    states: [known("a", "ACTIVE", 30 * SEC), known("b", "BUILDING", 30 * SEC)],
    memory: { lastListAt: NOW - 30 * SEC },
    want: "list discover a,b",
  },
  {
    name: "discover: steady refresh after steadyInterval (less the slack), even with no known server",
    target: discover(),
    memory: { lastListAt: NOW - 5 * MIN + (30 * SEC) / 4 },
    want: "list discover ",
  },
  {
    name: "discover: no steady refresh before then",
    target: discover(),
    memory: { lastListAt: NOW - 4 * MIN },
    want: "none",
  },
  {
    name: "discover: force lists although nothing is due",
    target: discover(),
    states: [known("a", "ACTIVE", 1 * SEC)],
    memory: { lastListAt: NOW - 1 * SEC },
    force: true,
    want: "list discover a",
  },
  {
    name: "discover: the clock went back behind the last list → list",
    target: discover(),
    memory: { lastListAt: NOW + 10 * MIN },
    want: "list discover ",
  },
  {
    name: "discover: disappeared servers and other projects are not expected in the list",
    target: discover(),
    states: [
      known("a", "ACTIVE", 0),
      known("gone", "ACTIVE", 0, { present: false }),
      known("other", "ACTIVE", 0, { projectId: "another-project" }),
    ],
    force: true,
    want: "list discover a",
  },
  {
    name: "discover: serverName / enterpriseProjectId filter which known servers belong to the target",
    target: discover({ serverName: "build-", enterpriseProjectId: "ep-1" }),
    states: [
      known("a", "ACTIVE", 0, { name: "build-a" }),
      known("golden", "ACTIVE", 0, { name: "golden" }),
      known("ep2", "ACTIVE", 0, { name: "build-ep2", server: inEnterpriseProject("ep2", "ep-2") }),
      known("ep1", "ACTIVE", 0, { name: "build-ep1", server: inEnterpriseProject("ep1", "ep-1") }),
    ],
    force: true,
    want: "list discover a,ep1",
  },
  {
    name: "discover, sharded: only known servers this shard owns",
    target: discover(),
    states: [known(MINE1, "ACTIVE", 0), known(THEIRS, "ACTIVE", 0)],
    force: true,
    settings: { ...SETTINGS, sharding: { count: 2, index: 0 } },
    want: `list discover ${MINE1}`,
  },
  // ids
  { name: "ids: a never-seen server is due → GET", target: ids("a"), want: "get a" },
  {
    name: "ids: a transitional server every interval; a steady one waits",
    target: ids("a", "b"),
    states: [known("a", "BUILDING", 30 * SEC), known("b", "ACTIVE", 30 * SEC)],
    want: "get a",
  },
  {
    name: "ids: the slack: due a quarter interval early",
    target: ids("a"),
    states: [known("a", "BUILDING", 30 * SEC - (30 * SEC) / 4)],
    want: "get a",
  },
  {
    name: "ids: not due just before the slack",
    target: ids("a"),
    states: [known("a", "BUILDING", 30 * SEC - (30 * SEC) / 4 - 1)],
    want: "none",
  },
  {
    name: "ids: a steady server after steadyInterval",
    target: ids("a"),
    states: [known("a", "ACTIVE", 5 * MIN)],
    want: "get a",
  },
  {
    name: "ids: a failing steady server is retried every interval",
    target: ids("a"),
    states: [known("a", "ACTIVE", 30 * SEC, { consecutiveFailures: 1, lastPollOk: false })],
    want: "get a",
  },
  {
    name: "ids: a configured server that answered 404 is checked every steadyInterval",
    target: ids("a"),
    states: [known("a", "ACTIVE", 4 * MIN, { present: false })],
    want: "none",
  },
  {
    name: "ids: the clock went back behind the last poll → due",
    target: ids("a"),
    states: [known("a", "ACTIVE", -10 * MIN)],
    want: "get a",
  },
  {
    name: "ids: two due and the list's cost unknown (one page assumed) → one list",
    target: ids("a", "b"),
    want: "list a,b",
  },
  {
    name: "ids: two due but the list takes 3 pages → GETs are cheaper",
    target: ids("a", "b"),
    memory: { listPages: 3 },
    want: "get a,b",
  },
  {
    name: "ids: five due and the list takes 3 pages → the list is cheaper",
    target: ids("a", "b", "c", "d", "e"),
    memory: { listPages: 3 },
    want: "list a,b,c,d,e",
  },
  {
    name: "ids: force polls every server, due or not",
    target: ids("a"),
    states: [known("a", "ACTIVE", 1 * SEC)],
    force: true,
    want: "get a",
  },
  {
    name: "ids, sharded: only the ids this shard owns",
    target: ids(MINE1, THEIRS, MINE2),
    settings: { ...SETTINGS, sharding: { count: 2, index: 0 } },
    memory: { listPages: 5 },
    want: `get ${MINE1},${MINE2}`,
  },
  {
    name: "ids, sharded: nothing owned → nothing",
    target: ids(THEIRS),
    settings: { ...SETTINGS, sharding: { count: 2, index: 0 } },
    want: "none",
  },
];

describe("planTick", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const plan = planTick(
        c.target,
        c.states ?? [],
        NOW,
        c.settings ?? SETTINGS,
        c.memory ?? {},
        c.force ?? false,
      );
      assert.equal(shape(plan), c.want);
    });
  }

  it("gives the list its filter: serverName and enterpriseProjectId for discover, the project only for ids", () => {
    const d = planTick(
      discover({ serverName: "build-", enterpriseProjectId: "0" }),
      [],
      NOW,
      SETTINGS,
      {},
      true,
    );
    assert.equal(d.kind, "list");
    assert.deepEqual(d.kind === "list" && d.filter, { serverName: "build-", enterpriseProjectId: "0" });
    const i = planTick({ ...ids("a", "b"), enterpriseProjectId: "0" }, [], NOW, SETTINGS, {}, true);
    assert.deepEqual(i.kind === "list" && i.filter, {}, "an ids target's list is never filtered");
  });
});

describe("listResults", () => {
  const error: PollError = { kind: "http_5xx", http_status: 503, request_id: "r-1" };

  it("discover: every listed server this shard owns is ok; a known one absent from the list is not_found", () => {
    const sharding = { count: 2, index: 0 };
    const plan = planTick(
      discover(),
      [known(MINE1, "ACTIVE", 0), known(MINE2, "ACTIVE", 0)],
      NOW,
      { ...SETTINGS, sharding },
      {},
      true,
    );
    assert.equal(plan.kind, "list");
    if (plan.kind !== "list") return;
    const listed = [imageServer("ACTIVE", NOW, {}, MINE1), imageServer("BUILDING", NOW, {}, THEIRS)];
    const results = listResults(plan, listed);
    assert.deepEqual(
      [...results].map(([id, r]) => [id, r.kind]),
      [
        [MINE1, "ok"],
        [MINE2, "not_found"],
      ],
    );
  });

  it("ids: each due id is ok when listed, not_found when absent; other listed servers are ignored", () => {
    const plan = planTick(ids("a", "b"), [], NOW, SETTINGS, {}, true);
    assert.equal(plan.kind, "list");
    if (plan.kind !== "list") return;
    const results = listResults(plan, [
      imageServer("ACTIVE", NOW, {}, "a"),
      imageServer("ACTIVE", NOW, {}, "z"),
    ]);
    assert.deepEqual(
      [...results].map(([id, r]) => [id, r.kind]),
      [
        ["a", "ok"],
        ["b", "not_found"],
      ],
    );
  });

  it("a failed list fails every server of the plan, and never says one disappeared", () => {
    const plan = planTick(
      discover(),
      [known("a", "ACTIVE", 0), known("b", "ACTIVE", 0)],
      NOW,
      SETTINGS,
      {},
      true,
    );
    assert.equal(plan.kind, "list");
    if (plan.kind !== "list") return;
    const results = listResults(plan, { kind: "failed", error });
    assert.deepEqual([...results.keys()], ["a", "b"]);
    for (const r of results.values()) assert.deepEqual(r, { kind: "failed", error });
  });
});

describe("matchesTargetFilter", () => {
  it("matches serverName as a substring, and enterpriseProjectId only when the server has one", () => {
    const t = discover({ serverName: "build-", enterpriseProjectId: "ep-1" });
    assert.equal(matchesTargetFilter(t, known("a", "ACTIVE", 0, { name: "nightly-build-7" })), true);
    assert.equal(matchesTargetFilter(t, known("a", "ACTIVE", 0, { name: "golden" })), false);
    const named = { name: "build-a" };
    assert.equal(matchesTargetFilter(t, known("a", "ACTIVE", 0, named)), true, "no API object yet");
    const inEp = (ep: string) => known("a", "ACTIVE", 0, { ...named, server: inEnterpriseProject("a", ep) });
    assert.equal(matchesTargetFilter(t, inEp("ep-1")), true);
    assert.equal(matchesTargetFilter(t, inEp("ep-2")), false);
  });
});

describe("reusableResults", () => {
  const plan = () => {
    const p = planTick(discover(), [known(MINE1, "ACTIVE", 0)], NOW, SETTINGS, {}, true);
    assert.equal(p.kind, "list");
    return p as Extract<TickPlan, { kind: "list" }>;
  };
  const a = imageServer("ACTIVE", NOW, {}, MINE1);
  const b = imageServer("BUILDING", NOW, {}, MINE2);

  it("gives the last results back for the same plan and the very same server objects", () => {
    const first = plan();
    const results = listResults(first, [a, b]);
    const last = { plan: first, servers: [a, b], results };
    assert.equal(reusableResults(last, plan(), [a, b]), results, "a new array of the same objects");
  });

  it("builds anew when anything differs: an object, the order, the ids, the shard, or a failed list", () => {
    const first = plan();
    const last = { plan: first, servers: [a, b], results: listResults(first, [a, b]) };
    const equalButNew = imageServer("BUILDING", NOW, {}, MINE2);
    assert.equal(reusableResults(last, plan(), [a, equalButNew]), undefined, "an equal but other object");
    assert.equal(reusableResults(last, plan(), [b, a]), undefined, "another order");
    assert.equal(reusableResults(last, plan(), [a]), undefined, "a server fewer");
    assert.equal(reusableResults(last, { ...plan(), ids: [] }, [a, b]), undefined, "other known ids");
    const sharded = { ...plan(), sharding: { count: 2, index: 1 } };
    assert.equal(reusableResults(last, sharded, [a, b]), undefined, "another shard");
    const error: PollError = { kind: "http_5xx", http_status: 503 };
    assert.equal(reusableResults(last, plan(), { kind: "failed", error }), undefined);
    assert.equal(reusableResults(undefined, plan(), [a, b]), undefined, "nothing listed before");
  });
});
