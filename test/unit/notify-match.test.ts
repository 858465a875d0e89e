import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DomainEvent, EventType } from "../../src/domain/types.js";
import { matchesWebhook } from "../../src/notify/match.js";

function event(type: EventType, status: string | null = "ACTIVE"): DomainEvent {
  return {
    id: "evt_1",
    type,
    occurredAt: 0,
    projectId: "p",
    serverId: "s",
    data: { event_id: "evt_1", project_id: "p", server_id: "s", name: "n", status },
  };
}

const DEFAULT_EVENTS = [
  "status_changed",
  "stuck",
  "stuck_resolved",
  "poll_failed",
  "poll_recovered",
  "disappeared",
];

describe("matchesWebhook", () => {
  const cases: Array<{
    name: string;
    event: DomainEvent;
    events: string[];
    statuses: string[];
    want: boolean;
  }> = [
    {
      name: "listed event",
      event: event("image_server.status_changed"),
      events: DEFAULT_EVENTS,
      statuses: [],
      want: true,
    },
    {
      name: "discovered is opt-in",
      event: event("image_server.discovered"),
      events: DEFAULT_EVENTS,
      statuses: [],
      want: false,
    },
    {
      name: "discovered when listed",
      event: event("image_server.discovered"),
      events: ["discovered"],
      statuses: [],
      want: true,
    },
    {
      name: "unlisted event",
      event: event("image_server.stuck"),
      events: ["status_changed"],
      statuses: [],
      want: false,
    },
    {
      name: "empty events list matches nothing",
      event: event("image_server.stuck"),
      events: [],
      statuses: [],
      want: false,
    },
    {
      name: "full type name is not a config name",
      event: event("image_server.stuck"),
      events: ["image_server.stuck"],
      statuses: [],
      want: false,
    },
    {
      name: "test event always",
      event: event("imagewatch.test"),
      events: [],
      statuses: ["ERROR"],
      want: true,
    },
    {
      name: "status filter: change into a listed status",
      event: event("image_server.status_changed", "ERROR"),
      events: DEFAULT_EVENTS,
      statuses: ["ERROR", "BUILT"],
      want: true,
    },
    {
      name: "status filter: change into another status",
      event: event("image_server.status_changed", "ACTIVE"),
      events: DEFAULT_EVENTS,
      statuses: ["ERROR", "BUILT"],
      want: false,
    },
    {
      name: "status filter: null status",
      event: event("image_server.status_changed", null),
      events: DEFAULT_EVENTS,
      statuses: ["ERROR"],
      want: false,
    },
    {
      name: "status filter is case-sensitive",
      event: event("image_server.status_changed", "error"),
      events: DEFAULT_EVENTS,
      statuses: ["ERROR"],
      want: false,
    },
    {
      name: "status filter applies to discovered",
      event: event("image_server.discovered", "BUILDING"),
      events: ["discovered"],
      statuses: ["ERROR"],
      want: false,
    },
    {
      name: "status filter: discovered in a listed status",
      event: event("image_server.discovered", "ERROR"),
      events: ["discovered"],
      statuses: ["ERROR"],
      want: true,
    },
    {
      name: "status filter does not apply to stuck",
      event: event("image_server.stuck", "BUILDING"),
      events: DEFAULT_EVENTS,
      statuses: ["ERROR"],
      want: true,
    },
    {
      name: "status filter does not apply to poll_failed",
      event: event("image_server.poll_failed", "BUILDING"),
      events: DEFAULT_EVENTS,
      statuses: ["ERROR"],
      want: true,
    },
    {
      name: "status filter does not apply to disappeared",
      event: event("image_server.disappeared", "BUILDING"),
      events: DEFAULT_EVENTS,
      statuses: ["ERROR"],
      want: true,
    },
    {
      name: "events filter still applies with statuses",
      event: event("image_server.stuck", "ERROR"),
      events: ["status_changed"],
      statuses: ["ERROR"],
      want: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(matchesWebhook(c.event, { events: c.events, statuses: c.statuses }), c.want);
    });
  }
});
