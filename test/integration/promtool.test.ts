import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { delimiter, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { KNOWN_STATUSES, type ServerState } from "../../src/domain/types.js";
import { createHttpServer } from "../../src/http/server.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createMetrics } from "../../src/metrics/metrics.js";
import { createManualClock } from "../helpers/manual-clock.js";

const SERVER_COUNT = 2000;
const IN_CI = process.env.CI === "true";

/** The absolute path of promtool on PATH, or undefined. */
function findPromtool(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "promtool");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Waits a little for promtool (it may still be being installed), polling with a deadline. */
async function waitForPromtool(deadlineMs: number): Promise<string | undefined> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const found = findPromtool();
    if (found || Date.now() >= end) return found;
    await new Promise((r) => setTimeout(r, 500));
  }
}

function runPromtool(bin: string, input: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      output += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
    child.stdin.on("error", () => {
      // promtool may exit before reading everything; its exit code tells.
    });
    child.stdin.end(input);
  });
}

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

const clock = createManualClock("2026-11-27T10:00:00.000Z");
const NOW = clock.now();
const STATUSES = [...KNOWN_STATUSES, "UNKNOWN", "FROZEN", 'we"ird\\status', "lower case", "line\nbreak"];

function makeState(i: number): ServerState {
  const project = `proj-${i % 7}`;
  const id = `srv-${String(i).padStart(5, "0")}`;
  const status = STATUSES[i % STATUSES.length] as string;
  const name = i % 11 === 0 ? `build "${i}" \\ back\\slash\nnewline` : `build-${i}`;
  return {
    projectId: project,
    serverId: id,
    name,
    status,
    statusSince: NOW - i * 1000,
    present: true,
    stuck: i % 13 === 0,
    stuckNotifiedAt: null,
    stuckCount: 0,
    consecutiveFailures: i % 5 === 0 ? 2 : 0,
    pollFailedNotified: false,
    lastPollAt: NOW,
    lastPollOk: i % 17 === 0 ? null : i % 5 !== 0,
    lastSuccessAt: i % 5 === 0 ? null : NOW - 1500,
    lastError: null,
    server: {
      id,
      name,
      status,
      updateTime: NOW,
      createTime: i % 3 === 0 ? null : NOW - 86_400_000 - i,
      imageId: i % 4 === 0 ? "" : `img-${i}`,
      imageType: "private",
      serverGroupId: `sg-${i % 3}`,
      appGroupId: `ag-"${i % 2}"`,
      apsServerId: `aps-${i}`,
      instanceId: `ecs\\${i}`,
      raw: {},
    },
  };
}

/** promtool's path, or undefined (then the test is skipped locally; under CI that is a failure). */
async function promtoolOrSkip(t: { skip(msg: string): void }): Promise<string | undefined> {
  const bin = await waitForPromtool(IN_CI ? 1000 : 15_000);
  if (!bin) {
    assert.ok(!IN_CI, "promtool must be installed in CI (Debian package `prometheus`)");
    t.skip("promtool not installed");
  }
  return bin;
}

describe("promtool check metrics on a scrape right after configure", () => {
  it("reports nothing for the counters exported at 0 before any event", async (t) => {
    const metrics = createMetrics({ version: "0.1.0-test", collectDefault: true });
    metrics.configure({
      targets: [
        { projectId: "proj-1", cloud: "default", region: "cn-north-4" },
        { projectId: "proj-2", cloud: "default", region: "" },
      ],
      webhooks: ["ops", 'hook "q"\\'],
    });
    const bin = await promtoolOrSkip(t);
    if (!bin) return;
    const { body } = await metrics.render();
    assert.match(body, /^imagewatch_poll_requests_total\{project_id="proj-2",outcome="auth"\} 0$/m);
    assert.match(body, /^imagewatch_webhook_deliveries_total\{webhook="ops",outcome="dead"\} 0$/m);
    assert.match(body, /^imagewatch_image_server_transitions_total\{from="BUILDING",to="ERROR"\} 0$/m);
    assert.match(body, /^imagewatch_target_up\{project_id="proj-1"\} 0$/m);
    const result = await runPromtool(bin, body);
    assert.equal(result.output, "", `promtool said:\n${result.output.slice(0, 2000)}`);
    assert.equal(result.code, 0);
  });
});

