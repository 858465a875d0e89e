import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { checkConfigCommand } from "../../src/cli/check-config.js";
import { UsageError } from "../../src/lib/errors.js";
import { captureContext } from "../helpers/command-context.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const FIXTURES = path.join(import.meta.dirname, "..", "fixtures", "config");
const LEAK = path.join(FIXTURES, "leak");

/** Every secret value the leak fixtures hold (and the env supplies). None may ever be printed. */
const SECRETS = [
  "AK-LEAKCHECK-0001",
  "SK-LEAKCHECK-0002",
  "STS-LEAKCHECK-0003",
  "whsec_TEVBS0NIRUNLLXdoc2VjLTAwMDQtYWJjZGVmZ2hpamts",
  "TEVBS0NIRUNLLXdoc2VjLTAwMDQtYWJjZGVmZ2hpamts",
  "FEISHU-LEAKCHECK-0005",
  "HDR-LEAKCHECK-0006",
  "DING-LEAKCHECK-0007",
  "PASS-LEAKCHECK-0008",
  "SLACK-LEAKCHECK-0009",
  "BEARER-LEAKCHECK-0010",
  "PROXY-LEAKCHECK-0011",
  "FEISHU-URL-LEAKCHECK-0012",
  "LEAKCHECK-not-base64-0013",
  "PASS-LEAKCHECK-0014",
  "PASS-LEAKCHECK-0015",
  "AK-LEAKCHECK-0016",
  "SK-LEAKCHECK-0017",
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function runCheck(args: string[], env: Record<string, string> = {}, cwd = process.cwd()): Promise<Run> {
  const { ctx, out, err } = captureContext(args, { env, cwd });
  const code = await checkConfigCommand.run(ctx);
  return { code, stdout: out(), stderr: err() };
}

function assertNoSecrets(run: Run): void {
  for (const secret of SECRETS) {
    assert.ok(!run.stdout.includes(secret), `stdout leaks ${secret}`);
    assert.ok(!run.stderr.includes(secret), `stderr leaks ${secret}`);
  }
}

const ENV = { LEAK_SK: "SK-LEAKCHECK-0002" };

describe("check-config command", () => {
  it("is named check-config and documents -c", () => {
    assert.equal(checkConfigCommand.name, "check-config");
    assert.match(checkConfigCommand.usage, /-c, --config FILE/);
  });

  it("valid config: exit 0, resolved YAML on stdout with every secret masked, warnings on stderr", async () => {
    const run = await runCheck(["-c", path.join(LEAK, "valid.yaml")], ENV);
    assert.equal(run.code, 0, run.stderr);
    assertNoSecrets(run);
    // biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document, probed field by field
    const doc = parseYaml(run.stdout) as any;
    assert.deepEqual(doc.cloud.auth, {
      kind: "aksk",
      accessKey: "***",
      secretKey: "***",
      securityToken: "***",
    });
    assert.equal(doc.cloud.endpoint, "http://***@127.0.0.1:9479");
    // Every cloud's credentials are masked, an agency's source included (read from its File).
    assert.deepEqual(doc.clouds.eu.auth, {
      kind: "agency",
      domainName: "acme",
      agencyName: "imagewatch",
      duration: "1h",
      source: { kind: "password", domain: "acme", username: "ops", password: "***" },
    });
    assert.deepEqual(doc.clouds.node.auth, { kind: "metadata", endpoint: "http://169.254.169.254" });
    assert.deepEqual(doc.clouds.second.auth, { kind: "aksk", accessKey: "***", secretKey: "***" });
    assert.equal(doc.targets[1].cloud, "eu");
    assert.equal(doc.cloud.requestTimeout, "10s");
    assert.equal(doc.schedule.interval, "30s");
    assert.equal(doc.stuck.BUILDING, "10s");
    assert.equal(doc.webhooks[0].secret, "***");
    assert.deepEqual(doc.webhooks[0].headers, { "X-Api-Key": "***" });
    assert.equal(doc.webhooks[0].url, "https://***@hooks.example.com/imagewatch");
    assert.equal(doc.webhooks[2].url, "https://oapi.dingtalk.com/robot/send?access_token=***");
    assert.equal(doc.server.bearerToken, "***");
    assert.equal(doc.state.retention, "14d");
    assert.equal(
      run.stderr,
      "warning: stuck.BUILDING: 10s is shorter than schedule.interval (30s); stuck is noticed only when a poll runs\n",
    );
  });

  it("invalid config naming secret fields: exit 78, one error per line, no secret value anywhere", async () => {
    const run = await runCheck(["--config", path.join(LEAK, "invalid-schema.yaml")], ENV);
    assert.equal(run.code, 78);
    assert.equal(run.stdout, "");
    assertNoSecrets(run);
    const lines = run.stderr.trimEnd().split("\n");
    for (const expected of [
      "error: cloud.auth.accessKeyFile: give either accessKey or accessKeyFile, not both",
      "error: cloud.auth.secretKey: must be a string",
      "error: webhooks[0].secret: must look like whsec_<base64>",
      "error: webhooks[0].headers.webhook-signature: is set by imagewatch and cannot be overridden",
      "error: webhooks[1].url: must be http(s) URL",
      "error: webhooks[1].secret: must be a string (quote it in YAML)",
      "error: server.bearerToken: must be a string",
    ]) {
      assert.ok(lines.includes(expected), `missing line ${expected} in\n${run.stderr}`);
    }
    assert.match(lines.at(-1) ?? "", /^error: .*invalid-schema\.yaml is invalid \(7 problems\)$/);
    assert.ok(lines.every((l) => l.startsWith("error: ")));
  });

  it("a YAML syntax error on a line holding a secret does not echo the line", async () => {
    const run = await runCheck(["-c", path.join(LEAK, "invalid-yaml.yaml")], ENV);
    assert.equal(run.code, 78);
    assertNoSecrets(run);
    assert.match(run.stderr, /^error: line \d+, column \d+: YAML: /m);
  });

  it("a valid config that is probably wrong: exit 0, its warnings on stderr, the config on stdout", async () => {
    const run = await runCheck(["-c", path.join(FIXTURES, "warn", "stuck-typo.yaml")]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "warning: stuck.BUILDNG: not a status the API has; did you mean BUILDING?\n");
    assert.equal(parseYaml(run.stdout).stuck.BUILDNG, "10m");
  });

  it("an unreadable cloud.caFile: exit 78 naming the key and the file", async () => {
    const file = path.join(FIXTURES, "invalid", "unreadable-ca-file.yaml");
    const run = await runCheck(["-c", file]);
    assert.equal(run.code, 78);
    assert.equal(run.stdout, "");
    assert.equal(
      run.stderr,
      "error: cloud.caFile: cannot read /nonexistent/imagewatch-test/ca.pem (ENOENT)\n" +
        `error: ${file} is invalid (1 problem)\n`,
    );
  });

  it("a missing file: exit 78 naming it", async (t) => {
    const dir = makeTempDir(t);
    const run = await runCheck(["-c", "absent.yaml"], {}, dir);
    assert.equal(run.code, 78);
    assert.ok(
      run.stderr.includes(`error: ${path.join(dir, "absent.yaml")}: cannot read config file: ENOENT`),
    );
  });

  it("takes the file from $IMAGEWATCH_CONFIG, relative to the context's cwd", async (t) => {
    const dir = makeTempDir(t);
    fs.writeFileSync(
      path.join(dir, "iw.yaml"),
      "cloud:\n  region: cn-east-3\n  auth: { kind: token, token: tok-LEAK }\ntargets: [{ projectId: p1, discover: true }]\n",
    );
    const run = await runCheck([], { IMAGEWATCH_CONFIG: "iw.yaml" }, dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    assert.ok(!run.stdout.includes("tok-LEAK"));
    assert.match(run.stdout, /endpoint: https:\/\/appstream\.cn-east-3\.myhuaweicloud\.com/);
  });

  it("--help prints the usage and exits 0; an unknown option is a usage error", async () => {
    const help = await runCheck(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: imagewatch check-config/);
    await assert.rejects(runCheck(["--bogus"]), (err: unknown) => err instanceof UsageError);
  });
});
