import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { request } from "undici";
import { startDemo } from "../../src/cli/demo.js";
import { spawnCli } from "../helpers/cli-process.js";
import { waitFor } from "../helpers/daemon.js";
import { createManualClock } from "../helpers/manual-clock.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const ROOT = resolve(import.meta.dirname, "../..");

/** The story of config/demo-scenario.yaml, as the receiver prints it. */
const STORY = [
  /discovered\s+build-cad-tools/,
  /status_changed\s+build-office-2026 .* BUILDING → BUILT after 2m 15s/,
  /stuck\s+build-cad-tools .* BUILDING for/,
  /status_changed\s+build-browser-kiosk .* CREATING → ACTIVE/,
  /status_changed\s+build-dev-workstation .* BUILDING → ERROR/,
  /image_job\.failed\s+build-dev-workstation .* CREATE_SERVER_IMAGE FAILED after 1m 25s: WKS\.0127 disk quota exceeded/,
  /poll_failed\s+.* http_5xx 503 WKS\.0003/,
  /poll_recovered\s+/,
];
/** The scenario's last scripted moment is at 45 s; the story is told well before this. */
const STORY_MS = 60_000;
const STEP_MS = 500;

/** `imagewatch demo` as a real process, the daemon on `daemonPort`, the simulator and receiver on port 0. */
function spawnDemo(daemonPort: string) {
  return spawnCli(["demo"], {
    IMAGEWATCH_DEMO_PORT: daemonPort,
    IMAGEWATCH_DEMO_SIM_PORT: "0",
    IMAGEWATCH_DEMO_RECEIVER_PORT: "0",
  });
}

describe("imagewatch demo", () => {
  it("tells a newcomer the whole story (simulator, daemon and receiver on one manual clock) and serves /metrics", async (t) => {
    // Real wall time as the start: the receiver checks webhook timestamps against the real clock (±5 min).
    const clock = createManualClock(Date.now());
    const lines: string[] = [];
    let log = "";
    const logStream = new Writable({
      write(chunk, _enc, cb) {
        log += String(chunk);
        cb();
      },
    });
    // The demo's config, but without the cloud rate limit: it paces requests in real time, and here 60
    // virtual seconds of polls run in a few real ones.
    const configPath = join(makeTempDir(t), "demo.yaml");
    const demoYaml = readFileSync(join(ROOT, "config/demo.yaml"), "utf8");
    assert.match(demoYaml, /^cloud:\n/m);
    writeFileSync(configPath, demoYaml.replace(/^cloud:\n/m, "cloud:\n  maxRequestsPerSecond: 10000\n"));
    const demo = await startDemo({
      configPath,
      scenarioPath: join(ROOT, "config/demo-scenario.yaml"),
      env: { IMAGEWATCH_DEMO_PORT: "0", IMAGEWATCH_DEMO_SIM_PORT: "0", IMAGEWATCH_DEMO_RECEIVER_PORT: "0" },
      print: (line) => lines.push(line),
      logStream,
      clock,
      timers: clock,
    });
    t.after(() => demo.stop());
    let ticks = 0;
    demo.app.scheduler.on("tick", () => {
      ticks++;
    });

    // Every step: let the polls in flight finish and the receiver take what they committed, then move
    // time on (which fires the ticks due).
    const settle = async () => {
      await demo.app.scheduler.drain();
      await waitFor(
        () => demo.app.store.listEvents(1000).every((e) => e.deliveries.every((d) => d.state !== "pending")),
        "the receiver to take every committed event",
        10_000,
        5,
      );
    };
    for (let elapsed = 0; elapsed < STORY_MS; elapsed += STEP_MS) {
      await settle();
      await clock.advance(STEP_MS);
    }
    await settle();
    assert.ok(ticks >= STORY_MS / 2000, `the daemon ticked every 2 s of the story (${ticks} ticks)`);

    const story = `the demo story:\n${lines.join("\n")}\n${log}`;
    const at = STORY.map((re) => lines.findIndex((l) => re.test(l)));
    assert.ok(
      at.every((i) => i >= 0),
      story,
    );
    // Told in order: the chapters at distinct moments (the stuck one shares its poll with the kiosk's, the
    // job failure its poll with the ERROR).
    const order = [0, 1, 4, 6, 7].map((i) => at[i] ?? -1);
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      story,
    );
    assert.ok(
      !lines.some((l) => l.includes("rejected a request with a bad signature")),
      "every webhook verified",
    );

    const res = await request(`${demo.daemonUrl}/metrics`);
    const metrics = await res.body.text();
    assert.match(
      metrics,
      /imagewatch_image_server_status\{project_id="0123456789abcdef0123456789abcdef",server_id="4b1a2c3d-0000-4111-a222-000000000003",status="ERROR"\} 1/,
    );
  });

  it("as a real process: prints the first discovered line, serves /metrics, and exits 0 on Ctrl-C", async () => {
    // Port 0 for all three: the demo binds what the system gives and prints the daemon's URL, so no other
    // test can take a port between choosing it and binding it.
    const demo = spawnDemo("0");
    const { child, exited } = demo;
    let started = false;
    const exitedEarly = exited.then(([code, signal]) => {
      if (!started) throw new Error(`the demo exited (${code ?? signal}) before its first discovered line`);
    });
    try {
      try {
        await Promise.race([
          waitFor(() => /discovered\s+build-/.test(demo.out()), "the first discovered line", 60_000),
          exitedEarly,
        ]);
        started = true;
      } catch (e) {
        throw new Error(`${(e as Error).message}\nstdout:\n${demo.out()}\nstderr:\n${demo.err()}`);
      }
      const daemonUrl = /daemon (http:\/\/127\.0\.0\.1:\d+)/.exec(demo.out())?.[1];
      assert.ok(daemonUrl, demo.out());
      assert.doesNotMatch(daemonUrl, /:0$/, "the banner gives the bound port");
      const res = await request(`${daemonUrl}/metrics`);
      assert.equal(res.statusCode, 200);
      assert.match(await res.body.text(), /imagewatch_image_server_status\{/);
    } finally {
      child.kill("SIGINT");
    }
    const [code] = await exited;
    assert.equal(code, 0, demo.err());
    assert.match(demo.out(), /stopping…/);
  });

  it("as a real process: exits 78 with the problem when its config is invalid, stopping what it started", {
    timeout: 60_000,
  }, async () => {
    // The simulator starts before the daemon's config is read; before, the process stayed up on it.
    const demo = spawnDemo("99999999");
    const [code] = await demo.exited;
    assert.equal(code, 78, demo.err());
    assert.match(demo.err(), /server\.listen: must be host:port/);
  });
});