describe("promtool check metrics on a real scrape", () => {
  const metrics = createMetrics({ version: "0.1.0-test", collectDefault: true });
  const server = createHttpServer({
    metrics,
    logger: createSilentLogger(),
    clock,
    version: "0.1.0-test",
    getBearerToken: () => undefined,
    listServers: () => [],
    listEvents: () => [],
    getEvent: () => undefined,
    isReady: () => true,
    reload: async () => ({ ok: true }),
  });
  let base = "";

  before(async () => {
    metrics.configure({
      targets: [1, 2, 3].map((n) => ({ projectId: `proj-${n}`, cloud: "default", region: "r" })),
      webhooks: ["ops", 'hook "q"\\'],
    });
    metrics.setTargetHealth("proj-1", { up: true, lastSuccessAt: NOW });
    for (let i = 0; i < SERVER_COUNT; i++) metrics.setServer(makeState(i));
    // Churn: change some, remove some, so the cached text has been rebuilt, not just appended.
    for (let i = 0; i < SERVER_COUNT; i += 9)
      metrics.setServer({ ...makeState(i), status: "BUILT", stuck: false });
    for (let i = 5; i < SERVER_COUNT; i += 50)
      metrics.removeServer(`proj-${i % 7}`, `srv-${String(i).padStart(5, "0")}`);
    for (const s of STATUSES) metrics.recordTransition("BUILDING", s);
    metrics.recordRequest("proj-1", "success", 0.12);
    metrics.recordRequest("proj-1", "http_5xx", 3.4);
    metrics.recordRequest("proj-2", "timeout", 10);
    metrics.recordTokenRefresh("success");
    metrics.recordDelivery('hook "q"\\', "retried");
    metrics.recordDelivery("ops", "delivered");
    metrics.setQueue("ops", 3, 42);
    metrics.setConfigReload(true, NOW);
    metrics.setShard(1, 3);
    base = (await server.start("127.0.0.1", 0)).url;
  });
  after(() => server.stop());

  it("reports nothing for a scrape of many servers", async (t) => {
    const bin = await promtoolOrSkip(t);
    if (!bin) return;
    const r = await get(`${base}/metrics`);
    assert.equal(r.status, 200);
    const text = r.body.toString("utf8");
    const statusSeries = text.split("\n").filter((l) => l.startsWith("imagewatch_image_server_status{"));
    assert.ok(
      statusSeries.length > SERVER_COUNT * 6 * 0.9,
      `expected many series, got ${statusSeries.length}`,
    );
    assert.match(text, /^process_cpu_seconds_total /m, "process defaults are exported");
    const result = await runPromtool(bin, text);
    assert.equal(result.output, "", `promtool said:\n${result.output.slice(0, 2000)}`);
    assert.equal(result.code, 0);
  });

  it("serves the same text gzipped when the scraper asks for it", async () => {
    const plain = await get(`${base}/metrics`);
    const zipped = await get(`${base}/metrics`, { "Accept-Encoding": "gzip, deflate" });
    assert.equal(zipped.status, 200);
    assert.equal(zipped.headers["content-encoding"], "gzip");
    assert.match(String(zipped.headers.vary), /Accept-Encoding/);
    assert.equal(plain.headers["content-encoding"], undefined);
    assert.ok(zipped.body.length < plain.body.length / 5, "gzip actually compresses");
    // Process metrics move between two scrapes; everything imagewatch defines must be identical.
    const stable = (s: string): string =>
      s
        .split("\n")
        .filter((l) => !/^(# (HELP|TYPE) )?(process_|nodejs_)/.test(l))
        .join("\n");
    const unzipped = gunzipSync(zipped.body).toString("utf8");
    assert.equal(stable(unzipped), stable(plain.body.toString("utf8")));
    assert.ok(unzipped.includes("imagewatch_image_server_info{"));

    const refused = await get(`${base}/metrics`, { "Accept-Encoding": "gzip;q=0, identity" });
    assert.equal(refused.headers["content-encoding"], undefined);
  });
});
