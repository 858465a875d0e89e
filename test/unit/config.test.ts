// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are config text using ${VAR}
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { rootCertificates } from "node:tls";
import { parse as parseYaml } from "yaml";
import { CONFIG_DEFAULTS, DEFAULT_WEBHOOK_EVENTS } from "../../src/config/defaults.js";
import { loadConfig, parseConfigText, substituteEnv } from "../../src/config/load.js";
import { maskConfig, renderConfigYaml } from "../../src/config/mask.js";
import { DURATION_MESSAGE } from "../../src/config/schema.js";
import { EVENT_NAMES } from "../../src/domain/types.js";
import { ConfigError, type ConfigIssue } from "../../src/lib/errors.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const FIXTURES = path.join(import.meta.dirname, "..", "fixtures", "config");
const INVALID = path.join(FIXTURES, "invalid");
const WARN = path.join(FIXTURES, "warn");

const BASE = `
cloud:
  region: cn-north-4
  auth: { kind: token, token: t0ken }
targets:
  - projectId: p1
    discover: true
`;

/** Runs `fn`, which must throw a ConfigError, and returns its issues. */
function issuesOf(fn: () => unknown): readonly ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, "CONFIG_INVALID");
    return err.issues;
  }
  assert.fail("expected a ConfigError, but the config loaded");
}

function parse(text: string, env: Record<string, string | undefined> = {}) {
  return parseConfigText(text, env, "test.yaml");
}

interface InvalidCase {
  file: string;
  env?: Record<string, string>;
  path: string;
  message: string;
}

/** Each invalid fixture, with the exact path and a fragment of the message it must produce. */
const INVALID_CASES: InvalidCase[] = [
  {
    file: "unknown-target-cloud.yaml",
    path: "targets[0].cloud",
    message: "unknown cloud europe (known: default, eu)",
  },
  { file: "agency-duration-out-of-range.yaml", path: "cloud.auth.duration", message: "from 15m to 24h" },
  {
    file: "agency-source-missing-secret.yaml",
    path: "cloud.auth.source.secretKey",
    message: "required (or secretKeyFile)",
  },
  { file: "clouds-named-default.yaml", path: "clouds.default", message: "is the name of `cloud:`" },
  {
    file: "yaml-syntax.yaml",
    path: "line 7, column 3",
    message: "YAML: Flow sequence in block collection must be sufficiently indented",
  },
  { file: "yaml-duplicate-key.yaml", path: "line 9, column 3", message: "Map keys must be unique" },
  { file: "unknown-key-nested.yaml", path: "schedule.intervall", message: "unknown key" },
  { file: "bad-duration.yaml", path: "schedule.interval", message: DURATION_MESSAGE },
  { file: "bad-webhook-url.yaml", path: "webhooks[1].url", message: "must be http(s) URL" },
  { file: "target-without-ids.yaml", path: "targets[0]", message: "needs serverIds or discover: true" },
  { file: "no-targets.yaml", path: "targets", message: "must not be empty" },
  {
    file: "sharding-index-too-big.yaml",
    path: "sharding.index",
    message: "must be less than sharding.count (2)",
  },
  {
    file: "sharding-auto-without-ordinal.yaml",
    env: { HOSTNAME: "imagewatch" },
    path: "sharding.index",
    message: "auto needs HOSTNAME ending in a number",
  },
  {
    file: "aksk-missing-secret-key.yaml",
    path: "cloud.auth.secretKey",
    message: "required (or secretKeyFile)",
  },
  { file: "bad-auth-kind.yaml", path: "cloud.auth.kind", message: "must be one of aksk, token, password" },
  { file: "password-without-region.yaml", path: "cloud.region", message: "required for auth kind password" },
  {
    file: "unset-env-var.yaml",
    path: "line 7, column 16",
    message: "environment variable IMAGEWATCH_TEST_UNSET_SK is not set",
  },
  { file: "bad-whsec-secret.yaml", path: "webhooks[0].secret", message: "must look like whsec_<base64>" },
  {
    file: "standard-without-secret.yaml",
    path: "webhooks[0].secret",
    message: "required for format standard",
  },
  { file: "duplicate-webhook-names.yaml", path: "webhooks[1].name", message: "duplicate webhook name ops" },
  { file: "zero-concurrency.yaml", path: "schedule.concurrency", message: "must be at least 1" },
  { file: "negative-concurrency.yaml", path: "schedule.concurrency", message: "must be at least 1" },
  { file: "zero-retry-attempts.yaml", path: "cloud.retry.attempts", message: "must be at least 1" },
  {
    file: "unknown-region.yaml",
    path: "cloud.endpoint",
    message: "no known endpoint for region xx-nowhere-9, set cloud.endpoint",
  },
  {
    file: "secret-and-secret-file.yaml",
    path: "cloud.auth.secretKeyFile",
    message: "give either secretKey or secretKeyFile, not both",
  },
  {
    file: "unreadable-secret-file.yaml",
    path: "cloud.auth.secretKeyFile",
    message: "cannot read /nonexistent/imagewatch-test/sk: ENOENT",
  },
  {
    file: "bad-event-name.yaml",
    path: "webhooks[0].events[1]",
    message: "must be one of status_changed, stuck",
  },
  {
    file: "retry-min-over-max.yaml",
    path: "webhooks[0].retry.minDelay",
    message: "must not be longer than maxDelay",
  },
  { file: "bad-listen.yaml", path: "server.listen", message: "must be host:port" },
  { file: "stuck-lowercase-status.yaml", path: "stuck.building", message: "give a status name in capitals" },
  {
    file: "numeric-project-id.yaml",
    path: "targets[0].projectId",
    message: "must be a string (quote it in YAML)",
  },
  { file: "empty.yaml", path: "", message: "must be a YAML mapping" },
  {
    file: "discover-with-server-ids.yaml",
    path: "targets[0].serverIds",
    message: "not allowed with discover: true (discover watches every server the list returns)",
  },
  {
    file: "unreadable-ca-file.yaml",
    path: "cloud.caFile",
    message: "cannot read /nonexistent/imagewatch-test/ca.pem (ENOENT)",
  },
  {
    file: "ca-file-without-certificate.yaml",
    path: "cloud.caFile",
    message: "../files/not-a-certificate.pem holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
  },
  { file: "many-problems.yaml", path: "metrics", message: "unknown key" },
];

