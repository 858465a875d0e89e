/**
 * The alert set pushed to a real Alertmanager (Debian's prometheus-alertmanager) on loopback ports:
 * a stuck server appears in `GET /api/v2/alerts` with its labels, annotations and startsAt; it resolves;
 * an Alertmanager stopped and started again gets every firing alert back; a second one gets the same.
 * Skipped when the binary is missing, except in CI.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Agent } from "undici";
import { deriveAlerts } from "../../src/alertmanager/alert-set.js";
import { createAlertPusher } from "../../src/alertmanager/pusher.js";
import { alertmanagerCommand } from "../../src/cli/alertmanager.js";
import type { AlertmanagerConfig } from "../../src/config/types.js";
import type { ServerState } from "../../src/domain/types.js";
import { createLogger } from "../../src/lib/logger.js";
import { captureContext } from "../helpers/command-context.js";
import { createManualClock } from "../helpers/manual-clock.js";
import { waitUntil } from "../helpers/receiver.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const BIN = "/usr/bin/prometheus-alertmanager";
const IN_CI = process.env.CI === "true";

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const address = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

interface RunningAm {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * Starts Alertmanager with its own storage on a free loopback port; stopped when the test ends. A port is
 * chosen, freed and then given to Alertmanager, so a parallel test may take it first: Alertmanager then
 * exits, and the first start tries another port (a restart keeps the port, as a real one does).
 */
