import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ServerState } from "../../src/domain/types.js";
import { needsWrite } from "../../src/poller/poll-target.js";

const base: ServerState = {
  projectId: "p",
  serverId: "s",
  name: "n",
  status: "ACTIVE",
  statusSince: 1000,
  present: true,
  stuck: false,
  stuckNotifiedAt: null,
  stuckCount: 0,
  consecutiveFailures: 0,
  pollFailedNotified: false,
  lastPollAt: 2000,
  lastPollOk: true,
  lastSuccessAt: 2000,
  lastError: null,
  generation: 0,
  server: {
    id: "s",
    name: "n",
    status: "ACTIVE",
    updateTime: 1000,
    createTime: 500,
    imageId: "",
    imageType: "gold",
    serverGroupId: "",
    appGroupId: "",
    apsServerId: "",
    instanceId: "",
    raw: { id: "s", status: "ACTIVE", image_ref: { id: "i", image_type: "gold" }, authorize_accounts: [] },
  },
};

/** A different value of the same kind, for every field. */
const changed: { [K in keyof ServerState]-?: ServerState[K] } = {
  projectId: "p",
  serverId: "s",
  name: "renamed",
  status: "BUILDING",
  statusSince: 1001,
  present: false,
  stuck: true,
  stuckNotifiedAt: 5,
  stuckCount: 1,
  consecutiveFailures: 1,
  pollFailedNotified: true,
  targetFailures: 2,
  lastPollAt: 9999,
  lastPollOk: false,
  lastSuccessAt: 9999,
  lastError: { kind: "http_5xx", http_status: 503 },
  generation: 1,
  server: {
    ...(base.server as NonNullable<ServerState["server"]>),
    raw: { ...base.server?.raw, image_id: "new" },
  },
};

describe("needsWrite", () => {
  it("skips a state whose only change is poll bookkeeping, or a fresh but equal API object", () => {
    assert.equal(needsWrite(base, { ...base, lastPollAt: 9999, lastSuccessAt: 9999 }), false);
    const copy = JSON.parse(JSON.stringify(base)) as ServerState;
    assert.equal(needsWrite(base, { ...copy, lastPollAt: 3000 }), false);
  });

  it("writes the first state of a server", () => {
    assert.equal(needsWrite(undefined, base), true);
  });

  // Every field of ServerState but the identity and bookkeeping ones: a new field must be added here.
  for (const key of Object.keys(changed) as Array<keyof ServerState>) {
    if (key === "projectId" || key === "serverId") continue;
    const expected = key !== "lastPollAt" && key !== "lastSuccessAt";
    it(`${expected ? "writes" : "skips"} a change of ${key}`, () => {
      assert.equal(needsWrite(base, { ...base, [key]: changed[key] }), expected);
    });
  }

  it("writes when a nested API field changes", () => {
    const raw = { ...base.server?.raw, image_ref: { id: "i", image_type: "private" } };
    assert.equal(
      needsWrite(base, { ...base, server: { ...(base.server as NonNullable<ServerState["server"]>), raw } }),
      true,
    );
  });

  it("compares API objects field by field: key order does not matter, a nested array element does", () => {
    const server = base.server as NonNullable<ServerState["server"]>;
    const reordered = {
      ...server,
      raw: { authorize_accounts: [], image_ref: { image_type: "gold", id: "i" }, status: "ACTIVE", id: "s" },
    };
    assert.equal(needsWrite(base, { ...base, server: reordered }), false);
    const accounts = { ...server, raw: { ...server.raw, authorize_accounts: [{ account: "a" }] } };
    assert.equal(needsWrite(base, { ...base, server: accounts }), true);
    const extraKey = {
      ...server,
      raw: { ...server.raw, image_ref: { id: "i", image_type: "gold", x: undefined } },
    };
    assert.equal(needsWrite(base, { ...base, server: extraKey }), true);
  });
});