describe("invalid config fixtures", () => {
  it("every fixture in the directory has a case in the table", () => {
    const files = fs.readdirSync(INVALID).sort();
    assert.deepEqual(files, INVALID_CASES.map((c) => c.file).sort());
    assert.ok(files.length >= 15);
  });

  for (const c of INVALID_CASES) {
    it(`${c.file} → ${c.path || "(root)"}: ${c.message}`, () => {
      const issues = issuesOf(() => loadConfig(path.join(INVALID, c.file), c.env ?? {}));
      const hit = issues.find((i) => i.path === c.path && i.message.includes(c.message));
      assert.ok(hit, `no issue ${c.path}: …${c.message}… among ${JSON.stringify(issues)}`);
    });
  }

  it("reports every problem of a file at once", () => {
    const issues = issuesOf(() => loadConfig(path.join(INVALID, "many-problems.yaml"), {}));
    const paths = issues.map((i) => i.path);
    for (const expected of [
      "cloud.auth.secretKey",
      "targets[0]",
      "schedule.interval",
      "schedule.concurrency",
      "webhooks[0].url",
      "webhooks[0].format",
      "sharding.index",
      "metrics",
    ]) {
      assert.ok(paths.includes(expected), `missing ${expected} in ${paths.join(", ")}`);
    }
    assert.ok(issues.length >= 2);
  });

  it("the error message lists the issues one per line", () => {
    try {
      loadConfig(path.join(INVALID, "many-problems.yaml"), {});
      assert.fail("loaded");
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      const lines = err.message.split("\n");
      assert.equal(lines.length, err.issues.length);
      assert.ok(lines.includes("webhooks[0].url: must be http(s) URL"));
    }
  });

  it("a missing config file is a ConfigError naming the file", (t) => {
    const file = path.join(makeTempDir(t), "nope.yaml");
    const issues = issuesOf(() => loadConfig(file, {}));
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.path, file);
    assert.match(issues[0]?.message ?? "", /cannot read config file: ENOENT/);
  });

  it("a directory instead of a file is a ConfigError too", (t) => {
    const dir = makeTempDir(t);
    const issues = issuesOf(() => loadConfig(dir, {}));
    assert.equal(issues[0]?.path, dir);
    assert.match(issues[0]?.message ?? "", /cannot read config file: EISDIR/);
  });
});

