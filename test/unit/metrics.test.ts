import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { type ImageServer, KNOWN_STATUSES, type ServerState } from "../../src/domain/types.js";
import { metricsConfigOf } from "../../src/metrics/from-config.js";
import {
  createMetrics,
  DELIVERY_OUTCOMES,
  escapeLabelValue,
  type Metrics,
  REQUEST_OUTCOMES,
} from "../../src/metrics/metrics.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  samples: Sample[];
  /** metric family name → TYPE */
  types: Map<string, string>;
  helps: Map<string, string>;
  text: string;
}

/** A strict little parser of the text exposition format (enough to pin what we emit). */
function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# HELP ")) {
      const rest = line.slice(7);
      const sp = rest.indexOf(" ");
      const name = rest.slice(0, sp);
      assert.ok(!helps.has(name), `duplicate HELP for ${name}`);
      helps.set(name, rest.slice(sp + 1));
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice(7).split(" ");
      assert.ok(name && type);
      assert.ok(!types.has(name), `duplicate TYPE for ${name}`);
      types.set(name, type);
      continue;
    }
    assert.ok(!line.startsWith("#"), `unexpected comment: ${line}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparseable sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? "";
    let i = 0;
    while (i < body.length) {
      const eq = body.indexOf("=", i);
      const lname = body.slice(i, eq);
      assert.equal(body[eq + 1], '"');
      let j = eq + 2;
      let value = "";
      while (body[j] !== '"') {
        if (body[j] === "\\") {
          const next = body[j + 1];
          value += next === "n" ? "\n" : next;
          j += 2;
        } else {
          value += body[j];
          j += 1;
        }
      }
      labels[lname] = value;
      i = j + 1;
      if (body[i] === ",") i += 1;
    }
    samples.push({ name: m[1] as string, labels, value: Number(m[4]) });
  }
  return { samples, types, helps, text };
}

async function scrape(metrics: Metrics): Promise<Exposition> {
  const { body, contentType } = await metrics.render();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  return parseExposition(body);
}

function find(e: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return e.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

function one(e: Exposition, name: string, labels: Record<string, string> = {}): Sample {
  const found = find(e, name, labels);
  assert.equal(found.length, 1, `expected one ${name}${JSON.stringify(labels)}, got ${found.length}`);
  return found[0] as Sample;
}

const P = "0123456789abcdef0123456789abcdef";
const T0 = Date.parse("2026-11-27T10:00:00.000Z");

function server(over: Partial<ImageServer> = {}): ImageServer {
  return {
    id: "srv-1",
    name: "build-1",
    status: "BUILDING",
    updateTime: T0,
    createTime: T0 - 3_600_000,
    imageId: "img-1",
    imageType: "private",
    serverGroupId: "sg-1",
    appGroupId: "ag-1",
    apsServerId: "aps-1",
    instanceId: "ecs-1",
    raw: {},
    ...over,
  };
}

function state(over: Partial<ServerState> = {}, srv: Partial<ImageServer> = {}): ServerState {
  const s = server(srv);
  return {
    projectId: P,
    serverId: s.id,
    name: s.name,
    status: s.status,
    statusSince: T0,
    present: true,
    stuck: false,
    stuckNotifiedAt: null,
    stuckCount: 0,
    consecutiveFailures: 0,
    pollFailedNotified: false,
    lastPollAt: T0 + 30_000,
    lastPollOk: true,
    lastSuccessAt: T0 + 30_000,
    lastError: null,
    server: s,
    ...over,
  };
}

const ids = { project_id: P, server_id: "srv-1" };

describe("metrics: per-server series", () => {
  it("after any one input of a server's series changes, exports exactly what a fresh instance exports for the new state", async () => {
    // setServer rebuilds only the families whose inputs moved: each step changes one input, and the
    // incremental exposition must equal one built from scratch.
    const srv = (s: ServerState, over: Partial<ImageServer>): ServerState => ({
      ...s,
      server: { ...(s.server ?? server()), ...over },
    });
    // Each step changes one thing of the state before it.
    const steps: Array<[string, (s: ServerState) => ServerState]> = [
      ["status", (s) => ({ ...s, status: "ACTIVE" })],
      ["unknown status", (s) => ({ ...s, status: "FROZEN" })],
      ["known again", (s) => ({ ...s, status: "BUILT" })],
      ["status since", (s) => ({ ...s, statusSince: T0 + 5_000 })],
      ["name", (s) => srv(s, { name: "renamed" })],
      ["image id", (s) => srv(s, { imageId: "img-2" })],
      ["image type", (s) => srv(s, { imageType: "gold" })],
      ["server group", (s) => srv(s, { serverGroupId: "sg-2" })],
      ["app group", (s) => srv(s, { appGroupId: "ag-2" })],
      ["aps server", (s) => srv(s, { apsServerId: "aps-2" })],
      ["instance", (s) => srv(s, { instanceId: "ecs-2" })],
      ["create time", (s) => srv(s, { createTime: T0 - 60_000 })],
      ["no create time", (s) => srv(s, { createTime: null })],
      ["stuck", (s) => ({ ...s, stuck: true })],
      ["not stuck", (s) => ({ ...s, stuck: false })],
      ["poll failed", (s) => ({ ...s, lastPollOk: false })],
      ["never polled", (s) => ({ ...s, lastPollOk: null, lastSuccessAt: null })],
      ["poll ok", (s) => ({ ...s, lastPollOk: true, lastSuccessAt: T0 + 90_000 })],
      ["no API object", (s) => ({ ...s, name: "from-state", server: null })],
      ["its name without an API object", (s) => ({ ...s, name: "other" })],
      ["API object again", (s) => srv(s, {})],
      ["the same fields in a new object", (s) => srv(s, {})],
    ];
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    let next = state();
    m.setServer(next);
    for (const [what, change] of steps) {
      next = change(next);
      m.setServer(next);
      const fresh = createMetrics({ version: "1.2.3", collectDefault: false });
      fresh.setServer(next);
      const perServer = (e: Exposition) =>
        e.samples.filter((x) => x.labels.server_id === "srv-1").map((x) => JSON.stringify(x));
      assert.deepEqual(perServer(await scrape(m)), perServer(await scrape(fresh)), `after: ${what}`);
    }
  });

  it("exports the status state set: 1 for the current known status, 0 for the other five", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    m.setServer(state({ status: "ACTIVE" }, { status: "ACTIVE" }));
    const e = await scrape(m);
    const series = find(e, "imagewatch_image_server_status", ids);
    assert.deepEqual(
      series.map((s) => [s.labels.status, s.value]),
      KNOWN_STATUSES.map((st) => [st, st === "ACTIVE" ? 1 : 0]),
    );
    assert.equal(e.types.get("imagewatch_image_server_status"), "gauge");
  });

  it("adds one series with 1 for UNKNOWN or an unexpected status, and drops it when the status is known again", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    m.setServer(state({ status: "UNKNOWN" }));
    let e = await scrape(m);
    let series = find(e, "imagewatch_image_server_status", ids);
    assert.equal(series.length, 7);
    assert.equal(one(e, "imagewatch_image_server_status", { ...ids, status: "UNKNOWN" }).value, 1);
    for (const st of KNOWN_STATUSES) {
      assert.equal(one(e, "imagewatch_image_server_status", { ...ids, status: st }).value, 0);
    }

    m.setServer(state({ status: "FROZEN" }));
    e = await scrape(m);
    series = find(e, "imagewatch_image_server_status", ids);
    assert.equal(series.length, 7);
    assert.equal(find(e, "imagewatch_image_server_status", { status: "UNKNOWN" }).length, 0);
    assert.equal(one(e, "imagewatch_image_server_status", { ...ids, status: "FROZEN" }).value, 1);

    m.setServer(state({ status: "BUILT" }));
    e = await scrape(m);
    series = find(e, "imagewatch_image_server_status", ids);
    assert.equal(series.length, 6);
    assert.equal(find(e, "imagewatch_image_server_status", { status: "FROZEN" }).length, 0);
    assert.equal(one(e, "imagewatch_image_server_status", { ...ids, status: "BUILT" }).value, 1);
  });

  it("exports image_server_info with every label, and replaces the series when a label changes", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    m.setServer(state());
    let e = await scrape(m);
    const info = one(e, "imagewatch_image_server_info");
    assert.deepEqual(info.labels, {
      project_id: P,
      server_id: "srv-1",
      name: "build-1",
      image_id: "img-1",
      image_type: "private",
      server_group_id: "sg-1",
      app_group_id: "ag-1",
      aps_server_id: "aps-1",
      instance_id: "ecs-1",
    });
    assert.equal(info.value, 1);

    m.setServer(state({}, { imageId: "img-2", name: "build-1b" }));
    e = await scrape(m);
    const after = one(e, "imagewatch_image_server_info");
    assert.equal(after.labels.image_id, "img-2");
    assert.equal(after.labels.name, "build-1b");
    assert.equal(find(e, "imagewatch_image_server_info", { image_id: "img-1" }).length, 0);
  });

  it("exports the timestamps, stuck and poll success gauges from the state", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    m.setServer(state({ statusSince: T0 + 1234, stuck: true, lastPollOk: true, lastSuccessAt: T0 + 30_500 }));
    let e = await scrape(m);
    assert.equal(
      one(e, "imagewatch_image_server_status_changed_timestamp_seconds", ids).value,
      (T0 + 1234) / 1000,
    );
    assert.equal(
      one(e, "imagewatch_image_server_created_timestamp_seconds", ids).value,
      (T0 - 3_600_000) / 1000,
    );
    assert.equal(one(e, "imagewatch_image_server_stuck", ids).value, 1);
    assert.equal(one(e, "imagewatch_image_server_poll_success", ids).value, 1);
    assert.equal(
      one(e, "imagewatch_image_server_last_poll_success_timestamp_seconds", ids).value,
      (T0 + 30_500) / 1000,
    );
    for (const name of [
      "imagewatch_image_server_status_changed_timestamp_seconds",
      "imagewatch_image_server_created_timestamp_seconds",
      "imagewatch_image_server_stuck",
      "imagewatch_image_server_poll_success",
      "imagewatch_image_server_last_poll_success_timestamp_seconds",
    ]) {
      assert.equal(e.types.get(name), "gauge", name);
      assert.ok((e.helps.get(name) ?? "").length > 10, `${name} has a help text`);
    }

    // A failed poll, never a success, no create_time: poll_success 0, the two optional series absent.
    m.setServer(state({ stuck: false, lastPollOk: false, lastSuccessAt: null }, { createTime: null }));
    e = await scrape(m);
    assert.equal(one(e, "imagewatch_image_server_stuck", ids).value, 0);
    assert.equal(one(e, "imagewatch_image_server_poll_success", ids).value, 0);
    assert.equal(find(e, "imagewatch_image_server_last_poll_success_timestamp_seconds").length, 0);
    assert.equal(find(e, "imagewatch_image_server_created_timestamp_seconds").length, 0);
    // Headers stay, so the family is known before it has samples.
    assert.equal(e.types.get("imagewatch_image_server_created_timestamp_seconds"), "gauge");
  });

  it("removes every series of a server on removeServer, on present=false and on a null status", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    const other = { projectId: P, serverId: "srv-2" };
    const cases: Array<[string, () => void]> = [
      ["removeServer", () => m.removeServer(P, "srv-1")],
      ["present=false", () => m.setServer(state({ present: false }))],
      ["status=null", () => m.setServer(state({ status: null }))],
    ];
    for (const [label, remove] of cases) {
      m.setServer(state());
      m.setServer(state(other, { id: "srv-2" }));
      let e = await scrape(m);
      assert.ok(find(e, "imagewatch_image_server_status", { server_id: "srv-1" }).length > 0);
      remove();
      e = await scrape(m);
      const left = e.samples.filter((s) => s.labels.server_id === "srv-1");
      assert.deepEqual(left, [], `${label}: no series of srv-1 left`);
      assert.equal(find(e, "imagewatch_image_server_info", { server_id: "srv-2" }).length, 1, label);
      assert.equal(find(e, "imagewatch_image_server_status", { server_id: "srv-2" }).length, 6, label);
    }
    // Removing an unknown server is harmless.
    m.removeServer("nope", "nope");
  });

  it("escapes backslash, double quote and line feed in label values", async () => {
    const nasty = 'a"b\\c\nd';
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    m.setServer(state({ status: 'ST"\\' }, { name: nasty, imageId: "x\\y" }));
    const { body } = await m.render();
    assert.ok(body.includes('name="a\\"b\\\\c\\nd"'), "escaped name in the text");
    assert.ok(body.includes('status="ST\\"\\\\"'), "escaped status in the text");
    const e = parseExposition(body);
    const info = one(e, "imagewatch_image_server_info");
    assert.equal(info.labels.name, nasty);
    assert.equal(info.labels.image_id, "x\\y");
    assert.equal(one(e, "imagewatch_image_server_status", { status: 'ST"\\' }).value, 1);
    assert.equal(escapeLabelValue("plain"), "plain");
    assert.equal(escapeLabelValue('\\"\n'), '\\\\\\"\\n');
  });

  it("writes each family once and contiguously, with many servers", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    for (let i = 0; i < 50; i++) {
      m.setServer(
        state({ serverId: `s-${i}`, status: i % 7 === 0 ? "WEIRD" : "BUILDING" }, { id: `s-${i}` }),
      );
    }
    const { body } = await m.render();
    const seen: string[] = [];
    for (const line of body.split("\n")) {
      const m2 = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
      if (!m2 || line.startsWith("#")) continue;
      const family = (m2[1] as string).replace(/_(bucket|sum|count)$/, "");
      if (seen[seen.length - 1] !== family) {
        assert.ok(!seen.includes(family), `family ${family} is split`);
        seen.push(family);
      }
    }
    assert.equal(find(parseExposition(body), "imagewatch_image_server_status").length, 50 * 6 + 8);
  });

  it("serves the same text until something changes, and re-renders after a change", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    m.setServer(state());
    const a = (await m.render()).body;
    m.setServer(state());
    const b = (await m.render()).body;
    assert.equal(a, b);
    m.setServer(state({ stuck: true }));
    const c = (await m.render()).body;
    assert.notEqual(b, c);
    assert.equal(one(parseExposition(c), "imagewatch_image_server_stuck", ids).value, 1);
  });
});

describe("metrics: rendering", () => {
  it("does not lose a change made while a render is rebuilding (render yields between segments)", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    for (let i = 0; i < 3000; i++) m.setServer(state({ serverId: `s-${i}` }, { id: `s-${i}` }));
    let done = false;
    const pending = m.render().finally(() => {
      done = true;
    });
    // Change a server on every loop turn while the render is rebuilding its families segment by segment;
    // the last family (last poll success) is still being built when the last change lands.
    let turns = 0;
    for (;;) {
      await new Promise((r) => setImmediate(r));
      if (done) break;
      turns += 1;
      m.setServer(state({ serverId: "s-7", lastSuccessAt: T0 + turns * 1000 }, { id: "s-7" }));
      m.removeServer(P, "s-8");
    }
    assert.ok(turns > 1, "the render yielded to the event loop");
    const during = parseExposition((await pending).body);
    // Whatever the in-flight render saw, it saw each server at most once.
    assert.ok(
      find(during, "imagewatch_image_server_last_poll_success_timestamp_seconds", { server_id: "s-7" })
        .length <= 1,
    );
    assert.equal(find(during, "imagewatch_image_server_info", { server_id: "s-9" }).length, 1);
    const afterwards = await scrape(m);
    assert.equal(
      one(afterwards, "imagewatch_image_server_last_poll_success_timestamp_seconds", { server_id: "s-7" })
        .value,
      (T0 + turns * 1000) / 1000,
    );
    assert.equal(find(afterwards, "imagewatch_image_server_info", { server_id: "s-8" }).length, 0);
    assert.equal(find(afterwards, "imagewatch_image_server_info").length, 2999);
  });

  it("renders exactly what a fresh instance fed the same servers renders, after changes, removals and re-adds", async () => {
    // The per-server text is held as bytes per segment of 1,000 servers and patched in place of the old
    // bytes: any slip in offsets would show as a difference from an instance that built everything once.
    const a = createMetrics({ version: "1.2.3", collectDefault: false });
    const srv = (i: number, over: Partial<ServerState> = {}, s: Partial<ImageServer> = {}) =>
      state({ serverId: `s-${i}`, ...over }, { id: `s-${i}`, name: `b-${i}`, ...s });
    for (let i = 0; i < 2500; i++) a.setServer(srv(i));
    await a.render();
    await a.renderChunks({ gzip: true });
    // Longer and shorter blocks (multi-byte names, an unexpected status), across segment boundaries.
    a.setServer(srv(999, {}, { name: "ünïcödé ☃ a much longer name than before" }));
    a.setServer(srv(1000, { status: "WEIRD" }));
    a.setServer(srv(1001, { lastPollOk: null }, { createTime: null }));
    a.setServer(srv(1002, {}, { name: "x" }));
    a.setServer(srv(1002, {}, { name: "back and forth" }));
    a.setServer(srv(1002, {}, { name: "b-1002" }));
    a.setServer(srv(2499, { lastSuccessAt: null }));
    a.setServer(srv(1500, { status: "ACTIVE" })); // a block of the same length, other bytes
    a.removeServer(P, "s-5");
    a.setServer(srv(5));
    const expected = (): ServerState[] => {
      const out: ServerState[] = [];
      for (let i = 0; i < 2500; i++) {
        if (i === 5) continue;
        if (i === 999) out.push(srv(999, {}, { name: "ünïcödé ☃ a much longer name than before" }));
        else if (i === 1000) out.push(srv(1000, { status: "WEIRD" }));
        else if (i === 1001) out.push(srv(1001, { lastPollOk: null }, { createTime: null }));
        else if (i === 2499) out.push(srv(2499, { lastSuccessAt: null }));
        else if (i === 1500) out.push(srv(1500, { status: "ACTIVE" }));
        else out.push(srv(i));
      }
      out.push(srv(5)); // removed and seen again: last, as when it was first seen
      return out;
    };
    const b = createMetrics({ version: "1.2.3", collectDefault: false });
    for (const s of expected()) b.setServer(s);
    assert.equal((await a.render()).body, (await b.render()).body);

    // Removing most servers compacts the layout; the rest keep their order, and new ones go last.
    for (let i = 0; i < 2000; i++) a.removeServer(P, `s-${i}`);
    a.setServer(srv(9000));
    const c = createMetrics({ version: "1.2.3", collectDefault: false });
    for (const s of expected().filter((x) => Number(x.serverId.slice(2)) >= 2000)) c.setServer(s);
    c.setServer(srv(9000));
    assert.equal((await a.render()).body, (await c.render()).body);
    const gz = await a.renderChunks({ gzip: true });
    assert.equal(gunzipSync(Buffer.concat(gz.chunks)).toString("utf8"), (await c.render()).body);
  });

  it("moves every poll time of a steady poll (the same state objects, times changed in place)", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    const states = Array.from({ length: 1500 }, (_, i) =>
      state({ serverId: `s-${i}` }, { id: `s-${i}`, name: `b-${i}` }),
    );
    for (const s of states) m.setServer(s);
    const name = "imagewatch_image_server_last_poll_success_timestamp_seconds";
    await m.render();
    // Same text length (patched in place of the old bytes), then a shorter one, then one server's only.
    for (const at of [T0 + 61_000, T0 + 70_000, T0 + 70_000]) {
      for (const s of states) {
        s.lastSuccessAt = at;
        m.setServer(s);
      }
      (states[3] as ServerState).lastSuccessAt = at + 1;
      const e = await scrape(m);
      const values = find(e, name).map((x) => x.value);
      assert.equal(values.length, 1500);
      assert.deepEqual(
        values.filter((v) => v !== at / 1000),
        [(at + 1) / 1000],
      );
      assert.equal(one(e, name, { server_id: "s-3" }).value, (at + 1) / 1000);
    }
    (states[7] as ServerState).lastSuccessAt = null;
    assert.equal(find(await scrape(m), name, { server_id: "s-7" }).length, 0);
    assert.equal(find(await scrape(m), name).length, 1499);
  });

  it("renders the same bytes as chunks and as a string", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    m.setServer(state({}, { name: "ünïcödé ☃" }));
    const { chunks, contentType } = await m.renderChunks();
    const { body } = await m.render();
    assert.equal(Buffer.concat(chunks).toString("utf8"), body);
    assert.equal(contentType, m.registry.contentType);
    assert.equal(one(parseExposition(body), "imagewatch_image_server_info").labels.name, "ünïcödé ☃");
  });
});

describe("metrics: daemon series", () => {
  it("counts transitions, requests, durations, token refreshes and deliveries with their labels", async () => {
    const m = createMetrics({ version: "1.2.3", nodeVersion: "v20.20.2", collectDefault: false });
    let e = await scrape(m);
    // Known auth outcomes start at 0 so alerts see the series.
    assert.equal(one(e, "imagewatch_auth_token_refreshes_total", { outcome: "success" }).value, 0);
    assert.equal(one(e, "imagewatch_auth_token_refreshes_total", { outcome: "failure" }).value, 0);

    m.recordTransition("BUILDING", "BUILT");
    m.recordTransition("BUILDING", "BUILT");
    m.recordTransition("BUILT", "ERROR");
    m.recordRequest(P, "success", 0.2);
    m.recordRequest(P, "success", 0.03);
    m.recordRequest(P, "http_5xx", 12);
    m.recordTokenRefresh("success");
    m.recordTokenRefresh("failure");
    m.recordTokenRefresh("failure");
    m.recordDelivery("ops", "delivered");
    m.recordDelivery("ops", "retried");
    m.recordDelivery("ops", "retried");
    m.recordDelivery("ops", "dead");
    e = await scrape(m);

    assert.equal(e.types.get("imagewatch_image_server_transitions_total"), "counter");
    assert.equal(
      one(e, "imagewatch_image_server_transitions_total", { from: "BUILDING", to: "BUILT" }).value,
      2,
    );
    assert.equal(
      one(e, "imagewatch_image_server_transitions_total", { from: "BUILT", to: "ERROR" }).value,
      1,
    );

    assert.equal(e.types.get("imagewatch_poll_requests_total"), "counter");
    assert.equal(one(e, "imagewatch_poll_requests_total", { project_id: P, outcome: "success" }).value, 2);
    assert.equal(one(e, "imagewatch_poll_requests_total", { project_id: P, outcome: "http_5xx" }).value, 1);

    assert.equal(e.types.get("imagewatch_poll_duration_seconds"), "histogram");
    assert.equal(one(e, "imagewatch_poll_duration_seconds_count", { project_id: P }).value, 3);
    assert.ok(
      Math.abs(one(e, "imagewatch_poll_duration_seconds_sum", { project_id: P }).value - 12.23) < 1e-9,
    );
    assert.equal(one(e, "imagewatch_poll_duration_seconds_bucket", { project_id: P, le: "0.05" }).value, 1);
    assert.equal(one(e, "imagewatch_poll_duration_seconds_bucket", { project_id: P, le: "0.25" }).value, 2);
    assert.equal(one(e, "imagewatch_poll_duration_seconds_bucket", { project_id: P, le: "10" }).value, 2);
    assert.equal(one(e, "imagewatch_poll_duration_seconds_bucket", { project_id: P, le: "30" }).value, 3);
    assert.equal(one(e, "imagewatch_poll_duration_seconds_bucket", { project_id: P, le: "+Inf" }).value, 3);

    assert.equal(e.types.get("imagewatch_auth_token_refreshes_total"), "counter");
    assert.equal(one(e, "imagewatch_auth_token_refreshes_total", { outcome: "success" }).value, 1);
    assert.equal(one(e, "imagewatch_auth_token_refreshes_total", { outcome: "failure" }).value, 2);

    assert.equal(e.types.get("imagewatch_webhook_deliveries_total"), "counter");
    assert.equal(
      one(e, "imagewatch_webhook_deliveries_total", { webhook: "ops", outcome: "delivered" }).value,
      1,
    );
    assert.equal(
      one(e, "imagewatch_webhook_deliveries_total", { webhook: "ops", outcome: "retried" }).value,
      2,
    );
    assert.equal(one(e, "imagewatch_webhook_deliveries_total", { webhook: "ops", outcome: "dead" }).value, 1);
  });

  it("sets queue gauges per webhook, and configure drops the series of a webhook no longer configured", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    m.configure({ targets: [], webhooks: ["ops", "chat"] });
    m.setQueue("ops", 4, 12.5);
    m.recordDelivery("ops", "delivered");
    let e = await scrape(m);
    assert.equal(e.types.get("imagewatch_webhook_queue_depth"), "gauge");
    assert.equal(one(e, "imagewatch_webhook_queue_depth", { webhook: "ops" }).value, 4);
    assert.equal(one(e, "imagewatch_webhook_queue_depth", { webhook: "chat" }).value, 0);
    assert.equal(e.types.get("imagewatch_webhook_oldest_pending_age_seconds"), "gauge");
    assert.equal(one(e, "imagewatch_webhook_oldest_pending_age_seconds", { webhook: "ops" }).value, 12.5);
    assert.equal(one(e, "imagewatch_webhook_oldest_pending_age_seconds", { webhook: "chat" }).value, 0);

    m.configure({ targets: [], webhooks: ["chat"] });
    e = await scrape(m);
    assert.equal(e.samples.filter((s) => s.labels.webhook === "ops").length, 0);
    assert.equal(one(e, "imagewatch_webhook_queue_depth", { webhook: "chat" }).value, 0);
  });

  it("exports config reload, build info and shard gauges", async () => {
    const m = createMetrics({ version: "1.2.3", nodeVersion: "v20.20.2", collectDefault: false });
    let e = await scrape(m);
    assert.equal(one(e, "imagewatch_build_info").value, 1);
    assert.deepEqual(one(e, "imagewatch_build_info").labels, { version: "1.2.3", node_version: "v20.20.2" });
    assert.equal(e.types.get("imagewatch_build_info"), "gauge");
    assert.equal(one(e, "imagewatch_shard_ordinal").value, 0);
    assert.equal(one(e, "imagewatch_total_shards").value, 1);

    m.setConfigReload(true, T0);
    m.setShard(2, 5);
    e = await scrape(m);
    assert.equal(one(e, "imagewatch_config_last_reload_successful").value, 1);
    assert.equal(one(e, "imagewatch_config_last_reload_success_timestamp_seconds").value, T0 / 1000);
    assert.equal(e.types.get("imagewatch_config_last_reload_successful"), "gauge");
    assert.equal(e.types.get("imagewatch_config_last_reload_success_timestamp_seconds"), "gauge");
    assert.equal(one(e, "imagewatch_shard_ordinal").value, 2);
    assert.equal(one(e, "imagewatch_total_shards").value, 5);
    assert.equal(e.types.get("imagewatch_shard_ordinal"), "gauge");
    assert.equal(e.types.get("imagewatch_total_shards"), "gauge");

    // A failed reload flips the flag and keeps the time of the last good one.
    m.setConfigReload(false, T0 + 60_000);
    e = await scrape(m);
    assert.equal(one(e, "imagewatch_config_last_reload_successful").value, 0);
    assert.equal(one(e, "imagewatch_config_last_reload_success_timestamp_seconds").value, T0 / 1000);
  });

  it("uses its own registry per instance and adds unprefixed process defaults only when asked", async () => {
    const a = createMetrics({ version: "1", collectDefault: false });
    const b = createMetrics({ version: "2", collectDefault: true });
    assert.notEqual(a.registry, b.registry);
    a.recordTransition("A", "B");
    const ea = await scrape(a);
    const eb = await scrape(b);
    assert.equal(ea.samples.filter((s) => s.name.startsWith("process_")).length, 0);
    assert.ok(find(eb, "process_cpu_seconds_total").length > 0);
    assert.ok(find(eb, "nodejs_heap_size_used_bytes").length > 0);
    assert.equal(find(ea, "imagewatch_image_server_transitions_total", { from: "A", to: "B" }).length, 1);
    assert.equal(
      find(eb, "imagewatch_image_server_transitions_total", { from: "A", to: "B" }).length,
      0,
      "b has its own counters",
    );
    // Gauges named like counters are dropped (promtool rejects them).
    assert.equal(eb.types.has("nodejs_active_handles_total"), false);
    assert.equal(one(eb, "imagewatch_build_info").labels.node_version, process.version);
  });
});

const Q = "fedcba9876543210fedcba9876543210";

describe("metrics: bounded-label counters from zero, targets", () => {
  it("exports every from→to pair of the six known statuses at 0 before any change, and adds others as seen", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    let e = await scrape(m);
    const pairs = find(e, "imagewatch_image_server_transitions_total");
    assert.equal(pairs.length, 30);
    for (const from of KNOWN_STATUSES) {
      for (const to of KNOWN_STATUSES) {
        if (from === to) continue;
        assert.equal(one(e, "imagewatch_image_server_transitions_total", { from, to }).value, 0);
      }
    }
    m.recordTransition("BUILDING", "BUILT");
    m.recordTransition("BUILDING", "FROZEN");
    e = await scrape(m);
    assert.equal(find(e, "imagewatch_image_server_transitions_total").length, 31);
    assert.equal(
      one(e, "imagewatch_image_server_transitions_total", { from: "BUILDING", to: "BUILT" }).value,
      1,
    );
    assert.equal(
      one(e, "imagewatch_image_server_transitions_total", { from: "BUILDING", to: "FROZEN" }).value,
      1,
    );
  });

  it("exports every outcome of every configured target and webhook at 0 right after configure", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    m.configure({
      targets: [
        { projectId: P, cloud: "default", region: "cn-north-4" },
        { projectId: Q, cloud: "default", region: "" },
      ],
      webhooks: ["ops", "chat"],
    });
    const e = await scrape(m);
    for (const project_id of [P, Q]) {
      for (const outcome of REQUEST_OUTCOMES) {
        assert.equal(one(e, "imagewatch_poll_requests_total", { project_id, outcome }).value, 0);
      }
      assert.equal(one(e, "imagewatch_poll_duration_seconds_count", { project_id }).value, 0);
      assert.equal(one(e, "imagewatch_poll_tick_failures_total", { project_id }).value, 0);
      assert.equal(one(e, "imagewatch_target_up", { project_id }).value, 0);
      assert.equal(one(e, "imagewatch_target_last_success_timestamp_seconds", { project_id }).value, 0);
    }
    assert.equal(find(e, "imagewatch_poll_requests_total").length, 2 * REQUEST_OUTCOMES.length);
    for (const webhook of ["ops", "chat"]) {
      for (const outcome of DELIVERY_OUTCOMES) {
        assert.equal(one(e, "imagewatch_webhook_deliveries_total", { webhook, outcome }).value, 0);
      }
    }
    assert.equal(find(e, "imagewatch_webhook_deliveries_total").length, 6);
    for (const outcome of ["success", "failure"]) {
      assert.equal(one(e, "imagewatch_auth_token_refreshes_total", { outcome }).value, 0);
    }
    assert.deepEqual(
      find(e, "imagewatch_target_info").map((s) => [s.labels, s.value]),
      [
        [{ project_id: P, cloud: "default", region: "cn-north-4" }, 1],
        [{ project_id: Q, cloud: "default", region: "" }, 1],
      ],
    );
    for (const name of [
      "imagewatch_target_info",
      "imagewatch_target_up",
      "imagewatch_target_last_success_timestamp_seconds",
    ]) {
      assert.equal(e.types.get(name), "gauge", name);
    }
  });

  it("on reconfigure keeps the counts and health of kept targets and webhooks, starts new ones at 0 and drops removed ones", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    m.configure({ targets: [{ projectId: P, cloud: "default", region: "r1" }], webhooks: ["ops", "old"] });
    m.recordRequest(P, "success", 0.1);
    m.recordDelivery("ops", "delivered");
    m.recordDelivery("old", "dead");
    m.setTargetHealth(P, { up: true, lastSuccessAt: T0 });
    // A request for a target a reload is about to remove.
    m.recordRequest("gone", "timeout", 10);

    m.configure({
      targets: [
        { projectId: P, cloud: "default", region: "r2" },
        { projectId: Q, cloud: "default", region: "r2" },
      ],
      webhooks: ["ops", "new"],
    });
    const e = await scrape(m);
    assert.equal(one(e, "imagewatch_poll_requests_total", { project_id: P, outcome: "success" }).value, 1);
    assert.equal(
      one(e, "imagewatch_webhook_deliveries_total", { webhook: "ops", outcome: "delivered" }).value,
      1,
    );
    assert.equal(one(e, "imagewatch_target_up", { project_id: P }).value, 1);
    assert.equal(
      one(e, "imagewatch_target_last_success_timestamp_seconds", { project_id: P }).value,
      T0 / 1000,
    );
    assert.equal(one(e, "imagewatch_target_up", { project_id: Q }).value, 0);
    assert.equal(one(e, "imagewatch_poll_requests_total", { project_id: Q, outcome: "auth" }).value, 0);
    assert.equal(one(e, "imagewatch_webhook_deliveries_total", { webhook: "new", outcome: "dead" }).value, 0);
    // A region change replaces the info series; removed targets and webhooks leave no series.
    assert.deepEqual(
      find(e, "imagewatch_target_info").map((s) => s.labels.region),
      ["r2", "r2"],
    );
    assert.deepEqual(
      e.samples.filter((s) => s.labels.webhook === "old"),
      [],
    );
    assert.deepEqual(
      e.samples.filter((s) => s.labels.project_id === "gone"),
      [],
    );
  });

  it("sets target_up and target_last_success_timestamp_seconds, and ignores a target not configured", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    m.configure(
      metricsConfigOf({
        cloud: { region: "cn-north-4" },
        targets: [{ projectId: P }],
        webhooks: [{ name: "ops" }],
      }),
    );
    let e = await scrape(m);
    assert.deepEqual(one(e, "imagewatch_target_info").labels, {
      project_id: P,
      cloud: "default",
      region: "cn-north-4",
    });
    assert.equal(one(e, "imagewatch_webhook_deliveries_total", { webhook: "ops", outcome: "dead" }).value, 0);
    m.setTargetHealth(P, { up: true, lastSuccessAt: T0 + 500 });
    m.setTargetHealth("unconfigured", { up: true, lastSuccessAt: T0 });
    e = await scrape(m);
    assert.equal(one(e, "imagewatch_target_up", { project_id: P }).value, 1);
    assert.equal(
      one(e, "imagewatch_target_last_success_timestamp_seconds", { project_id: P }).value,
      (T0 + 500) / 1000,
    );
    assert.equal(find(e, "imagewatch_target_up", { project_id: "unconfigured" }).length, 0);

    // Down again: up 0, the last success stays.
    m.setTargetHealth(P, { up: false, lastSuccessAt: T0 + 500 });
    e = await scrape(m);
    assert.equal(one(e, "imagewatch_target_up", { project_id: P }).value, 0);
    assert.equal(
      one(e, "imagewatch_target_last_success_timestamp_seconds", { project_id: P }).value,
      (T0 + 500) / 1000,
    );
  });
});
