import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normaliseScenario } from "../../src/simulator/index.js";
import { type ApiServer, createSimulatorState } from "../../src/simulator/state.js";
import { createManualClock } from "../helpers/manual-clock.js";

const P = "0123456789abcdef0123456789abcdef";
const T0 = Date.parse("2026-11-27T10:00:00.000Z");
const at = (minutes: number) => new Date(T0 - 86_400_000 + minutes * 60_000).toISOString();

/** A world of 12 servers (some sharing a create_time) and one whose timeline moves its create_time. */
function world() {
  const clock = createManualClock(T0);
  const servers = Array.from({ length: 12 }, (_, i) => ({
    id: `srv-${String(i).padStart(2, "0")}`,
    name: `bulk-${i}`,
    create_time: at(Math.floor((11 - i) / 2)),
  }));
  const scenario = normaliseScenario({
    credentials: { accessKey: "AK1", secretKey: "SK1", domain: "d", username: "u", password: "p" },
    projects: [
      {
        id: P,
        servers: [
          ...servers,
          {
            id: "srv-moves",
            name: "moves",
            create_time: at(100),
            timeline: [{ after: "1m", fields: { create_time: at(-100) } }],
          },
        ],
      },
    ],
  });
  return { clock, state: createSimulatorState({ clock, scenario }) };
}

/** Every page of 5 (the list as a client pages it), as ids. */
function pagedIds(state: ReturnType<typeof createSimulatorState>): string[] {
  const ids: string[] = [];
  for (let offset = 0; ; offset += 5) {
    const page = state.listPage(P, {}, offset, 5);
    ids.push(...page.items.map((s) => String(s.id)));
    if (offset + 5 >= page.count) return ids;
  }
}

/** The list order of the API: create_time, then id, computed from the servers themselves. */
function expectedIds(servers: readonly ApiServer[]): string[] {
  return [...servers]
    .sort(
      (a, b) =>
        Date.parse(String(a.create_time)) - Date.parse(String(b.create_time)) ||
        (String(a.id) < String(b.id) ? -1 : 1),
    )
    .map((s) => String(s.id));
}

describe("the simulator's list order", () => {
  it("follows every change that moves a server or the set of servers, between pages too", () => {
    const { clock, state } = world();
    const check = (what: string) =>
      assert.deepEqual(pagedIds(state), expectedIds(state.listServers(P)), what);
    check("at the start");
    assert.equal(pagedIds(state).at(-1), "srv-moves");

    state.addServer(P, { fields: { id: "srv-new", create_time: at(-50) }, timeline: [] });
    check("after addServer");
    assert.equal(pagedIds(state)[0], "srv-new");

    state.updateServer(P, "srv-new", { create_time: at(500) });
    check("after updateServer moved create_time");
    assert.equal(pagedIds(state).at(-1), "srv-new");

    state.removeServer(P, "srv-03");
    check("after removeServer");
    assert.ok(!pagedIds(state).includes("srv-03"));

    state.addServer(P, { fields: { id: "srv-03", create_time: at(-200) }, timeline: [] });
    check("after re-adding a removed id");
    assert.equal(pagedIds(state)[0], "srv-03");

    clock.advance(60_000);
    check("after a timeline step moved create_time");
    assert.deepEqual(pagedIds(state).slice(0, 2), ["srv-03", "srv-moves"]);

    state.setStatus(P, "srv-05", "REBUILDING");
    check("after setStatus");
  });

  it("applies the filters to the ordered list", () => {
    const { state } = world();
    const page = state.listPage(P, { serverName: "bulk-1" }, 0, 100);
    assert.deepEqual(
      page.items.map((s) => s.id),
      ["srv-10", "srv-11", "srv-01"], // 10 and 11 share a create_time: the id breaks the tie
    );
    assert.equal(page.count, 3);
  });

  it("hands out copies: changing a listed server changes nothing in the simulator", () => {
    const { state } = world();
    const [first] = state.listPage(P, {}, 0, 1).items;
    assert.ok(first);
    const before = structuredClone(first);
    first.name = "changed";
    (first.image_ref as { id: string }).id = "changed";
    (first.authorize_accounts as unknown[]).push("someone");
    assert.deepEqual(state.listPage(P, {}, 0, 1).items[0], before);
    assert.deepEqual(state.getServer(P, String(before.id)), before);
  });
});