/** Each fixture of valid configs that are probably wrong, with exactly the warnings it must give. */
const WARN_CASES: Array<{ file: string; warnings: string[] }> = [
  { file: "stuck-typo.yaml", warnings: ["stuck.BUILDNG: not a status the API has; did you mean BUILDING?"] },
  {
    file: "stuck-unknown-status.yaml",
    warnings: [
      "stuck.PROVISIONING: not a status the API has (it has CREATING, ACTIVE, BUILDING, BUILT, ERROR, DELETING)",
    ],
  },
  {
    file: "stuck-shorter-than-interval.yaml",
    warnings: [
      "stuck.repeatEvery: 10s is shorter than schedule.interval (1m); a reminder can come only when a poll runs",
      "stuck.BUILDING: 30s is shorter than schedule.interval (1m); stuck is noticed only when a poll runs",
      "stuck.ERROR: 2m is shorter than schedule.steadyInterval (5m); stuck is noticed only when a poll runs",
    ],
  },
  {
    file: "steady-shorter-than-interval.yaml",
    warnings: [
      "schedule.steadyInterval: 30s is shorter than schedule.interval (1m); no server is polled more often than once per interval",
    ],
  },
  {
    file: "filters-without-discover.yaml",
    warnings: [
      "targets[1].serverName: has no effect without discover: true (it filters the list discover watches)",
      "targets[1].enterpriseProjectId: has no effect without discover: true (serverIds already names the servers)",
    ],
  },
];

describe("warning config fixtures", () => {
  it("every fixture in the directory has a case in the table", () => {
    assert.deepEqual(fs.readdirSync(WARN).sort(), WARN_CASES.map((c) => c.file).sort());
  });

  for (const c of WARN_CASES) {
    it(`${c.file} loads, with exactly: ${c.warnings.join(" / ")}`, () => {
      assert.deepEqual(loadConfig(path.join(WARN, c.file), {}).warnings, c.warnings);
    });
  }

  it("UNKNOWN (imagewatch's own status for a missing one) is a status stuck may name", () => {
    assert.deepEqual(parse(`${BASE}stuck:\n  UNKNOWN: 30m\n`).warnings, []);
  });
});

describe("cloud.caFile", () => {
  const [first, second] = rootCertificates;
  const withCa = (file: string) => `${BASE.replace("  auth:", `  caFile: ${file}\n  auth:`)}`;

  it("is read at load: cloud.ca holds its certificates (text around them dropped)", (t) => {
    const dir = makeTempDir(t);
    fs.writeFileSync(path.join(dir, "ca.pem"), `# corporate CAs\n${first}\n\nsubject=…\n${second}\n`);
    fs.writeFileSync(path.join(dir, "imagewatch.yaml"), withCa("ca.pem"));
    const { config } = loadConfig(path.join(dir, "imagewatch.yaml"), {});
    assert.equal(config.cloud.caFile, "ca.pem");
    assert.equal(config.cloud.ca, `${first}\n${second}`);
  });

  it("a certificate block that does not parse is named by its position, without its contents", (t) => {
    const dir = makeTempDir(t);
    const broken = "-----BEGIN CERTIFICATE-----\nTEVBS0NIRUNLLWNh\n-----END CERTIFICATE-----";
    fs.writeFileSync(path.join(dir, "ca.pem"), `${first}\n${broken}\n`);
    const issues = issuesOf(() => parseConfigText(withCa("ca.pem"), {}, "t.yaml", { baseDir: dir }));
    assert.deepEqual(issues, [
      { path: "cloud.caFile", message: "certificate 2 of 2 in ca.pem cannot be parsed" },
    ]);
  });

  it("a directory is reported like any unreadable file, together with the other problems", (t) => {
    const dir = makeTempDir(t);
    const issues = issuesOf(() => parse(`${withCa(dir)}schedule:\n  interval: soon\n`));
    assert.deepEqual(issues, [
      { path: "cloud.caFile", message: `cannot read ${dir} (EISDIR)` },
      { path: "schedule.interval", message: DURATION_MESSAGE },
    ]);
  });
});

