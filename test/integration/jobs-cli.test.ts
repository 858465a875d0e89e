/**
 * `imagewatch jobs` end to end: a config file on disk, the simulator on 127.0.0.1:0 (system clock, as
 * the command signs with it), the command's stdout and stderr captured.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { jobsCommand } from "../../src/cli/jobs.js";
import { createSimulator } from "../../src/simulator/index.js";
import { captureContext } from "../helpers/command-context.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const P = "0123456789abcdef0123456789abcdef";
const ENV = { AK: "DEMOACCESSKEY0000001", SK: "demo-secret-key-0000000000000000000000000" };

async function setup(t: TestContext) {
  const sim = createSimulator();
  const { url } = await sim.start();
  t.after(() => sim.stop());
  const file = join(makeTempDir(t), "imagewatch.yaml");
  writeFileSync(
    file,
    `cloud:
  region: cn-north-4
  endpoint: ${url}
  iamEndpoint: ${url}
  auth: { kind: aksk, accessKey: \${AK}, secretKey: \${SK} }
  retry: { attempts: 1, minDelay: 10ms, maxDelay: 50ms }
targets:
  - { projectId: "${P}", discover: true }
log: { level: warn }
`,
  );
  sim.addServer(P, { id: "srv-a", name: "build-office-2026", status: "BUILDING" });
  sim.addServer(P, { id: "srv-b", name: "build-b", status: "BUILDING" });
  sim.setStatus(P, "srv-a", "ERROR", {
    job: { error_code: "WKS.0127", error_message: "disk quota exceeded" },
  });
  // An old failure, outside --since 24h.
  const old = sim.addJob(P, { job_type: "CREATE_SERVER_IMAGE", begin_time: "-3d" });
  sim.setJobStatus(P, old.id, "FAILED", { executeInfo: { error_code: "OLD", error_message: "old" } });
  return { file, sim };
}

async function run(args: string[]) {
  const { ctx, out, err } = captureContext(args, { env: ENV });
  const code = await jobsCommand.run(ctx);
  return { code, stdout: out(), stderr: err() };
}

describe("imagewatch jobs", () => {
  it("--failed --json: the failed jobs with their reasons, within --since", async (t) => {
    const { file } = await setup(t);
    const r = await run(["-c", file, "--failed", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.status, "FAILED");
    assert.equal(rows[0]?.job_type, "CREATE_SERVER_IMAGE");
    assert.equal(rows[0]?.name, "build-office-2026");
    const failures = rows[0]?.failures as Array<{ error_code: string; error_message: string }>;
    assert.equal(failures[0]?.error_code, "WKS.0127");
    assert.equal(failures[0]?.error_message, "disk quota exceeded");

    const wide = await run(["-c", file, "--failed", "--json", "--since", "7d"]);
    assert.equal((JSON.parse(wide.stdout) as unknown[]).length, 2);
  });

  it("a table of every job, the failed one with its reason", async (t) => {
    const { file } = await setup(t);
    const r = await run(["-c", file]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^JOB ID\s+TYPE\s+STATUS\s+BEGIN\s+DURATION\s+RESOURCE\s+REASON$/);
    assert.equal(lines.length, 3, r.stdout);
    assert.ok(
      lines.some((l) => /FAILED .*build-office-2026\s+WKS\.0127 disk quota exceeded$/.test(l)),
      r.stdout,
    );
    assert.ok(
      lines.some((l) => /CREATE_SERVER_IMAGE\s+RUNNING/.test(l)),
      r.stdout,
    );
  });

  it("a bad --since is a usage error; a failed call exits 1 naming it", async (t) => {
    const { file, sim } = await setup(t);
    await assert.rejects(run(["-c", file, "--since", "soon"]), /--since/);
    sim.injectFault({
      route: "jobs",
      status: 403,
      body: { error_code: "WKS.0403", error_msg: "no permission" },
    });
    const r = await run(["-c", file, "--failed"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: .*project 0123456789abcdef0123456789abcdef \(jobs\)/);
  });
});
