import assert from "node:assert/strict";
import path from "node:path";
import { Writable } from "node:stream";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import type { CommandContext, SignalName } from "../../src/cli/context.js";
import { simulateCommand } from "../../src/cli/simulate.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, "..", "..");
const agent = new Agent();
after(() => agent.close());

function fakeContext(args: string[]) {
  const out = { stdout: "", stderr: "" };
  const handlers = new Map<SignalName, Set<() => void>>();
  const sink = (key: "stdout" | "stderr") =>
    new Writable({
      write(chunk, _enc, cb) {
        out[key] += String(chunk);
        cb();
      },
    });
  const ctx: CommandContext = {
    args,
    env: {},
    stdout: sink("stdout"),
    stderr: sink("stderr"),
    cwd: root,
    onSignal(signal, handler) {
      const set = handlers.get(signal) ?? new Set();
      set.add(handler);
      handlers.set(signal, set);
      return () => set.delete(handler);
    },
  };
  const emit = (signal: SignalName) => {
    for (const h of [...(handlers.get(signal) ?? [])]) h();
  };
  return { ctx, out, emit, handlers };
}

async function waitFor(cond: () => boolean, what: string) {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("imagewatch simulate", () => {
  it("serves the demo scenario, prints one line without the secret, and stops on SIGTERM", async () => {
    const { ctx, out, emit, handlers } = fakeContext(["--port", "0"]);
    const running = simulateCommand.run(ctx);
    await waitFor(() => out.stdout.includes("\n"), "the startup line");
    assert.equal(out.stdout.trim().split("\n").length, 1);
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out.stdout)?.[1];
    assert.ok(url, out.stdout);
    assert.match(out.stdout, /access key DEMOACCESSKEY0000001/);
    assert.match(out.stdout, /demo-scenario\.yaml/);
    assert.ok(!out.stdout.includes("demo-secret-key"));
    assert.ok(!out.stdout.includes("demo-password"));

    const tokenRes = await request(`${url}/v3/auth/tokens?nocatalog=true`, {
      method: "POST",
      dispatcher: agent,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ["password"],
            password: { user: { domain: { name: "demo" }, name: "demo", password: "demo-password" } },
          },
        },
      }),
    });
    await tokenRes.body.dump();
    assert.equal(tokenRes.statusCode, 201);
    const list = await request(`${url}/v1/0123456789abcdef0123456789abcdef/image-servers?limit=100`, {
      dispatcher: agent,
      headers: { "X-Auth-Token": String(tokenRes.headers["x-subject-token"]) },
    });
    const body = (await list.body.json()) as { count: number };
    assert.equal(body.count, 7);

    emit("SIGTERM");
    assert.equal(await running, 0);
    assert.equal(handlers.get("SIGINT")?.size ?? 0, 0, "signal handlers are removed");
    await assert.rejects(request(`${url}/__sim/state`, { dispatcher: agent }));
  });

  it("stops on SIGINT too", async () => {
    const { ctx, out, emit } = fakeContext([
      "--port",
      "0",
      "--scenario",
      "test/fixtures/scenarios/timeline.yaml",
    ]);
    const running = simulateCommand.run(ctx);
    await waitFor(() => out.stdout.includes("\n"), "the startup line");
    assert.match(out.stdout, /access key AKTIMELINE/);
    emit("SIGINT");
    assert.equal(await running, 0);
  });

  it("exits 78 with the problems on stderr for a bad scenario", async () => {
    const { ctx, out } = fakeContext(["--port", "0", "--scenario", "test/fixtures/scenarios/invalid.yaml"]);
    assert.equal(await simulateCommand.run(ctx), 78);
    assert.match(out.stderr, /invalid scenario/);
    assert.match(
      out.stderr,
      /invalid\.yaml: projects\[0\]\.servers\[0\]\.timeline\[0\]\.after: not a duration/,
    );
    assert.equal(out.stdout, "");
  });

  it("exits 78 for a missing scenario file", async () => {
    const { ctx, out } = fakeContext(["--scenario", "nope/missing.yaml"]);
    assert.equal(await simulateCommand.run(ctx), 78);
    assert.match(out.stderr, /missing\.yaml: cannot read scenario file \(ENOENT\)/);
  });

  it("refuses a bad port as a usage error and prints help", async () => {
    await assert.rejects(simulateCommand.run(fakeContext(["--port", "http"]).ctx), { code: "USAGE" });
    await assert.rejects(simulateCommand.run(fakeContext(["--bogus"]).ctx), { code: "USAGE" });
    const help = fakeContext(["--help"]);
    assert.equal(await simulateCommand.run(help.ctx), 0);
    assert.match(help.out.stdout, /Usage: imagewatch simulate/);
  });
});
