/**
 * A daemon that stops leaves its list pages for the next start (warm listings): the restarted daemon's
 * first poll recognises the pages that did not change instead of parsing them, and still reports what
 * changed while it was down. Running, it holds them in memory only: a daemon killed leaves none.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type App, createApp } from "../../src/app.js";
import { parseConfigText } from "../../src/config/load.js";
import { createLogger } from "../../src/lib/logger.js";
import { createSimulator } from "../../src/simulator/index.js";
import { waitFor } from "../helpers/daemon.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { configYaml, PROJECT } from "../helpers/world.js";

const IDS = Array.from({ length: 250 }, (_, i) => `srv-${String(i).padStart(3, "0")}`);

interface ListRequest {
  unchanged: boolean;
}

/** An app whose debug log is kept: the list requests of its polls, in order. */
function appOn(simUrl: string, statePath: string): { app: App; lists: ListRequest[] } {
  const lists: ListRequest[] = [];
  const logger = createLogger(
    { level: "debug", format: "json" },
    {
      write(line: string) {
        const entry = JSON.parse(line) as { msg?: string; path?: string; unchanged?: boolean };
        if (entry.msg === "cloud request" && entry.path === `/v1/${PROJECT}/image-servers`)
          lists.push({ unchanged: entry.unchanged === true });
      },
    },
  );
  const loaded = parseConfigText(
    configYaml(simUrl, {
      statePath,
      target: `{ projectId: ${PROJECT}, discover: true }`,
      extra: 'server: { listen: "127.0.0.1:0" }\nschedule: { interval: 1h }',
    }),
    {},
    "warm-restart.yaml",
  );
  return { app: createApp(loaded, { logger, env: {} }), lists };
}

async function firstPoll(app: App): Promise<void> {
  await app.start();
  await waitFor(() => app.isReady(), "first poll");
}

describe("warm restart", () => {
  it("recognises the unchanged pages it left, and parses and reports the one that changed meanwhile", async (t) => {
    const dir = makeTempDir(t);
    const sim = createSimulator();
    const { url: simUrl } = await sim.start();
    t.after(() => sim.stop());
    for (const id of IDS) sim.addServer(PROJECT, { id, name: id, status: "ACTIVE" });
    const statePath = join(dir, "state.db");

    const cold = appOn(simUrl, statePath);
    try {
      await firstPoll(cold.app);
      assert.deepEqual(
        cold.lists.map((l) => l.unchanged),
        [false, false, false],
        "a first start parses every page",
      );
    } finally {
      await cold.app.stop();
    }

    // While it is down, one server of the second page (offsets 100–199) changes.
    sim.setStatus(PROJECT, "srv-150", "ERROR");

    const warm = appOn(simUrl, statePath);
    try {
      await firstPoll(warm.app);
      assert.deepEqual(
        warm.lists.map((l) => l.unchanged),
        [true, false, true],
        "pages 1 and 3 recognised, page 2 parsed",
      );
      assert.equal(warm.app.states.get(PROJECT, "srv-150")?.status, "ERROR");
      assert.equal(warm.app.states.get(PROJECT, "srv-149")?.status, "ACTIVE");
      const changes = warm.app.store
        .listEvents(10)
        .filter((e) => e.type === "image_server.status_changed")
        .map((e) => [e.serverId, e.data.previous_status, e.data.status]);
      assert.deepEqual(changes, [["srv-150", "ACTIVE", "ERROR"]]);
      // Taken at start: a daemon killed now would leave none, and its successor would list cold.
      assert.deepEqual(warm.app.store.takeWarmListings(), new Map());
    } finally {
      await warm.app.stop();
    }
  });
});
