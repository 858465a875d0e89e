/**
 * `imagewatch webhook test` and `imagewatch events replay`, and the `sendTestEvent` they build on, against
 * a loopback receiver and a SQLite file in a temp dir.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import { Agent } from "undici";
import { eventsCommand } from "../../src/cli/events.js";
import { webhookCommand } from "../../src/cli/webhook.js";
import type { WebhookConfig } from "../../src/config/types.js";
import { systemClock } from "../../src/lib/clock.js";
import { AppError, UsageError } from "../../src/lib/errors.js";
import { WEBHOOK_FORMATS, type WebhookFormat } from "../../src/notify/formats/index.js";
import { sendTestEvent } from "../../src/notify/test-event.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import { captureContext } from "../helpers/command-context.js";
import { startProxy } from "../helpers/proxy.js";
import { startReceiver } from "../helpers/receiver.js";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "imagewatch-delivery-cli-"));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeConfig(dir: string, url: string, statePath = "state/imagewatch.db"): string {
  const file = path.join(dir, "imagewatch.yaml");
  fs.writeFileSync(
    file,
    `cloud:
  region: cn-north-4
  auth: { kind: aksk, accessKey: AK, secretKey: SK }
targets:
  - projectId: "0123456789abcdef0123456789abcdef"
    discover: true
webhooks:
  - name: ops
    url: ${url}
    format: standard
    secret: \${WEBHOOK_SECRET}
  - name: audit
    url: ${url}
    format: standard
    secret: \${WEBHOOK_SECRET}
    timeout: 2s
state:
  path: "${statePath}"
`,
  );
  return file;
}

function makeCtx(args: string[], cwd: string, env: Record<string, string> = {}) {
  const { ctx, out, err } = captureContext(args, { env: { WEBHOOK_SECRET: SECRET, ...env }, cwd });
  return { ctx, stdout: out, stderr: err };
}

async function receiverFor(options: Parameters<typeof startReceiver>[0]) {
  const r = await startReceiver(options);
  cleanups.push(() => r.close());
  return r;
}

/** A URL on which nothing listens. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/hook`;
}

/** What sendTestEvent needs: a fresh dispatcher, closed after the test. */
function sendDeps() {
  const dispatcher = new Agent();
  cleanups.push(() => dispatcher.destroy());
  return { clock: systemClock, dispatcher, version: "1.0.0" };
}

function webhook(url: string): WebhookConfig {
  return {
    name: "ops",
    url,
    format: "standard",
    secret: SECRET,
    events: ["status_changed"],
    statuses: [],
    headers: { "x-team": "infra" },
    timeout: 2000,
    retry: { minDelay: 1000, maxDelay: 2000 },
    maxAge: 60_000,
  };
}

describe("sendTestEvent", () => {
  it("sends one signed imagewatch.test event with a fresh id and returns the answer", async () => {
    const r = await receiverFor({ secret: SECRET, script: [{ status: 202, body: "queued" }] });
    const result = await sendTestEvent(webhook(r.url), sendDeps());
    assert.equal(result.status, 202);
    assert.equal(result.body, "queued");
    assert.ok(result.durationMs >= 0);
    assert.equal(r.requests.length, 1);
    const req = r.requests[0];
    assert.ok(req?.verified, "the receiver verified the signature");
    assert.equal(req?.payload?.type, "imagewatch.test");
    assert.equal(req?.id, result.eventId);
    assert.equal(req?.payload?.data.event_id, result.eventId);
    assert.equal(req?.headers["x-team"], "infra");
    const again = await sendTestEvent(webhook(r.url), sendDeps());
    assert.notEqual(again.eventId, result.eventId, "every test event has its own id");
  });

  it("does not retry a failure", async () => {
    const r = await receiverFor({ secret: SECRET, respond: () => ({ status: 503, body: "down" }) });
    const result = await sendTestEvent(webhook(r.url), sendDeps());
    assert.equal(result.status, 503);
    assert.equal(r.requests.length, 1);
  });

  it("rejects with WEBHOOK_FAILED on a network error", async () => {
    await assert.rejects(
      sendTestEvent(webhook(await deadUrl()), sendDeps()),
      (err: unknown) =>
        err instanceof AppError && err.code === "WEBHOOK_FAILED" && /network error/.test(err.message),
    );
  });
});

