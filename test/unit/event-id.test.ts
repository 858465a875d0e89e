import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type EventIdParts, eventId } from "../../src/domain/event-id.js";

const base: EventIdParts = {
  type: "image_server.status_changed",
  projectId: "0123456789abcdef0123456789abcdef",
  serverId: "4b1a2c3d-0000-1111-2222-333344445555",
  previousStatus: "BUILDING",
  status: "BUILT",
  updateTime: Date.parse("2026-11-27T09:10:00.000Z"),
};

describe("eventId", () => {
  it("has the form evt_ + 32 hex digits", () => {
    assert.match(eventId(base), /^evt_[0-9a-f]{32}$/);
  });

  it("is deterministic: equal parts give equal ids", () => {
    assert.equal(eventId(base), eventId({ ...base }));
    assert.equal(eventId({ ...base, discriminator: null }), eventId(base), "omitted discriminator = null");
  });

  const variants: Array<[string, Partial<EventIdParts>]> = [
    ["type", { type: "image_server.stuck" }],
    ["project", { projectId: "fedcba9876543210fedcba9876543210" }],
    ["server", { serverId: "4b1a2c3d-0000-1111-2222-333344445556" }],
    ["previous status", { previousStatus: "ACTIVE" }],
    ["previous status null", { previousStatus: null }],
    ["status", { status: "ERROR" }],
    ["update_time", { updateTime: base.updateTime! + 1 }],
    ["update_time null", { updateTime: null }],
    ["discriminator", { discriminator: "n:1" }],
    ["numeric vs string discriminator", { discriminator: 1 }],
  ];
  for (const [name, change] of variants) {
    it(`differs when the ${name} differs`, () => {
      assert.notEqual(eventId({ ...base, ...change }), eventId(base));
    });
  }

  it("cannot be fooled by separators inside values", () => {
    const a = eventId({ ...base, projectId: "p", serverId: "a,b" });
    const b = eventId({ ...base, projectId: "p,a", serverId: "b" });
    assert.notEqual(a, b);
    assert.notEqual(eventId({ ...base, discriminator: "1" }), eventId({ ...base, discriminator: 1 }));
  });

  it("treats a non-finite update_time as none", () => {
    assert.equal(eventId({ ...base, updateTime: Number.NaN }), eventId({ ...base, updateTime: null }));
  });

  it("gives distinct ids to stuck reminders", () => {
    const ids = new Set(
      [0, 1, 2, 3].map((n) =>
        eventId({
          ...base,
          type: "image_server.stuck",
          previousStatus: null,
          discriminator: `since:1:n:${n}`,
        }),
      ),
    );
    assert.equal(ids.size, 4);
  });
});