describe("environment substitution", () => {
  it("replaces ${VAR}, applies ${VAR:-default} when unset or empty, keeps $${ literal", () => {
    const env = { A: "alpha", EMPTY: "" };
    const { text, issues } = substituteEnv(
      "a: ${A}\nb: ${B:-bee}\nc: ${EMPTY:-sea}\nd: x${B:-}y\ne: ${A:-unused}\nf: $${A}\n",
      env,
    );
    assert.deepEqual(issues, []);
    assert.equal(text, "a: alpha\nb: bee\nc: sea\nd: xy\ne: alpha\nf: ${A}\n");
  });

  it("names an unset variable with its line and column, and reports all of them", () => {
    const { issues } = substituteEnv("a: 1\nb: ${MISSING_ONE}\nc: x ${MISSING_TWO}\n", {});
    assert.deepEqual(issues, [
      { path: "line 2, column 4", message: "environment variable MISSING_ONE is not set" },
      { path: "line 3, column 6", message: "environment variable MISSING_TWO is not set" },
    ]);
  });

  it("a variable set to the empty string is used as empty", () => {
    assert.equal(substituteEnv("a: '${E}'", { E: "" }).text, "a: ''");
  });

  it("rejects malformed references", () => {
    const { issues } = substituteEnv("a: ${1BAD}\nb: ${UNCLOSED\n", {});
    assert.equal(issues.length, 2);
    assert.equal(issues[0]?.path, "line 1, column 4");
    assert.match(issues[1]?.message ?? "", /bad variable reference/);
  });

  it("leaves comments alone but substitutes inside quoted strings containing #", () => {
    const { text, issues } = substituteEnv('# ${NOT_SET}\na: "x # ${A}" # ${ALSO_NOT_SET}\n', { A: "1" });
    assert.deepEqual(issues, []);
    assert.equal(text, '# ${NOT_SET}\na: "x # 1" # ${ALSO_NOT_SET}\n');
  });

  it("substitutes before parsing, so numbers and durations come from the environment", () => {
    const { config } = parse(`${BASE}schedule:\n  interval: \${POLL:-45s}\n  concurrency: \${CONC}\n`, {
      CONC: "7",
    });
    assert.equal(config.schedule.interval, 45_000);
    assert.equal(config.schedule.concurrency, 7);
  });

  it("an unset variable through parseConfigText is a ConfigError naming it", () => {
    const issues = issuesOf(() => parse(`${BASE}state:\n  path: \${STATE_DIR}/db\n`));
    assert.deepEqual(issues, [
      { path: "line 9, column 9", message: "environment variable STATE_DIR is not set" },
    ]);
  });

  it("an empty default means 'not set' for optional secrets", () => {
    const { config } = parse(
      `cloud:
  region: cn-north-4
  auth:
    kind: aksk
    accessKey: AK
    secretKey: SK
    securityToken: \${STS:-}
targets: [{ projectId: p1, discover: true }]
server:
  bearerToken: \${METRICS_TOKEN:-}
`,
    );
    assert.ok(!("securityToken" in config.cloud.auth));
    assert.ok(!("bearerToken" in config.server));
    const quoted = parse(`${BASE}server:\n  bearerToken: ""\n`);
    assert.ok(!("bearerToken" in quoted.config.server));
  });
});

describe("*File secrets", () => {
  it("reads the file and drops one trailing newline", (t) => {
    const dir = makeTempDir(t);
    fs.writeFileSync(path.join(dir, "sk"), "sk-from-file\n");
    fs.writeFileSync(path.join(dir, "sts"), "sts-from-file\n\n");
    fs.writeFileSync(path.join(dir, "hook"), "whsec_ZGVtby1zZWNyZXQtZm9yLWltYWdld2F0Y2gtZGVtbw==");
    const file = path.join(dir, "imagewatch.yaml");
    fs.writeFileSync(
      file,
      `cloud:
  region: cn-north-4
  auth:
    kind: aksk
    accessKey: AK
    secretKeyFile: ${path.join(dir, "sk")}
    securityTokenFile: sts
targets: [{ projectId: p1, discover: true }]
webhooks:
  - name: ops
    url: https://hooks.example.com/x
    secretFile: ./hook
`,
    );
    const { config } = loadConfig(file, {});
    assert.deepEqual(config.cloud.auth, {
      kind: "aksk",
      accessKey: "AK",
      secretKey: "sk-from-file",
      // only one newline is dropped; relative paths are relative to the config file's directory
      securityToken: "sts-from-file\n",
    });
    assert.equal(config.webhooks[0]?.secret, "whsec_ZGVtby1zZWNyZXQtZm9yLWltYWdld2F0Y2gtZGVtbw==");
  });

  it("parseConfigText reads through the injected readFile", () => {
    const read: string[] = [];
    const { config } = parseConfigText(
      `cloud:\n  region: cn-north-4\n  auth: { kind: token, tokenFile: /secrets/token }\ntargets: [{ projectId: p1, discover: true }]\n`,
      {},
      "inline",
      {
        readFile: (p) => {
          read.push(p);
          return "tok-123\r\n";
        },
      },
    );
    assert.deepEqual(read, ["/secrets/token"]);
    assert.deepEqual(config.cloud.auth, { kind: "token", token: "tok-123" });
  });

  it("an empty secret file means the secret is missing", () => {
    const issues = issuesOf(() =>
      parseConfigText(
        `cloud:\n  region: cn-north-4\n  auth: { kind: token, tokenFile: /empty }\ntargets: [{ projectId: p1, discover: true }]\n`,
        {},
        "inline",
        { readFile: () => "\n" },
      ),
    );
    assert.deepEqual(issues, [{ path: "cloud.auth.token", message: "required (or tokenFile)" }]);
  });

  it("an unreadable file is reported once, at the File key", () => {
    const issues = issuesOf(() =>
      parseConfigText(`${BASE}server:\n  bearerTokenFile: /nope/token\n`, {}, "inline", {
        readFile: () => {
          throw Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
        },
      }),
    );
    assert.deepEqual(issues, [
      { path: "server.bearerTokenFile", message: "cannot read /nope/token: EACCES" },
    ]);
  });
});

