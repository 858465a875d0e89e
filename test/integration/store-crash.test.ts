import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { openSqliteStore } from "../../src/store/index.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const tmp = makeTempDir({ after }, "imagewatch-store-crash-");

const storeModule = pathToFileURL(path.resolve("src/store/index.ts")).href;

/**
 * A child process that commits polls as fast as it can and reports each commit on stdout only after
 * commitPoll returned. It stops by itself after 20 s in case nobody kills it.
 */
function childSource(file: string): string {
  return `
import fs from "node:fs";
import { openSqliteStore } from ${JSON.stringify(storeModule)};
const store = openSqliteStore(${JSON.stringify(file)});
const stopAt = Date.now() + 20000;
for (let i = 0; Date.now() < stopAt; i++) {
  const id = "evt_" + i;
  store.commitPoll({
    servers: [{ projectId: "p", serverId: "s", name: "n", status: "BUILDING", statusSince: i, present: true,
      stuck: false, stuckNotifiedAt: null, stuckCount: 0, consecutiveFailures: 0, pollFailedNotified: false,
      lastPollAt: i, lastPollOk: true, lastSuccessAt: i, lastError: null, server: null }],
    events: [{ id, type: "image_server.status_changed", occurredAt: i, projectId: "p", serverId: "s",
      data: { event_id: id, project_id: "p", server_id: "s", name: "n", status: "ACTIVE", pad: "x".repeat(2000) } }],
    deliveries: [{ eventId: id, webhook: "w1" }],
    now: i,
  });
  if (i > 0) store.markDelivered("evt_" + (i - 1), "w1", 1, i);
  fs.writeSync(1, i + "\\n");
}
`;
}

describe("SQLite store under kill -9", () => {
  it("keeps every commit reported before the process was killed, and opens cleanly", async () => {
    const file = path.join(tmp, "crash.db");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "--eval", childSource(file)],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_code, signal) => resolve(signal)),
    );

    // Kill it mid-stream, once it has committed a good number of polls.
    let lastReported = -1;
    let buffered = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`child reported ${lastReported + 1} commits in 15 s: ${stderr}`)),
        15_000,
      );
      child.stdout.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) if (line !== "") lastReported = Number(line);
        if (lastReported >= 300) {
          clearTimeout(timer);
          child.kill("SIGKILL");
          resolve();
        }
      });
      child.on("exit", () => {
        clearTimeout(timer);
        if (lastReported < 300) reject(new Error(`child exited early: ${stderr}`));
      });
    });
    assert.equal(await exited, "SIGKILL");

    const store = openSqliteStore(file);
    try {
      const events = store.listEvents(1_000_000);
      const ids = new Set(events.map((e) => e.id));
      for (let i = 0; i <= lastReported; i++) assert.ok(ids.has(`evt_${i}`), `committed evt_${i} was lost`);
      // Whatever else survived is whole: every event has its delivery row, the server its latest state.
      assert.ok(events.every((e) => e.deliveries.length === 1));
      const newest = events[0];
      assert.ok(newest);
      assert.equal(store.loadServers()[0]?.lastPollAt, newest.occurredAt);
      assert.equal(store.isWritable(), true);
    } finally {
      store.close();
    }
  });
});
