import assert from "node:assert/strict";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { COMMANDS, runCli } from "../../src/cli/index.js";
import { createSimulator, loadScenario } from "../../src/simulator/index.js";
import { spawnCli } from "../helpers/cli-process.js";
import { captureContext } from "../helpers/command-context.js";

const ROOT = resolve(import.meta.dirname, "../..");

function fakeContext(args: string[], env: Record<string, string> = {}) {
  return captureContext(args, { env, cwd: ROOT });
}

/** Runs the real CLI (`src/main.ts`) in a child process to its end. */
async function runProcess(args: string[], env: Record<string, string> = {}) {
  const p = spawnCli(args, env);
  const [code] = await p.exited;
  return { code, stdout: p.out(), stderr: p.err() };
}

describe("the CLI shell", () => {
  it("lists every command of DESIGN §3 in --help", async () => {
    const { ctx, out } = fakeContext(["--help"]);
    assert.equal(await runCli(ctx), 0);
    for (const name of ["run", "check-config", "once", "simulate", "demo", "webhook", "events"]) {
      assert.match(out(), new RegExp(`^  ${name} `, "m"), name);
    }
  });

  for (const command of COMMANDS) {
    it(`${command.name} --help prints its usage and exits 0`, async () => {
      const args =
        command.name === "webhook"
          ? ["webhook", "test", "--help"]
          : command.name === "events"
            ? ["events", "replay", "--help"]
            : [command.name, "--help"];
      const { ctx, out } = fakeContext(args);
      assert.equal(await runCli(ctx), 0);
      assert.match(out(), /Usage: imagewatch /);
    });

    it(`${command.name} with an unknown option exits 2 with a one-line hint`, async () => {
      const args =
        command.name === "webhook"
          ? ["webhook", "test", "x", "--bogus"]
          : command.name === "events"
            ? ["events", "replay", "x", "--bogus"]
            : [command.name, "--bogus"];
      const { ctx, err } = fakeContext(args);
      assert.equal(await runCli(ctx), 2);
      assert.equal(err().trim().split("\n").length, 1, err());
      assert.match(err(), /--bogus/);
    });
  }

  it("exits 2 on a missing or unknown command", async () => {
    const none = fakeContext([]);
    assert.equal(await runCli(none.ctx), 2);
    assert.match(none.err(), /missing command/);
    const unknown = fakeContext(["frobnicate"]);
    assert.equal(await runCli(unknown.ctx), 2);
    assert.match(unknown.err(), /unknown command "frobnicate"/);
  });

  it("exits 2 for `webhook test` without NAME, even with a config that would not load", async () => {
    const { ctx, err } = fakeContext(["webhook", "test", "-c", "test/fixtures/does-not-exist.yaml"]);
    assert.equal(await runCli(ctx), 2);
    assert.match(err(), /missing webhook NAME/);
  });

  it("treats an empty $IMAGEWATCH_CONFIG as unset and falls back to config/imagewatch.yaml", async () => {
    const env = {
      IMAGEWATCH_CONFIG: "",
      HUAWEICLOUD_SDK_AK: "AKEXAMPLE",
      HUAWEICLOUD_SDK_SK: "sk-example",
      WEBHOOK_SECRET: "whsec_ZGVtby1zZWNyZXQtZm9yLWltYWdld2F0Y2gtZGVtbw==",
    };
    const { ctx, out, err } = fakeContext(["check-config"], env);
    assert.equal(await runCli(ctx), 0, err());
    assert.match(out(), /^cloud:/m);
  });

  it("prints its version", async () => {
    const { ctx, out } = fakeContext(["--version"]);
    assert.equal(await runCli(ctx), 0);
    assert.match(out(), /^\d+\.\d+\.\d+/);
  });

  // One real process is enough to show main.ts turns a command's status into the exit code (usage
  // errors are 2 in-process above; the demo test shows SIGINT → 0).
  it("runs as a real process: a bad config exits 78", async () => {
    const bad = await runProcess(["check-config", "-c", "test/fixtures/does-not-exist.yaml"]);
    assert.equal(bad.code, 78);
    assert.match(bad.stderr, /does-not-exist\.yaml/);
  });

  it("`once -c config/demo.yaml` against the demo scenario prints every server, as a person would run it", async () => {
    const sim = createSimulator({ scenario: loadScenario(resolve(ROOT, "config/demo-scenario.yaml")) });
    const { port } = await sim.start();
    try {
      const env = { IMAGEWATCH_DEMO_SIM_PORT: String(port) };
      const table = fakeContext(["once", "-c", "config/demo.yaml"], env);
      assert.equal(await runCli(table.ctx), 0, table.err());
      assert.match(table.out(), /SERVER ID/i);
      for (const name of ["build-office-2026", "build-cad-tools", "golden-base-win2022"])
        assert.match(table.out(), new RegExp(name));
      assert.match(table.out(), /BUILDING/);
      const json = fakeContext(["once", "-c", "config/demo.yaml", "--json"], env);
      assert.equal(await runCli(json.ctx), 0, json.err());
      const servers = JSON.parse(json.out()) as unknown[];
      assert.equal(servers.length, 7);
    } finally {
      await sim.stop();
    }
  });
});