describe("resolved defaults", () => {
  it("fills every default of a minimal config", () => {
    const { config, warnings, path: from } = loadConfig(path.join(FIXTURES, "valid", "minimal.yaml"), {});
    assert.match(from, /minimal\.yaml$/);
    assert.deepEqual(warnings, []);
    const cloud = {
      region: "cn-north-4",
      endpoint: "https://appstream.cn-north-4.myhuaweicloud.com",
      iamEndpoint: "https://iam.cn-north-4.myhuaweicloud.com",
      auth: { kind: "token", token: "t0ken" },
      requestTimeout: 10_000,
      maxRequestsPerSecond: 5,
      retry: { attempts: 4, minDelay: 2_000, maxDelay: 120_000 },
    };
    assert.deepEqual(config, {
      cloud,
      clouds: { default: cloud },
      targets: [{ projectId: "p1", serverIds: [], discover: true, jobs: true }],
      schedule: { interval: 30_000, steadyInterval: 300_000, concurrency: 4 },
      stuck: {
        thresholds: { CREATING: 3_600_000, BUILDING: 3_600_000, DELETING: 1_200_000 },
        repeatEvery: 0,
      },
      jobs: { stuck: { CREATE_SERVER: 3_600_000, CREATE_SERVER_IMAGE: 3_600_000, DELETE_SERVER: 1_200_000 } },
      alerts: { pollFailureThreshold: 3 },
      webhooks: [],
      alertmanagers: [],
      server: { listen: "0.0.0.0:9478", host: "0.0.0.0", port: 9478 },
      state: { path: "data/imagewatch.db", retention: 14 * 86_400_000 },
      log: { level: "info", format: "json" },
      sharding: { count: 1, index: 0 },
    });
  });

  it("derives endpoints from the region, per API §3", () => {
    const at = (region: string) => parse(BASE.replace("cn-north-4", region)).config.cloud;
    assert.equal(at("cn-southwest-2").endpoint, "https://appstream.cn-southwest-2.myhuaweicloud.com");
    assert.equal(at("ap-southeast-3").endpoint, "https://workspace.ap-southeast-3.myhuaweicloud.com");
    assert.equal(at("cn-north-11").endpoint, "https://workspace.cn-north-11.myhuaweicloud.com");
    assert.equal(at("ap-southeast-3").iamEndpoint, "https://iam.ap-southeast-3.myhuaweicloud.com");
  });

  it("keeps configured endpoints (http allowed), without trailing slashes; region optional for token auth", () => {
    const { config } = parse(`cloud:
  endpoint: http://127.0.0.1:9479//
  auth: { kind: token, token: t }
targets: [{ projectId: p1, serverIds: [s1, s1, s2] }]
`);
    assert.equal(config.cloud.endpoint, "http://127.0.0.1:9479");
    assert.equal(config.cloud.iamEndpoint, "http://127.0.0.1:9479");
    assert.ok(!("region" in config.cloud));
    assert.deepEqual(config.targets[0]?.serverIds, ["s1", "s2"]);
  });

  it("an unknown region is fine when the endpoint is given", () => {
    const { config } = parse(
      BASE.replace("region: cn-north-4", "region: xx-new-1\n  endpoint: https://api.example.com/"),
    );
    assert.equal(config.cloud.endpoint, "https://api.example.com");
    assert.equal(config.cloud.iamEndpoint, "https://iam.xx-new-1.myhuaweicloud.com");
  });

  it("merges stuck entries over the defaults; 0s switches one off", () => {
    const { config } = parse(
      `${BASE}stuck:\n  BUILDING: 90m\n  DELETING: 0s\n  PENDING: 2h\n  repeatEvery: 30m\n`,
    );
    assert.deepEqual(config.stuck, {
      thresholds: { CREATING: 3_600_000, BUILDING: 5_400_000, PENDING: 7_200_000 },
      repeatEvery: 1_800_000,
    });
  });

  it("fills webhook defaults, including the default event list", () => {
    const { config } = parse(
      `${BASE}webhooks:\n  - name: chat\n    url: https://chat.example.com/x\n    format: wecom\n`,
    );
    assert.deepEqual(config.webhooks[0], {
      name: "chat",
      url: "https://chat.example.com/x",
      format: "wecom",
      events: [...DEFAULT_WEBHOOK_EVENTS],
      statuses: [],
      headers: {},
      timeout: 10_000,
      retry: { minDelay: 1_000, maxDelay: 300_000 },
      maxAge: 86_400_000,
      group: { wait: 5_000, max: 50 },
      rateLimit: { count: 20, per: 60_000 },
    });
    assert.ok(!config.webhooks[0]?.events.includes("discovered"));
    assert.deepEqual(
      [...DEFAULT_WEBHOOK_EVENTS, "discovered", "image_job.succeeded"].sort(),
      [...EVENT_NAMES].sort(),
      "the default is every event but discovered and image_job.succeeded",
    );
    assert.equal(CONFIG_DEFAULTS.webhook.format, "standard");
  });

  it("parses server.listen into host and port", () => {
    const listen = (l: string) => parse(`${BASE}server:\n  listen: "${l}"\n`).config.server;
    assert.deepEqual(listen("127.0.0.1:9000"), { listen: "127.0.0.1:9000", host: "127.0.0.1", port: 9000 });
    assert.deepEqual(listen("[::1]:0"), { listen: "[::1]:0", host: "::1", port: 0 });
    assert.deepEqual(listen(":9478"), { listen: ":9478", host: "0.0.0.0", port: 9478 });
    assert.deepEqual(
      issuesOf(() => listen("127.0.0.1:70000")),
      [{ path: "server.listen", message: "must be host:port, such as 0.0.0.0:9478" }],
    );
  });

  it("sharding index auto takes the ordinal at the end of HOSTNAME", () => {
    const text = `${BASE}sharding:\n  count: 3\n  index: auto\n`;
    assert.deepEqual(parse(text, { HOSTNAME: "imagewatch-2" }).config.sharding, { count: 3, index: 2 });
    assert.deepEqual(
      issuesOf(() => parse(text, { HOSTNAME: "imagewatch-3" })),
      [{ path: "sharding.index", message: "must be less than sharding.count (3), got 3" }],
    );
    assert.deepEqual(
      issuesOf(() => parse(text, {})),
      [
        {
          path: "sharding.index",
          message: "auto needs HOSTNAME ending in a number, but HOSTNAME is not set",
        },
      ],
    );
  });

  it("a key with no value takes its default", () => {
    const { config } = parse(`${BASE}schedule:\nlog:\n  level:\n`);
    assert.equal(config.schedule.interval, 30_000);
    assert.equal(config.log.level, "info");
  });
});