async function startAlertmanager(t: TestContext): Promise<RunningAm> {
  const dir = makeTempDir(t, "imagewatch-am-");
  const configFile = join(dir, "alertmanager.yml");
  writeFileSync(configFile, "route:\n  receiver: none\nreceivers:\n  - name: none\n");
  let port = await freePort();
  let child: ChildProcess | undefined;
  const am: RunningAm = {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    async start() {
      const c = spawn(
        BIN,
        [
          `--config.file=${configFile}`,
          `--storage.path=${join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`,
          "--cluster.listen-address=",
        ],
        { stdio: "ignore" },
      );
      child = c;
      let exited = false;
      c.once("exit", () => {
        exited = true;
      });
      const deadline = Date.now() + 15_000;
      for (;;) {
        if (exited) throw new Error(`alertmanager exited before it was ready (port ${port} taken?)`);
        try {
          const res = await fetch(`${am.url}/-/ready`);
          if (res.ok) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error("alertmanager did not become ready");
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const c = child;
      child = undefined;
      if (c === undefined || c.exitCode !== null) return;
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGTERM");
      await exited;
    },
  };
  t.after(() => am.stop());
  for (let attempt = 1; ; attempt++) {
    try {
      await am.start();
      return am;
    } catch (e) {
      await am.stop();
      if (attempt === 3) throw e;
      port = await freePort();
    }
  }
}

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
  status: { state: string };
}

async function activeAlerts(url: string): Promise<AmAlert[]> {
  const res = await fetch(`${url}/api/v2/alerts?active=true&silenced=false&inhibited=false`);
  assert.equal(res.status, 200);
  return (await res.json()) as AmAlert[];
}

/** Polls Alertmanager's API until `predicate` holds for its active alerts. */
async function waitForAlerts(url: string, predicate: (alerts: AmAlert[]) => boolean, what: string) {
  let last: AmAlert[] = [];
  const deadline = Date.now() + 10_000;
  for (;;) {
    last = await activeAlerts(url);
    if (predicate(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const STATUS_SINCE = Date.now() - 2 * 3_600_000;

function stuckServer(stuck: boolean): ServerState {
  return {
    projectId: "proj-1",
    serverId: "srv-0123456789abcdef",
    name: "build-7",
    status: "BUILDING",
    statusSince: STATUS_SINCE,
    present: true,
    stuck,
    stuckNotifiedAt: null,
    stuckCount: stuck ? 1 : 0,
    consecutiveFailures: 0,
    pollFailedNotified: false,
    lastPollAt: Date.now(),
    lastPollOk: true,
    lastSuccessAt: Date.now(),
    lastError: null,
    server: null,
  };
}

function amConfig(name: string, url: string): AlertmanagerConfig {
  return { name, url, resendEvery: 60_000, timeout: 5000, labels: { team: "images" }, headers: {} };
}

function binaryOrSkip(t: TestContext): boolean {
  if (existsSync(BIN)) return true;
  assert.ok(!IN_CI, "prometheus-alertmanager must be installed in CI");
  t.skip("prometheus-alertmanager not installed");
  return false;
}

describe("alertmanagers: against a real Alertmanager", { timeout: 60_000 }, () => {
  it("a stuck server fires with its labels and startsAt, survives a restart of Alertmanager, resolves; a second Alertmanager gets the same", async (t) => {
    if (!binaryOrSkip(t)) return;
    const [am1, am2] = await Promise.all([startAlertmanager(t), startAlertmanager(t)]);
    // A manual clock at the real time: Alertmanager compares endsAt with its own clock.
    const clock = createManualClock(Date.now());
    const dispatcher = new Agent();
    t.after(() => dispatcher.close());
    let servers = [stuckServer(true)];
    const pushes: string[] = [];
    const pusher = createAlertPusher({
      alertmanagers: () => [amConfig("am1", am1.url), amConfig("am2", am2.url)],
      scheduleInterval: () => 30_000,
      derive: (now) =>
        deriveAlerts({
          servers,
          targets: [],
          jobs: [],
          now,
          externalURL: "https://imagewatch.example.com",
          stuckThresholdFor: () => 3_600_000,
        }),
      clock,
      timers: clock,
      dispatcher,
      logger: createLogger({ level: "silent", format: "json" }),
      userAgent: "imagewatch/test",
      onPush: (name, outcome) => pushes.push(`${name}:${outcome}`),
    });
    t.after(() => pusher.stop());
    pusher.start();
    await waitUntil(() => pushes.length === 2, 10_000, "the first pushes");
    assert.deepEqual(pushes.sort(), ["am1:success", "am2:success"]);

    for (const am of [am1, am2]) {
      const [alert, ...rest] = await waitForAlerts(am.url, (a) => a.length === 1, "the stuck alert");
      assert.equal(rest.length, 0);
      assert.ok(alert);
      assert.deepEqual(alert.labels, {
        alertname: "ImageServerStuck",
        severity: "warning",
        project_id: "proj-1",
        server_id: "srv-0123456789abcdef",
        name: "build-7",
        status: "BUILDING",
        team: "images",
      });
      assert.equal(alert.annotations.summary, "build-7 stuck in BUILDING for 2h 0m");
      assert.match(alert.annotations.description ?? "", /longer than its threshold of 1h 0m/);
      assert.equal(Date.parse(alert.startsAt), STATUS_SINCE);
      assert.equal(alert.generatorURL, "https://imagewatch.example.com/servers/proj-1/srv-0123456789abcdef");
      assert.equal(alert.status.state, "active");
    }

    // Alertmanager 1 goes away: the resend fails and is counted; once it is back, the next resend
    // carries the whole set again.
    await am1.stop();
    pushes.length = 0;
    await clock.advance(60_000);
    await waitUntil(() => pushes.length === 2, 10_000, "the resend");
    assert.deepEqual(pushes.sort(), ["am1:failure", "am2:success"]);
    await am1.start();
    assert.deepEqual(await activeAlerts(am1.url), [], "a fresh Alertmanager knows nothing yet");
    pushes.length = 0;
    await clock.advance(60_000);
    await waitUntil(() => pushes.length === 2, 10_000, "the resend after the restart");
    assert.deepEqual(pushes.sort(), ["am1:success", "am2:success"]);
    await waitForAlerts(
      am1.url,
      (a) => a.length === 1 && a[0]?.labels.alertname === "ImageServerStuck",
      "the alert back",
    );

    // The server is no longer stuck: pushed at once as resolved, and no longer active anywhere.
    servers = [stuckServer(false)];
    // Back to the real time, so the resolved alert's endsAt is not in Alertmanager's future.
    clock.set(Date.now());
    pushes.length = 0;
    await pusher.refresh();
    assert.deepEqual(pushes.sort(), ["am1:success", "am2:success"]);
    // Resolved alerts leave `GET /api/v2/alerts` at once (they would otherwise stay until their lease ran out).
    for (const am of [am1, am2]) await waitForAlerts(am.url, (a) => a.length === 0, "the alert resolved");
  });
});

describe("imagewatch alertmanager test NAME", { timeout: 60_000 }, () => {
  it("pushes one test alert with the entry's labels and headers masked nowhere in the output; prints the answer", async (t) => {
    if (!binaryOrSkip(t)) return;
    const am = await startAlertmanager(t);
    const dir = makeTempDir(t, "imagewatch-am-cli-");
    const file = join(dir, "imagewatch.yaml");
    writeFileSync(
      file,
      `cloud:\n  region: cn-north-4\n  auth: { kind: aksk, accessKey: AK, secretKey: SK }\ntargets:\n  - projectId: "p1"\n    discover: true\nalertmanagers:\n  - name: am\n    url: ${am.url}\n    labels: { team: images }\n    headers: { Authorization: "Bearer s3cret-token" }\nstate:\n  path: ":memory:"\n`,
    );
    const io = captureContext(["test", "am", "-c", file], { cwd: dir });
    assert.equal(await alertmanagerCommand.run(io.ctx), 0, io.err());
    assert.match(io.out(), /alertmanager am: HTTP 200/);
    assert.ok(!io.out().includes("s3cret") && !io.err().includes("s3cret"));
    const [alert] = await waitForAlerts(am.url, (a) => a.length === 1, "the test alert");
    assert.equal(alert?.labels.alertname, "ImagewatchTest");
    assert.equal(alert?.labels.team, "images");

    const unknown = captureContext(["test", "nope", "-c", file], { cwd: dir });
    await assert.rejects(
      alertmanagerCommand.run(unknown.ctx),
      /unknown alertmanager "nope" \(configured: am\)/,
    );
  });
});
