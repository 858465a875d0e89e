/**
 * The status page's pure parts: attention order, the 24-hour strip, build percentiles, paging of a large
 * fleet, escaping; and the store queries that feed it (status changes, build durations, last job).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DomainEvent, ServerState } from "../../src/domain/types.js";
import { renderStrip, STRIP_WINDOW_MS, stripSegments } from "../../src/http/pages/common.js";
import { renderServerPage } from "../../src/http/pages/server-page.js";
import {
  attentionOf,
  medianAndP90,
  orderByAttention,
  renderStatusPage,
  SERVERS_PER_PAGE,
} from "../../src/http/status-page.js";
import { jobResultOf } from "../../src/store/page-data.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import { commitOf, makeEvent, makeServerState } from "../helpers/store-suite.js";

const NOW = Date.parse("2026-11-27T10:00:00.000Z");

function server(id: string, over: Partial<ServerState> = {}): ServerState {
  return makeServerState({
    serverId: id,
    name: id,
    status: "BUILT",
    statusSince: NOW - 3_600_000,
    stuck: false,
    lastPollOk: true,
    lastError: null,
    consecutiveFailures: 0,
    ...over,
  });
}

describe("status page order and rows", () => {
  it("orders poll failing, ERROR, stuck, transitional, steady; by name within each", () => {
    const servers = [
      server("b-steady"),
      server("a-steady"),
      server("busy", { status: "CREATING" }),
      server("stuck", { status: "BUILDING", stuck: true }),
      server("broken", { status: "ERROR" }),
      // stuck AND failing: failing wins, and both flags show
      server("flaky", { status: "BUILDING", stuck: true, lastPollOk: false }),
    ];
    assert.deepEqual(
      orderByAttention(servers).map((s) => [s.name, attentionOf(s)]),
      [
        ["flaky", "failing"],
        ["broken", "error"],
        ["stuck", "stuck"],
        ["busy", "transitional"],
        ["a-steady", "steady"],
        ["b-steady", "steady"],
      ],
    );
    const html = renderStatusPage({
      servers,
      events: [],
      now: NOW,
      version: "t",
      stuckThresholdFor: () => 600_000,
    });
    assert.match(html, /attn-failing[^\n]*poll failing<\/span> <span class="flag flag-stuck">stuck/);
    assert.match(html, /stuck since <time datetime="[^"]+">[^<]+<\/time> \(over 10m 0s\)/);
  });

  it("escapes names, ids and API strings, and has no inline script or style", () => {
    const evil = '<img src=x onerror="alert(1)">';
    const html = renderStatusPage({
      servers: [
        server("s1", { name: evil, lastPollOk: false, lastError: { kind: "http_4xx", error_msg: evil } }),
      ],
      events: [{ ...makeEvent("e1", "s1", { projectId: "proj-1" }), seq: 1, deliveries: [] }],
      now: NOW,
      version: evil,
      filter: { server_id: evil },
    });
    assert.doesNotMatch(html, /<img/);
    assert.doesNotMatch(html, /<script>| style=|onerror="/);
    assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
  });

  it("pages a large fleet: who needs attention first, the steady ones counted and linked", () => {
    const servers = Array.from({ length: 1000 }, (_, i) =>
      server(`s${String(i).padStart(4, "0")}`, i % 100 === 0 ? { status: "ERROR" } : {}),
    );
    const html = renderStatusPage({ servers, events: [], now: NOW, version: "t" });
    assert.equal(html.match(/<tr class="server/g)?.length, 10);
    assert.match(
      html,
      /10 server\(s\) need attention; <a href="\?view=steady">990 steady server\(s\)<\/a> not listed/,
    );
    const steady = renderStatusPage({ servers, events: [], now: NOW, version: "t", view: "steady", page: 2 });
    assert.equal(steady.match(/<tr class="server/g)?.length, SERVERS_PER_PAGE);
    assert.match(steady, /Showing steady servers 201–400 of 990/);
    assert.match(steady, /href="\?view=steady&amp;page=3" rel="next"/);
  });
});

describe("the 24-hour strip", () => {
  it("starts with the first change's previous status and ends with the current one", () => {
    const changes = [
      {
        projectId: "p",
        serverId: "s",
        occurredAt: NOW - 6 * 3_600_000,
        previousStatus: "CREATING",
        previousSince: null,
        status: "BUILDING",
      },
      {
        projectId: "p",
        serverId: "s",
        occurredAt: NOW - 3_600_000,
        previousStatus: "BUILDING",
        previousSince: null,
        status: "ERROR",
      },
    ];
    const segs = stripSegments({ status: "ERROR", statusSince: NOW - 3_600_000 }, changes, NOW);
    assert.deepEqual(
      segs.map((s) => [s.status, s.to - s.from]),
      [
        ["CREATING", STRIP_WINDOW_MS - 6 * 3_600_000],
        ["BUILDING", 5 * 3_600_000],
        ["ERROR", 3_600_000],
      ],
    );
    const svg = renderStrip(segs, NOW);
    assert.match(
      svg,
      /^<svg class="strip"[^>]*role="img" aria-label="last 24 hours: CREATING 18h 0m, BUILDING 5h 0m, ERROR 1h 0m">/,
    );
    assert.deepEqual(
      [...svg.matchAll(/class="(seg-[a-z]+)"/g)].map((m) => m[1]),
      ["seg-transitional", "seg-transitional", "seg-error"],
    );
  });

  it("before the first change, knows the previous status only since it began", () => {
    const change = {
      projectId: "p",
      serverId: "s",
      occurredAt: NOW - 60_000,
      previousStatus: "BUILDING",
      previousSince: NOW - 180_000,
      status: "ERROR",
    };
    const segs = stripSegments({ status: "ERROR", statusSince: NOW - 60_000 }, [change], NOW);
    assert.deepEqual(
      segs.map((s) => [s.status, s.to - s.from]),
      [
        [null, STRIP_WINDOW_MS - 180_000],
        ["BUILDING", 120_000],
        ["ERROR", 60_000],
      ],
    );
    // A few seconds still draw a visible sliver inside the 240-unit box.
    const last = [...renderStrip(segs, NOW).matchAll(/x="([\d.]+)" y="0" width="([\d.]+)"/g)].at(-1);
    assert.ok(Number(last?.[1]) + Number(last?.[2]) <= 240.001 && Number(last?.[2]) >= 1.5);
  });

  it("without changes shows nothing known before the status began", () => {
    const segs = stripSegments({ status: "BUILT", statusSince: NOW - 3_600_000 }, [], NOW);
    assert.deepEqual(
      segs.map((s) => s.status),
      [null, "BUILT"],
    );
  });
});

describe("build durations", () => {
  it("median and p90 by nearest rank", () => {
    assert.equal(medianAndP90([]), undefined);
    assert.deepEqual(medianAndP90([600]), { median: 600, p90: 600 });
    assert.deepEqual(medianAndP90([10, 1, 9, 2, 8, 3, 7, 4, 6, 5]), { median: 5, p90: 9 });
  });
});

describe("store queries for the page", () => {
  const changed = (
    id: string,
    serverId: string,
    at: number,
    prev: string,
    status: string,
    extra = {},
  ): DomainEvent => {
    const e = makeEvent(id, serverId, { occurredAt: at });
    return {
      ...e,
      data: { ...e.data, previous_status: prev, status, previous_status_duration_seconds: 700, ...extra },
    };
  };

  it("status changes since T, BUILDING→BUILT durations, and the newest job result per server", () => {
    const store = openSqliteStore(":memory:");
    try {
      const jobFailed: DomainEvent = {
        ...makeEvent("e5", "s2", { occurredAt: NOW - 60_000 }),
        type: "image_job.failed" as DomainEvent["type"],
        data: {
          event_id: "e5",
          project_id: "proj-1",
          server_id: "s2",
          job_type: "CREATE_SERVER_IMAGE",
          status: "FAILED",
          failures: [{ error_code: "WKS.0042", error_message: "disk full" }],
        },
      };
      store.commitPoll(
        commitOf(
          [
            changed("e1", "s1", NOW - 30 * 3_600_000, "CREATING", "BUILDING"),
            changed("e2", "s1", NOW - 3_600_000, "BUILDING", "BUILT"),
            changed("e3", "s2", NOW - 7_200_000, "BUILDING", "ERROR", {
              job: {
                job_id: "j1",
                job_type: "CREATE_SERVER_IMAGE",
                status: "FAILED",
                error_code: "X",
                error_message: "old",
              },
            }),
            changed("e4", "s3", NOW - 10 * 86_400_000, "BUILDING", "BUILT"),
            jobFailed,
          ],
          [],
        ),
      );
      assert.deepEqual(
        store.statusChangesSince(NOW - STRIP_WINDOW_MS).map((c) => [c.serverId, c.previousStatus, c.status]),
        [
          ["s2", "BUILDING", "ERROR"],
          ["s1", "BUILDING", "BUILT"],
        ],
      );
      assert.deepEqual(store.buildDurationsSince(NOW - 7 * 86_400_000), [700]);
      const jobs = store.lastJobResults(NOW - 7 * 86_400_000);
      assert.deepEqual(
        jobs.map((j) => [j.serverId, j.eventType, j.jobType, j.status, j.reason]),
        [["s2", "image_job.failed", "CREATE_SERVER_IMAGE", "FAILED", "WKS.0042: disk full"]],
      );
      // A status change carrying its job tells the result too (the server page reads it from there).
      const [olderChange] = store.listEvents(10, { serverId: "s2", type: "image_server.status_changed" });
      assert.deepEqual(olderChange && jobResultOf(olderChange), {
        projectId: "proj-1",
        serverId: "s2",
        occurredAt: NOW - 7_200_000,
        eventType: "image_server.status_changed",
        jobType: "CREATE_SERVER_IMAGE",
        status: "FAILED",
        reason: "X: old",
      });
      assert.equal(store.listEvents(10, { serverId: "s1" }).map(jobResultOf).filter(Boolean).length, 0);
      const html = renderStatusPage({
        servers: [server("s2", { projectId: "proj-1", status: "ERROR" })],
        events: [],
        now: NOW,
        version: "t",
        jobs,
      });
      assert.match(html, /<td data-label="last job">CREATE_SERVER_IMAGE FAILED: WKS\.0042: disk full<\/td>/);
      const page = renderServerPage({
        server: server("s2", { projectId: "proj-1", status: "ERROR" }),
        events: store.listEvents(10, { serverId: "s2" }),
        statusChanges: [],
        job: jobs[0],
        now: NOW,
      });
      assert.match(page, /<h2>Jobs<\/h2>\n<ul class="events">[\s\S]*image_job\.failed/);
      assert.match(page, /<pre>\{\n {2}&quot;id&quot;: &quot;s2&quot;/);
    } finally {
      store.close();
    }
  });
});