describe("the loaded config", () => {
  it("is deeply frozen", () => {
    const { config } = parse(
      `${BASE}webhooks:\n  - { name: chat, url: "https://x.example/", format: slack }\n`,
    );
    assert.ok(Object.isFrozen(config));
    const webhook = config.webhooks[0];
    assert.ok(webhook);
    assert.throws(() => {
      (config.schedule as { interval: number }).interval = 1;
    }, TypeError);
    assert.throws(() => {
      (config.targets as unknown[]).push({});
    }, TypeError);
    assert.throws(() => {
      (webhook.events as string[]).push("discovered");
    }, TypeError);
    assert.throws(() => {
      (config.stuck.thresholds as Record<string, number>).BUILDING = 1;
    }, TypeError);
    assert.equal(config.schedule.interval, 30_000);
  });

  it("warns (without failing) when a stuck threshold is shorter than the poll interval", () => {
    const { config, warnings } = parse(`${BASE}schedule:\n  interval: 1m\nstuck:\n  BUILDING: 30s\n`);
    assert.equal(config.stuck.thresholds.BUILDING, 30_000);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /^stuck\.BUILDING: 30s is shorter than schedule\.interval \(1m\)/);
  });

  it("warns about a standard secret shorter than 24 bytes and a secret a format ignores", () => {
    const { warnings } = parse(`${BASE}webhooks:
  - { name: a, url: "https://x.example/a", secret: whsec_c2hvcnQ= }
  - { name: b, url: "https://x.example/b", format: slack, secret: unused }
`);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0] ?? "", /^webhooks\[0\]\.secret: only 5 bytes/);
    assert.equal(warnings[1], "webhooks[1].secret: ignored for format slack");
  });

  it("config/imagewatch.yaml (the documented example) loads cleanly with its variables set", () => {
    const file = path.join(import.meta.dirname, "..", "..", "config", "imagewatch.yaml");
    const { config, warnings } = loadConfig(file, {
      HUAWEICLOUD_SDK_AK: "AK",
      HUAWEICLOUD_SDK_SK: "SK",
      WEBHOOK_SECRET: "whsec_ZGVtby1zZWNyZXQtZm9yLWltYWdld2F0Y2gtZGVtbw==",
    });
    assert.deepEqual(warnings, []);
    assert.equal(config.cloud.auth.kind, "aksk");
    assert.equal(config.webhooks[0]?.name, "ops");
    // The example writes every default out: it must agree with the defaults the schema applies.
    const minimal = loadConfig(path.join(FIXTURES, "valid", "minimal.yaml"), {}).config;
    assert.deepEqual(config.schedule, minimal.schedule);
    assert.deepEqual(config.stuck, minimal.stuck);
    assert.deepEqual(config.jobs, minimal.jobs);
    assert.deepEqual(config.state, minimal.state);
    assert.deepEqual(config.log, minimal.log);
    assert.deepEqual(config.server, minimal.server);
    assert.deepEqual(config.sharding, minimal.sharding);
    assert.deepEqual(config.alerts, minimal.alerts);
    assert.deepEqual(config.cloud.retry, minimal.cloud.retry);
    assert.equal(config.cloud.endpoint, minimal.cloud.endpoint);
    assert.equal(config.cloud.iamEndpoint, minimal.cloud.iamEndpoint);
    const withDefaults = parse(
      `${BASE}webhooks:\n  - { name: ops, url: "https://hooks.example.com/imagewatch", secret: "${config.webhooks[0]?.secret}" }\n`,
    ).config;
    assert.deepEqual(config.webhooks, withDefaults.webhooks);
    // And without a variable it names the first one missing.
    const issues = issuesOf(() => loadConfig(file, { HUAWEICLOUD_SDK_AK: "AK", WEBHOOK_SECRET: "x" }));
    assert.ok(issues.some((i) => i.message === "environment variable HUAWEICLOUD_SDK_SK is not set"));
  });

  it("config/demo.yaml loads cleanly and points at the local simulator", () => {
    const file = path.join(import.meta.dirname, "..", "..", "config", "demo.yaml");
    const { config, warnings } = loadConfig(file, { IMAGEWATCH_DEMO_SIM_PORT: "40001" });
    assert.deepEqual(warnings, []);
    assert.equal(config.cloud.endpoint, "http://127.0.0.1:40001");
    assert.equal(config.cloud.iamEndpoint, "http://127.0.0.1:40001");
    assert.deepEqual(config.cloud.auth, {
      kind: "aksk",
      accessKey: "DEMOACCESSKEY0000001",
      secretKey: "demo-secret-key-0000000000000000000000000",
    });
    assert.deepEqual(config.targets, [
      { projectId: "0123456789abcdef0123456789abcdef", serverIds: [], discover: true, jobs: true },
    ]);
    assert.deepEqual(config.schedule, { interval: 2_000, steadyInterval: 5_000, concurrency: 4 });
    assert.deepEqual(config.stuck, {
      thresholds: { CREATING: 3_600_000, BUILDING: 20_000, DELETING: 1_200_000 },
      repeatEvery: 0,
    });
    assert.equal(config.alerts.pollFailureThreshold, 2);
    assert.deepEqual(config.cloud.retry, { attempts: 1, minDelay: 200, maxDelay: 1_000 });
    assert.equal(config.webhooks.length, 1);
    assert.equal(config.webhooks[0]?.url, "http://127.0.0.1:9480/hook");
    assert.deepEqual(config.webhooks[0]?.events, [...EVENT_NAMES]);
    assert.deepEqual(config.server, { listen: "127.0.0.1:9478", host: "127.0.0.1", port: 9478 });
    assert.equal(config.state.path, ":memory:");
    assert.deepEqual(config.log, { level: "info", format: "pretty" });
  });
});

