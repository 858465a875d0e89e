/**
 * A restarted daemon builds the per-server series of its persisted servers after start (not before it
 * listens); these tests hold it to exporting them from the first scrape on, before any poll.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { request } from "undici";
import { createApp } from "../../src/app.js";
import { parseConfigText } from "../../src/config/load.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator } from "../../src/simulator/index.js";
import { waitFor } from "../helpers/daemon.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { configYaml, PROJECT } from "../helpers/world.js";

const IDS = ["build-1", "build-2", "other-3"];
const statusLine = (id: string) =>
  new RegExp(
    `^imagewatch_image_server_status\\{project_id="${PROJECT}",server_id="${id}",status="ACTIVE"\\} 1$`,
    "m",
  );

describe("a restarted daemon's per-server metrics", () => {
  it("are exported from the first scrape, before the first poll, and a server no longer watched is not", async (t) => {
    const dir = makeTempDir(t);
    const sim = createSimulator();
    const { url: simUrl } = await sim.start();
    t.after(() => sim.stop());
    for (const id of IDS) sim.addServer(PROJECT, { id, name: id, status: "ACTIVE" });
    const config = (target: string) =>
      parseConfigText(
        configYaml(simUrl, {
          statePath: join(dir, "state.db"),
          target,
          extra: 'server: { listen: "127.0.0.1:0" }\nschedule: { interval: 1s }',
        }),
        {},
        "restart-metrics.yaml",
      );
    const first = createApp(config(`{ projectId: ${PROJECT}, discover: true }`), {
      logger: createSilentLogger(),
      env: {},
    });
    await first.start();
    try {
      await waitFor(() => first.isReady(), "first poll");
    } finally {
      await first.stop();
    }
    // The cloud stops answering lists: whatever the restarted daemon exports comes from the database.
    sim.injectFault({ route: "list", status: 503, count: 1_000_000 });

    const again = createApp(config(`{ projectId: ${PROJECT}, discover: true }`), {
      logger: createSilentLogger(),
      env: {},
    });
    try {
      const text = (await again.metrics.render()).body;
      for (const id of IDS) assert.match(text, statusLine(id), id);
    } finally {
      await again.stop();
    }

    // Over HTTP, at once after start (the first poll may still run); a target narrowed to `build`
    // no longer watches other-3, which must not come back from the database.
    const narrowed = createApp(config(`{ projectId: ${PROJECT}, discover: true, serverName: build }`), {
      logger: createSilentLogger(),
      env: {},
    });
    const { url } = await narrowed.start();
    try {
      const res = await request(`${url}/metrics`);
      const text = await res.body.text();
      assert.equal(res.statusCode, 200);
      assert.match(text, statusLine("build-1"));
      assert.match(text, statusLine("build-2"));
      assert.doesNotMatch(text, /server_id="other-3"/);
    } finally {
      await narrowed.stop();
    }
  });
});
