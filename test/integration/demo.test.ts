import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { request } from "undici";
import { freePort, waitFor } from "../helpers/daemon.js";

const ROOT = resolve(import.meta.dirname, "../..");

describe("imagewatch demo", () => {
  it("shows a newcomer the whole story within a minute, serves /metrics, and stops on Ctrl-C", async () => {
    const [daemonPort, simPort, receiverPort] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "demo"], {
      cwd: ROOT,
      env: {
        ...process.env,
        IMAGEWATCH_DEMO_PORT: String(daemonPort),
        IMAGEWATCH_DEMO_SIM_PORT: String(simPort),
        IMAGEWATCH_DEMO_RECEIVER_PORT: String(receiverPort),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    const exited = once(child, "exit");
    try {
      const expected = [
        /discovered\s+build-cad-tools/,
        /status_changed\s+build-office-2026 .* BUILDING -> BUILT/,
        /stuck\s+build-cad-tools .* BUILDING for/,
        /status_changed\s+build-browser-kiosk .* CREATING -> ACTIVE/,
        /status_changed\s+build-dev-workstation .* BUILDING -> ERROR/,
        /image_job\.failed\s+build-dev-workstation .* CREATE_SERVER_IMAGE FAILED after \d+s: WKS\.0127 disk quota exceeded/,
        /poll_failed\s+.* http_5xx 503 WKS\.0003/,
        /poll_recovered\s+/,
      ];
      await waitFor(
        () => expected.every((re) => re.test(out)),
        `the demo story (so far:\n${out}\n${err})`,
        90_000,
        200,
      );
      const res = await request(`http://127.0.0.1:${daemonPort}/metrics`);
      const metrics = await res.body.text();
      assert.match(
        metrics,
        /imagewatch_image_server_status\{project_id="0123456789abcdef0123456789abcdef",server_id="4b1a2c3d-0000-4111-a222-000000000003",status="ERROR"\} 1/,
      );
      assert.ok(!out.includes("rejected a request with a bad signature"), "every webhook verified");
    } finally {
      child.kill("SIGINT");
      const [code] = await exited;
      assert.equal(code, 0, err);
    }
  });
});