describe("imagewatch webhook test", () => {
  it("prints the receiver's status and body and exits 0 on 2xx", async () => {
    const dir = tempDir();
    const r = await receiverFor({ secret: SECRET, script: [{ status: 200, body: "thanks" }] });
    const config = writeConfig(dir, r.url);
    const io = makeCtx(["test", "ops", "-c", config], dir);
    assert.equal(await webhookCommand.run(io.ctx), 0);
    assert.match(io.stdout(), /webhook ops: HTTP 200 in \d+ ms/);
    assert.match(io.stdout(), /response: thanks/);
    assert.equal(r.requests.length, 1);
    assert.ok(r.requests[0]?.verified);
    assert.equal(r.requests[0]?.payload?.type, "imagewatch.test");
    assert.ok(!io.stdout().includes(SECRET.slice(6)));
  });

  // One row per registered format (a new format without a row does not compile): what its platform
  // answers on success. `webhook test` must work for every one of them.
  const PLATFORM_OK: Record<WebhookFormat, { status: number; body: string }> = {
    standard: { status: 204, body: "" },
    slack: { status: 200, body: "ok" },
    teams: { status: 202, body: "" },
    feishu: { status: 200, body: '{"code":0,"msg":"success"}' },
    dingtalk: { status: 200, body: '{"errcode":0,"errmsg":"ok"}' },
    wecom: { status: 200, body: '{"errcode":0,"errmsg":"ok"}' },
    alertmanager: { status: 200, body: "" },
  };
  for (const format of WEBHOOK_FORMATS) {
    it(`sends a test message in format ${format} and exits 0 on the platform's success answer`, async () => {
      const dir = tempDir();
      const r = await receiverFor({ script: [PLATFORM_OK[format]] });
      const config = writeConfig(dir, r.url).replace(
        /( {2}- name: ops\n {4}url: .*\n) {4}format: standard\n {4}secret: \$\{WEBHOOK_SECRET\}\n/,
        format === "standard" ? "$&" : `$1    format: ${format}\n`,
      );
      const io = makeCtx(["test", "ops", "-c", config], dir);
      assert.equal(await webhookCommand.run(io.ctx), 0, io.stderr());
      assert.equal(r.requests.length, 1);
      const body = r.requests[0]?.body ?? "";
      assert.doesNotThrow(() => JSON.parse(body), `a JSON body for ${format}`);
      assert.match(body, /imagewatch/i, "the message says where it comes from");
    });
  }

  it("goes through HTTP_PROXY from its environment, as the daemon's deliveries do", async (t) => {
    const dir = tempDir();
    const r = await receiverFor({ secret: SECRET });
    const proxy = await startProxy(t);
    const io = makeCtx(["test", "ops", "-c", writeConfig(dir, r.url)], dir, { HTTP_PROXY: proxy.url });
    assert.equal(await webhookCommand.run(io.ctx), 0, io.stderr());
    assert.deepEqual(proxy.targets, [new URL(r.url).host], "the request was tunnelled through the proxy");
    assert.ok(r.requests[0]?.verified);
  });

  it("NO_PROXY exempts the receiver's host", async (t) => {
    const dir = tempDir();
    const r = await receiverFor({ secret: SECRET });
    const proxy = await startProxy(t);
    const env = { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1" };
    const io = makeCtx(["test", "ops", "-c", writeConfig(dir, r.url)], dir, env);
    assert.equal(await webhookCommand.run(io.ctx), 0, io.stderr());
    assert.deepEqual(proxy.targets, []);
    assert.equal(r.requests.length, 1);
  });

  it("exits 1 on a non-2xx answer, printing a truncated body", async () => {
    const dir = tempDir();
    const r = await receiverFor({
      secret: SECRET,
      script: [{ status: 401, body: `denied ${"x".repeat(2000)}` }],
    });
    const io = makeCtx(["test", "audit", "-c", writeConfig(dir, r.url)], dir);
    assert.equal(await webhookCommand.run(io.ctx), 1);
    assert.match(io.stderr(), /webhook audit: HTTP 401/);
    assert.match(io.stderr(), /response: denied x+…/);
    assert.ok(io.stderr().length < 1000);
  });

  it("exits 1 when the receiver is unreachable", async () => {
    const dir = tempDir();
    const io = makeCtx(["test", "ops", "-c", writeConfig(dir, await deadUrl())], dir);
    assert.equal(await webhookCommand.run(io.ctx), 1);
    assert.match(io.stderr(), /test event not delivered: network error/);
  });

  it("names the configured webhooks when NAME is unknown (usage error)", async () => {
    const dir = tempDir();
    const io = makeCtx(["test", "nope", "-c", writeConfig(dir, "http://127.0.0.1:1/hook")], dir);
    await assert.rejects(
      webhookCommand.run(io.ctx),
      (err: unknown) => err instanceof UsageError && /unknown webhook "nope".*ops, audit/.test(err.message),
    );
  });

  it("rejects a missing subcommand as a usage error", async () => {
    const dir = tempDir();
    await assert.rejects(webhookCommand.run(makeCtx([], dir).ctx), UsageError);
    await assert.rejects(webhookCommand.run(makeCtx(["send", "ops"], dir).ctx), UsageError);
  });

  it("exits 78 with the problems on a bad config", async () => {
    const dir = tempDir();
    const file = path.join(dir, "bad.yaml");
    fs.writeFileSync(file, "cloud: {}\nbogus: 1\n");
    const io = makeCtx(["test", "ops", "-c", file], dir);
    assert.equal(await webhookCommand.run(io.ctx), 78);
    assert.match(io.stderr(), /bogus/);
    const missing = makeCtx(["test", "ops", "-c", path.join(dir, "absent.yaml")], dir);
    assert.equal(await webhookCommand.run(missing.ctx), 78);
  });
});

describe("imagewatch events replay", () => {
  const DB = "state/imagewatch.db";
  /** Webhooks configured besides ops and audit: `late` takes the event, `narrow` does not (status ERROR). */
  const EXTRA = `  - name: late
    url: http://127.0.0.1:1/hook
    format: standard
    secret: \${WEBHOOK_SECRET}
  - name: narrow
    url: http://127.0.0.1:1/hook
    format: standard
    secret: \${WEBHOOK_SECRET}
    statuses: [BUILT]
`;

  /** A config with the EXTRA webhooks, and evt_dead: ops dead, audit delivered, pager pending (2 attempts). */
  function setup(): { dir: string; config: string; db: string; seededAt: number } {
    const dir = tempDir();
    const config = writeConfig(dir, "http://127.0.0.1:1/hook");
    fs.writeFileSync(config, fs.readFileSync(config, "utf8").replace("state:\n", `${EXTRA}state:\n`));
    const db = path.join(dir, DB);
    const store = openSqliteStore(db);
    const now = Date.now();
    try {
      const event = (id: string) => ({
        id,
        type: "image_server.status_changed" as const,
        occurredAt: now,
        projectId: "p",
        serverId: "s",
        data: { event_id: id, project_id: "p", server_id: "s", name: "n", status: "ERROR" },
      });
      store.commitPoll({
        servers: [],
        events: [event("evt_dead"), event("evt_done")],
        deliveries: [
          { eventId: "evt_dead", webhook: "ops" },
          { eventId: "evt_dead", webhook: "audit" },
          { eventId: "evt_dead", webhook: "pager" },
          { eventId: "evt_done", webhook: "ops" },
        ],
        now,
      });
      store.markDead("evt_dead", "ops", 3, "rejected: HTTP 404", now);
      store.markDelivered("evt_dead", "audit", 1, now);
      store.markRetry("evt_dead", "pager", 2, now + 3_600_000, "HTTP 503", now);
      store.markDelivered("evt_done", "ops", 1, now);
    } finally {
      store.close();
    }
    return { dir, config, db, seededAt: now };
  }

  /** webhook → "state/attempts", plus "+due" for a pending row due by now. */
  function statesOf(db: string, id = "evt_dead"): Record<string, string> {
    const store = openSqliteStore(db);
    try {
      const e = store.getEvent(id);
      const now = Date.now();
      return Object.fromEntries(
        (e?.deliveries ?? []).map((d) => [
          d.webhook,
          `${d.state}/${d.attempts}${d.state === "pending" && d.nextAttemptAt <= now ? "+due" : ""}`,
        ]),
      );
    } finally {
      store.close();
    }
  }

  it("by default re-queues only the dead and still-pending deliveries (relative state.path)", async () => {
    const { dir, config, db } = setup();
    const io = makeCtx(["replay", "evt_dead", "-c", config], dir);
    assert.equal(await eventsCommand.run(io.ctx), 0, io.stderr());
    assert.deepEqual(statesOf(db), {
      ops: "pending/0+due",
      audit: "delivered/1",
      pager: "pending/2+due",
    });
    assert.match(io.stdout(), /^ops: re-queued \(was dead after 3 attempt\(s\)\)$/m);
    assert.match(io.stdout(), /^pager: re-queued \(was pending after 2 attempt\(s\); now due\)$/m);
    assert.doesNotMatch(io.stdout(), /audit/);
    assert.match(io.stdout(), /re-queued 2 deliveries of event evt_dead/);
  });

  it("--all re-queues every delivery, delivered ones too", async () => {
    const { dir, config, db } = setup();
    const io = makeCtx(["replay", "evt_dead", "--all", "-c", config], dir);
    assert.equal(await eventsCommand.run(io.ctx), 0, io.stderr());
    assert.deepEqual(statesOf(db), { ops: "pending/0+due", audit: "pending/0+due", pager: "pending/2+due" });
    assert.match(io.stdout(), /^audit: re-queued \(was delivered after 1 attempt\(s\)\)$/m);
    assert.match(io.stdout(), /re-queued 3 deliveries/);
  });

  it("--webhook re-queues only that webhook's delivery, whatever its state", async () => {
    const { dir, config, db } = setup();
    const io = makeCtx(["replay", "evt_dead", "--webhook", "audit", "-c", config], dir);
    assert.equal(await eventsCommand.run(io.ctx), 0, io.stderr());
    assert.deepEqual(statesOf(db), { ops: "dead/3", audit: "pending/0+due", pager: "pending/2" });
    assert.match(io.stdout(), /re-queued 1 delivery of event evt_dead/);
  });

  it("--webhook adds a delivery for a configured webhook that takes the event but had none", async () => {
    const { dir, config, db } = setup();
    const io = makeCtx(["replay", "evt_dead", "--webhook", "late", "-c", config], dir);
    assert.equal(await eventsCommand.run(io.ctx), 0, io.stderr());
    assert.equal(statesOf(db).late, "pending/0+due");
    assert.equal(statesOf(db).ops, "dead/3", "the others are untouched");
    assert.match(io.stdout(), /^late: re-queued \(new delivery/m);
  });

  it("--webhook fails clearly for a webhook that does not take the event or is not configured", async () => {
    const { dir, config, db } = setup();
    const narrow = makeCtx(["replay", "evt_dead", "--webhook", "narrow", "-c", config], dir);
    assert.equal(await eventsCommand.run(narrow.ctx), 1);
    assert.match(narrow.stderr(), /webhook "narrow" does not take event evt_dead.*filters exclude it/);
    const other = makeCtx(["replay", "evt_dead", "--webhook", "elsewhere", "-c", config], dir);
    assert.equal(await eventsCommand.run(other.ctx), 1);
    assert.match(
      other.stderr(),
      /no delivery to webhook "elsewhere" and no webhook of that name is configured/,
    );
    assert.equal(statesOf(db).narrow, undefined, "no row was added");
    assert.equal(statesOf(db).ops, "dead/3");
  });

  it("exits 1 for an unknown event id, and when nothing is left to re-queue", async () => {
    const { dir, config, db } = setup();
    const io = makeCtx(["replay", "evt_nope", "-c", config], dir);
    assert.equal(await eventsCommand.run(io.ctx), 1);
    assert.match(io.stderr(), /unknown event evt_nope/);
    const done = makeCtx(["replay", "evt_done", "-c", config], dir);
    assert.equal(await eventsCommand.run(done.ctx), 1);
    assert.match(done.stderr(), /nothing to re-queue: every delivery of event evt_done was delivered/);
    assert.deepEqual(statesOf(db, "evt_done"), { ops: "delivered/1" });
  });

  it("refuses a :memory: state and a missing database file", async () => {
    const dir = tempDir();
    const memory = makeCtx(
      ["replay", "evt_dead", "-c", writeConfig(dir, "http://127.0.0.1:1/hook", ":memory:")],
      dir,
    );
    assert.equal(await eventsCommand.run(memory.ctx), 1);
    assert.match(memory.stderr(), /:memory:/);

    const dir2 = tempDir();
    const missing = makeCtx(["replay", "evt_dead", "-c", writeConfig(dir2, "http://127.0.0.1:1/hook")], dir2);
    assert.equal(await eventsCommand.run(missing.ctx), 1);
    assert.match(missing.stderr(), /no state database/);
    assert.equal(
      fs.existsSync(path.join(dir2, "state/imagewatch.db")),
      false,
      "replay does not create a database",
    );
  });

  it("rejects a missing ID, a missing subcommand and mixed options as usage errors", async () => {
    const dir = tempDir();
    const usage = (args: string[], re: RegExp) =>
      assert.rejects(
        eventsCommand.run(makeCtx(args, dir).ctx),
        (err: unknown) => err instanceof UsageError && re.test(err.message),
      );
    await usage(["replay"], /missing event ID/);
    await usage([], /missing subcommand/);
    await usage(["frobnicate"], /unknown subcommand "frobnicate"/);
    await usage(["replay", "evt_x", "--all", "--webhook", "ops"], /--webhook and --all/);
    await usage(["replay", "evt_x", "--state", "dead"], /--state is not an option of "events replay"/);
    await usage(["list", "--all"], /--all is not an option of "events list"/);
  });
});
