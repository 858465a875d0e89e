import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import type { ServerState } from "../../src/domain/types.js";
import { createMetrics, METRIC_NAMES, type Metrics } from "../../src/metrics/metrics.js";

const P = "0123456789abcdef0123456789abcdef";
const T0 = Date.parse("2026-11-27T10:00:00.000Z");

function state(i: number, over: Partial<ServerState> = {}): ServerState {
  const id = `srv-${i}`;
  return {
    projectId: P,
    serverId: id,
    name: `n${i}`,
    status: "ACTIVE",
    statusSince: T0,
    present: true,
    stuck: false,
    stuckNotifiedAt: null,
    stuckCount: 0,
    consecutiveFailures: 0,
    pollFailedNotified: false,
    lastPollAt: T0,
    lastPollOk: true,
    lastSuccessAt: T0,
    lastError: null,
    server: {
      id,
      name: `n${i}`,
      status: "ACTIVE",
      updateTime: T0,
      createTime: T0,
      imageId: "",
      imageType: "gold",
      serverGroupId: "",
      appGroupId: "",
      apsServerId: "",
      instanceId: "",
      raw: { id },
    },
    ...over,
  };
}

async function bodies(m: Metrics): Promise<{ plain: string; gz: string; gzChunks: Buffer[] }> {
  const plain = Buffer.concat((await m.renderChunks()).chunks).toString("utf8");
  const { chunks } = await m.renderChunks({ gzip: true });
  return { plain, gz: gunzipSync(Buffer.concat(chunks)).toString("utf8"), gzChunks: chunks };
}

const lastPollLine = (text: string, i: number): string | undefined =>
  text
    .split("\n")
    .find((l) => l.startsWith(`${METRIC_NAMES.serverLastPollSuccess}{`) && l.includes(`"srv-${i}"`));

describe("metrics: gzip segments and scrape-time poll timestamps", () => {
  it("serves concatenated gzip members that decompress to exactly the plain exposition, before and after a change", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    const states = Array.from({ length: 2500 }, (_, i) => state(i));
    for (const s of states) m.setServer(s);
    const first = await bodies(m);
    assert.equal(first.gz, first.plain);
    assert.ok(first.plain.includes('server_id="srv-2499"'));
    // One server changes: still one valid body; the members of segments that did not change are reused.
    m.setServer(state(7, { status: "BUILDING" }));
    const second = await bodies(m);
    assert.equal(second.gz, second.plain);
    assert.match(second.plain, /server_id="srv-7",status="BUILDING"\} 1/);
    const reused = second.gzChunks.filter((c) => first.gzChunks.includes(c)).length;
    assert.ok(reused > 0, "unchanged segments keep their cached gzip member");
    assert.ok(reused < second.gzChunks.length, "the changed segment was recompressed");
  });

  it("renders last_poll_success at scrape time from the state, which a steady poll moves in place", async () => {
    const m = createMetrics({ version: "1.2.3", collectDefault: false });
    const s = state(1);
    m.setServer(s);
    assert.equal(lastPollLine((await m.render()).body, 1)?.split(" ")[1], String(T0 / 1000));
    // A steady poll: the same object, only its poll times moved; setServer with it is a no-op.
    s.lastPollAt = T0 + 30_000;
    s.lastSuccessAt = T0 + 30_000;
    m.setServer(s);
    const { plain, gz } = await bodies(m);
    assert.equal(lastPollLine(plain, 1)?.split(" ")[1], String((T0 + 30_000) / 1000));
    assert.equal(gz, plain);
    // A gone server's line leaves.
    m.removeServer(P, "srv-1");
    assert.equal(lastPollLine((await m.render()).body, 1), undefined);
  });
});