describe("rendering and masking", () => {
  it("renders YAML in the file's own shape that loads back to the same config", () => {
    const text = `cloud:
  endpoint: https://api.example.com
  auth: { kind: token, token: t }
targets: [{ projectId: p1, serverIds: [s1], serverName: build-, enterpriseProjectId: 0 }]
schedule: { interval: 90s }
stuck: { DELETING: 0s, PENDING: 1h30m, repeatEvery: 10m }
webhooks:
  - { name: chat, url: "https://x.example/a", format: wecom, statuses: [BUILT], timeout: 1500ms }
server: { listen: "[::]:9000" }
sharding: { count: 2, index: 1 }
`;
    const { config } = parse(text);
    const yaml = renderConfigYaml(config);
    const doc = parseYaml(yaml) as Record<string, Record<string, unknown>>;
    assert.equal(doc.schedule?.interval, "1m30s");
    assert.equal(doc.stuck?.DELETING, "0s");
    assert.equal(doc.stuck?.PENDING, "1h30m");
    assert.deepEqual(doc.server, { listen: "[::]:9000" });
    const again = parse(yaml).config;
    const maskedCloud = { ...config.cloud, auth: { kind: "token", token: "***" } };
    assert.deepEqual(again, { ...config, cloud: maskedCloud, clouds: { default: maskedCloud } });
  });

  it("renders targets[].jobs and jobs.stuck so that they load back the same", () => {
    const { config } = parse(
      `${BASE}jobs: { stuck: { CREATE_SERVER_IMAGE: 90m, DELETE_SERVER: 0s } }\n`.replace(
        "    discover: true",
        "    discover: true\n    jobs: false",
      ),
    );
    assert.equal(config.targets[0]?.jobs, false);
    assert.deepEqual(config.jobs.stuck, {
      CREATE_SERVER: 3_600_000,
      CREATE_SERVER_IMAGE: 5_400_000,
      DELETE_SERVER: 0,
    });
    assert.deepEqual(parse(renderConfigYaml(config)).config.jobs, config.jobs);
    assert.equal(parse(renderConfigYaml(config)).config.targets[0]?.jobs, false);
  });

  it("maskConfig hides every secret and leaves the input alone", () => {
    const { config } = parse(`cloud:
  region: cn-north-4
  iamEndpoint: https://u:iam-pass@iam.example.com
  auth: { kind: password, domain: acme, username: ops, password: pa55 }
targets: [{ projectId: p1, discover: true }]
webhooks:
  - { name: a, url: "https://u:p@x.example/a?token=abc&x=1", secret: whsec_ZGVtby1zZWNyZXQtZm9yLWltYWdld2F0Y2gtZGVtbw==, headers: { X-Key: k1 } }
  - { name: b, url: "https://hooks.slack.com/services/T0/B0/XYZ", format: slack }
  - { name: c, url: "https://open.feishu.cn/open-apis/bot/v2/hook/abc", format: feishu, secret: fs }
server: { bearerToken: bt }
`);
    const masked = maskConfig(config);
    assert.deepEqual(masked.cloud.auth, {
      kind: "password",
      domain: "acme",
      username: "ops",
      password: "***",
    });
    assert.equal(masked.cloud.iamEndpoint, "https://***@iam.example.com");
    assert.equal(masked.webhooks[0]?.url, "https://***@x.example/a?token=***&x=***");
    assert.equal(masked.webhooks[0]?.secret, "***");
    assert.deepEqual(masked.webhooks[0]?.headers, { "X-Key": "***" });
    assert.equal(masked.webhooks[1]?.url, "https://hooks.slack.com/services/***");
    assert.equal(masked.webhooks[2]?.url, "https://open.feishu.cn/open-apis/***");
    assert.equal(masked.webhooks[2]?.secret, "***");
    assert.equal(masked.server.bearerToken, "***");
    assert.equal(
      masked.cloud.endpoint,
      config.cloud.endpoint,
      "URLs without credentials are kept as written",
    );
    assert.equal(config.server.bearerToken, "bt", "the input is not changed");
    const rendered = JSON.stringify(masked);
    for (const secret of ["iam-pass", "pa55", "abc", "whsec_", "k1", "XYZ", '"fs"', '"bt"']) {
      assert.ok(!rendered.includes(secret), `${secret} leaked`);
    }
  });
});
