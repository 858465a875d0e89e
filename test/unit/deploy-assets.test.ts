/**
 * Checks the deploy assets: the Grafana dashboard (deploy/grafana), the alert rules (deploy/prometheus; their
 * firing is tested by test/integration/alert-rules.test.ts) and the compose stack (deploy/compose). Every
 * PromQL expression of the dashboard and the rules must name only metrics and labels that imagewatch really
 * exports (taken from a live `createMetrics()` exposition), and the dashboard's must parse (promtool).
 */
import assert from "node:assert/strict";
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it, type TestContext } from "node:test";
import { parse, stringify } from "yaml";
import { CONFIG_DEFAULTS } from "../../src/config/defaults.js";
import { KNOWN_STATUSES, type ServerState } from "../../src/domain/types.js";
import { createMetrics, METRIC_NAMES, REQUEST_OUTCOMES } from "../../src/metrics/metrics.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const DASHBOARD = path.join(ROOT, "deploy/grafana/imagewatch-dashboard.json");
const RULES = path.join(ROOT, "deploy/prometheus/imagewatch-rules.yml");
const COMPOSE_DIR = path.join(ROOT, "deploy/compose");
/** Where the prom/prometheus image reads its config (its default `--config.file`). */
const PROM_CONFIG_IN_CONTAINER = "/etc/prometheus/prometheus.yml";

const tmpDirs: string[] = [];
after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});
function tmpDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), "imagewatch-deploy-"));
  tmpDirs.push(d);
  return d;
}

/**
 * Runs promtool (Debian's `prometheus` package). Locally a missing promtool skips the check; under CI it
 * is a failure, like test/integration/alert-rules.test.ts.
 */
function promtool(t: TestContext, args: string[], cwd: string): SpawnSyncReturns<string> | undefined {
  const r = spawnSync("promtool", args, { cwd, encoding: "utf8", timeout: 60_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT" && !process.env.CI) {
    t.skip("promtool not installed");
    return undefined;
  }
  assert.equal(r.error, undefined, `promtool could not run: ${r.error?.message}`);
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// What imagewatch really exports: metric name → label names, read from a rendered exposition.

/** Labels Prometheus attaches to every scraped series. */
const TARGET_LABELS = ["job", "instance"];

/** Every panel, target and template query uses the templated datasource variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
const DS = { type: "prometheus", uid: "${DS_PROMETHEUS}" };

async function exportedLabels(): Promise<Map<string, Set<string>>> {
  const m = createMetrics({ version: "1.2.3", nodeVersion: "v20.20.2", collectDefault: false });
  const T0 = Date.UTC(2026, 10, 27, 9, 0, 0);
  const state: ServerState = {
    projectId: "p1",
    serverId: "s1",
    name: "build-1",
    status: "BUILDING",
    statusSince: T0,
    present: true,
    stuck: true,
    stuckNotifiedAt: null,
    stuckCount: 0,
    consecutiveFailures: 0,
    pollFailedNotified: false,
    lastPollAt: T0,
    lastPollOk: true,
    lastSuccessAt: T0,
    lastError: null,
    server: {
      id: "s1",
      name: "build-1",
      status: "BUILDING",
      updateTime: T0,
      createTime: T0 - 60_000,
      imageId: "img",
      imageType: "private",
      serverGroupId: "sg",
      appGroupId: "ag",
      apsServerId: "aps",
      instanceId: "ecs",
      raw: {},
    },
  };
  m.configure({
    targets: [{ projectId: "p1", cloud: "default", region: "r1" }],
    webhooks: ["ops"],
    alertmanagers: ["am"],
  });
  m.setTargetHealth("p1", { up: true, lastSuccessAt: T0 });
  m.setServer(state);
  m.recordTransition("CREATING", "BUILDING");
  m.recordStatusDuration("BUILDING", "BUILT", 1380);
  m.applyJobs("p1", {
    active: [{ jobType: "CREATE_SERVER_IMAGE", status: "RUNNING" }],
    finished: [{ jobType: "CREATE_SERVER_IMAGE", status: "FAILED", durationSeconds: 1380 }],
  });
  m.recordRequest("p1", "success", 0.2);
  m.recordTokenRefresh("success");
  m.recordTickFailure("p1");
  m.recordDelivery("ops", "delivered");
  m.setQueue("ops", 1, 5);
  m.setConfigReload(true, T0);
  m.setShard(0, 1);
  const { body } = await m.render();

  const labels = new Map<string, Set<string>>();
  for (const line of body.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? /.exec(line);
    assert.ok(match, `unparseable exposition line: ${line}`);
    const name = match[1]!;
    const set = labels.get(name) ?? new Set<string>();
    for (const l of (match[2] ?? "").matchAll(/([a-zA-Z_]\w*)="/g)) set.add(l[1]!);
    labels.set(name, set);
  }
  // A histogram's own name selects nothing; its labels are those of its _sum and _count series.
  for (const h of HISTOGRAMS) labels.set(h, new Set(labels.get(`${h}_sum`)));
  labels.set("up", new Set());
  return labels;
}

// ---------------------------------------------------------------------------------------------------------
// The dashboard's expressions.

interface Expr {
  /** Where it is: panel title and refId, or the template variable. */
  where: string;
  expr: string;
  /** A `label_values(selector, label)` template query: only `selector` is PromQL. */
  labelValuesOf?: string;
}

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Every `expr` of every target of every panel (rows' nested panels included), and every template query. */
function dashboardExprs(dashboard: Record<string, Json>): Expr[] {
  const out: Expr[] = [];
  const walk = (node: Json, where: string): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n, where);
      return;
    }
    if (!isObject(node)) return;
    const here = typeof node.title === "string" ? node.title : where;
    if (typeof node.expr === "string")
      out.push({ where: `${here} / ${String(node.refId)}`, expr: node.expr });
    for (const [k, v] of Object.entries(node)) if (k !== "templating") walk(v, here);
  };
  walk(dashboard.panels, "");
  const templating = dashboard.templating;
  assert.ok(isObject(templating) && Array.isArray(templating.list), "templating.list missing");
  for (const v of templating.list) {
    if (!isObject(v) || v.type !== "query") continue;
    const q = isObject(v.query) ? v.query.query : v.query;
    assert.equal(typeof q, "string", `template variable ${String(v.name)} has no query`);
    const query = (q as string).trim();
    const lv = /^label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)$/s.exec(query);
    const where = `variable ${String(v.name)}`;
    out.push(lv ? { where, expr: query, labelValuesOf: lv[1]!.trim() } : { where, expr: query });
  }
  return out;
}

/** Replaces Grafana's variables by concrete values, so the expression is plain PromQL. */
function substituteVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, "2m")
    .replace(/\$__interval|\$\{__interval\}/g, "1m")
    .replace(/\$__range_s|\$\{__range_s\}/g, "21600")
    .replace(/\$__range|\$\{__range\}/g, "6h")
    .replace(/\$project_id|\$\{project_id(?::\w+)?\}/g, ".*");
}

const METRIC_TOKEN = /\bimagewatch_[a-z0-9_]+/g;
/** The histograms: charted and matched through their `_bucket`, `_sum` and `_count` series. */
const HISTOGRAMS: readonly string[] = [
  METRIC_NAMES.pollDuration,
  METRIC_NAMES.serverStatusDuration,
  METRIC_NAMES.imageJobDuration,
];
const HISTOGRAM_SERIES = HISTOGRAMS.flatMap((h) => ["_bucket", "_sum", "_count"].map((s) => `${h}${s}`));
const ALLOWED_METRICS = new Set<string>([...Object.values(METRIC_NAMES), ...HISTOGRAM_SERIES]);

/** Metric names an expression selects (`imagewatch_*` and `up`). */
function metricsOf(expr: string): string[] {
  const names = new Set(expr.match(METRIC_TOKEN) ?? []);
  if (/(^|[^\w])up\s*[{[)\s]/.test(expr) || /(^|[^\w])up$/.test(expr)) names.add("up");
  return [...names];
}

/** Literal values a label may take, where the set is closed (DESIGN §5), per metric. */
const LABEL_VALUES: Record<string, Record<string, readonly string[]>> = {
  [METRIC_NAMES.serverStatus]: { status: KNOWN_STATUSES },
  [METRIC_NAMES.pollRequests]: { outcome: REQUEST_OUTCOMES },
  [METRIC_NAMES.webhookDeliveries]: { outcome: ["delivered", "retried", "dead"] },
  [METRIC_NAMES.authTokenRefreshes]: { outcome: ["success", "failure"] },
};

// ---------------------------------------------------------------------------------------------------------

/** Asserts every expression names only metrics imagewatch defines; returns the names used. */
function assertKnownMetrics(exprs: readonly Expr[]): Set<string> {
  const used = new Set<string>();
  for (const { where, expr } of exprs) {
    const names = expr.match(METRIC_TOKEN) ?? [];
    assert.ok(names.length > 0 || /\bup\b/.test(expr), `${where}: no metric in ${expr}`);
    for (const name of names) {
      assert.ok(ALLOWED_METRICS.has(name), `${where}: unknown metric ${name} in ${expr}`);
      used.add(name);
    }
  }
  return used;
}

/**
 * Asserts every label matcher names a label of its selector's metric (with a value the label can take,
 * where the set is closed), and every grouping label belongs to some metric of the expression.
 */
function assertKnownLabels(
  exprs: readonly Expr[],
  exported: Map<string, Set<string>>,
  prometheusJob: string | undefined,
): void {
  for (const name of ALLOWED_METRICS) assert.ok(exported.has(name), `fixture did not export ${name}`);
  const labelsOf = (metric: string) => new Set([...(exported.get(metric) ?? []), ...TARGET_LABELS]);

  for (const { where, expr } of exprs) {
    // Matchers inside a selector's braces belong to that selector's metric.
    for (const sel of expr.matchAll(/([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g)) {
      const metric = sel[1]!;
      const own = labelsOf(metric);
      for (const mt of sel[2]!.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
        const [, label, op, value] = mt as unknown as [string, string, string, string];
        assert.ok(own.has(label), `${where}: ${metric} has no label ${label}`);
        if ((op === "=" || op === "=~") && /^[\w|]+$/.test(value)) {
          const closed = label === "job" ? [prometheusJob ?? "?"] : LABEL_VALUES[metric]?.[label];
          for (const v of value.split("|")) {
            if (closed) assert.ok(closed.includes(v), `${where}: ${metric}{${label}="${v}"} never exists`);
          }
        }
      }
    }
    // Grouping labels must belong to at least one metric of the expression.
    const inExpr = new Set(metricsOf(expr).flatMap((m) => [...labelsOf(m)]));
    for (const g of expr.matchAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
      for (const label of g[2]!.split(",").map((s) => s.trim())) {
        if (label === "") continue;
        assert.ok(inExpr.has(label), `${where}: ${g[1]} (${label}) — no metric of ${expr} has that label`);
      }
    }
  }
}

/** The job name compose's prometheus.yml gives the scrape of imagewatch (port 9478). */
function composePrometheusJob(): string | undefined {
  const cfg = parse(readFileSync(path.join(COMPOSE_DIR, "prometheus.yml"), "utf8")) as {
    scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[];
  };
  return cfg.scrape_configs.find((s) =>
    s.static_configs?.some((c) => c.targets.some((t) => t.endsWith(":9478"))),
  )?.job_name;
}

// ---------------------------------------------------------------------------------------------------------

describe("deploy/grafana dashboard", async () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as Record<string, Json>;
  const exprs = dashboardExprs(dashboard);
  const prometheusJob = composePrometheusJob();

  it("is a Grafana JSON model with the datasource and project variables", () => {
    assert.equal(typeof dashboard.schemaVersion, "number");
    assert.ok((dashboard.schemaVersion as number) >= 36, "schemaVersion too old");
    assert.equal(dashboard.uid, "imagewatch");
    const vars = (dashboard.templating as { list: Record<string, Json>[] }).list;
    const ds = vars.find((v) => v.name === "DS_PROMETHEUS");
    assert.ok(ds, "no DS_PROMETHEUS variable");
    assert.equal(ds.type, "datasource");
    assert.equal(ds.query, "prometheus");
    const project = vars.find((v) => v.name === "project_id");
    assert.ok(project, "no project_id variable");
    assert.equal(project.definition, "label_values(imagewatch_image_server_status, project_id)");
    assert.deepEqual(project.datasource, DS);
  });

  it("has panels with unique ids and every query on the templated datasource", () => {
    const panels: Record<string, Json>[] = [];
    const collect = (list: Json): void => {
      if (!Array.isArray(list)) return;
      for (const p of list) {
        if (!isObject(p)) continue;
        panels.push(p);
        collect(p.panels);
      }
    };
    collect(dashboard.panels);
    assert.ok(panels.length >= 20, `only ${panels.length} panels`);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, "duplicate panel ids");
    for (const p of panels) {
      assert.ok(isObject(p.gridPos), `panel ${String(p.title)} has no gridPos`);
      if (p.type === "row") continue;
      assert.deepEqual(p.datasource, DS, String(p.title));
      assert.ok(Array.isArray(p.targets) && p.targets.length > 0, `panel ${String(p.title)} has no query`);
      for (const t of p.targets as Record<string, Json>[]) {
        assert.deepEqual(t.datasource, DS, String(p.title));
        assert.equal(typeof t.expr, "string", `panel ${String(p.title)}: target without expr`);
      }
    }
  });

  it("uses only metric names imagewatch defines (METRIC_NAMES, the histogram's series, up)", () => {
    assert.ok(exprs.length >= 25, `only ${exprs.length} expressions found: the walk is broken`);
    const used = assertKnownMetrics(exprs);
    // The dashboard charts every metric imagewatch defines; a new metric needs a panel (or a line here).
    const notCharted: readonly string[] = HISTOGRAMS; // charted through their _bucket/_sum/_count
    for (const name of Object.values(METRIC_NAMES)) {
      if (notCharted.includes(name)) continue;
      assert.ok(used.has(name), `no panel uses ${name}`);
    }
    for (const s of HISTOGRAM_SERIES) assert.ok(used.has(s), `no panel uses ${s}`);
  });

  it("uses only labels (and closed-set label values) the metrics really have", async () => {
    assertKnownLabels(exprs, await exportedLabels(), prometheusJob);
  });

  it("has expressions that parse (promtool check rules, one recording rule each)", (t) => {
    const rules = exprs.map((e, i) => {
      const expr = substituteVariables(e.labelValuesOf ?? e.expr);
      assert.ok(!expr.includes("$"), `${e.where}: unsubstituted variable in ${expr}`);
      return { record: `test:expr_${i}`, expr };
    });
    const dir = tmpDir();
    writeFileSync(
      path.join(dir, "dashboard-rules.yml"),
      stringify({ groups: [{ name: "dashboard", rules }] }),
    );
    const r = promtool(t, ["check", "rules", "dashboard-rules.yml"], dir);
    if (!r) return;
    const index = exprs.map((e, i) => `test:expr_${i} = ${e.where}`).join("\n");
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}\n${index}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });
});

// ---------------------------------------------------------------------------------------------------------

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Every rule of deploy/prometheus/imagewatch-rules.yml, all groups. */
function alertRules(): AlertRule[] {
  const file = parse(readFileSync(RULES, "utf8")) as { groups: { rules: AlertRule[] }[] };
  return file.groups.flatMap((g) => g.rules);
}

describe("deploy/prometheus alert rules", () => {
  const rules = alertRules();
  const exprs: Expr[] = rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }));

  it("are alerts with unique names, a severity, a summary and a description", () => {
    assert.ok(rules.length >= 11, `only ${rules.length} rules`);
    const names = rules.map((r) => r.alert);
    assert.equal(new Set(names).size, names.length, "duplicate alert names");
    for (const r of rules) {
      assert.equal(typeof r.alert, "string", "a recording rule among the alerts");
      assert.match(r.labels?.severity ?? "", /^(warning|critical)$/, r.alert);
      assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert}: summary and description`);
    }
  });

  it("use only metric names, labels and label values imagewatch exports", async () => {
    const used = assertKnownMetrics(exprs);
    for (const name of [
      METRIC_NAMES.targetUp,
      METRIC_NAMES.targetLastSuccess,
      METRIC_NAMES.targetInfo,
      METRIC_NAMES.webhookDeliveries,
      METRIC_NAMES.shardOrdinal,
      METRIC_NAMES.totalShards,
    ]) {
      assert.ok(used.has(name), `no alert uses ${name}`);
    }
    assertKnownLabels(exprs, await exportedLabels(), composePrometheusJob());
  });

  it("give every per-server alert the server's name and status, and its time in status as value", () => {
    const perServer = rules.filter((r) => r.expr.includes("imagewatch_image_server_"));
    assert.ok(perServer.length >= 3);
    for (const r of perServer) {
      assert.match(r.expr, /group_left\(name\) imagewatch_image_server_info/, r.alert);
      assert.match(r.expr, /group_left\(status\) \(imagewatch_image_server_status == 1\)/, r.alert);
      assert.match(r.expr, /time\(\) - imagewatch_image_server_status_changed_timestamp_seconds/, r.alert);
      assert.match(r.annotations?.summary ?? "", /\$labels\.name/, r.alert);
      assert.match(r.annotations?.description ?? "", /\$value \| humanizeDuration/, r.alert);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------

interface ComposeService {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  environment?: string[] | Record<string, string>;
  volumes?: string[];
  ports?: string[];
  configs?: { source: string; target: string }[];
}
interface Compose {
  services: Record<string, ComposeService>;
  configs?: Record<string, { content?: string; file?: string }>;
  volumes?: Record<string, unknown>;
}

/** A short-syntax volume entry: host source (a path or a named volume) and container target. */
function splitVolume(v: string): { source: string; target: string; bind: boolean } {
  const [source = "", target = ""] = v.split(":");
  return { source, target, bind: source.startsWith(".") || source.startsWith("/") };
}

describe("deploy/compose", () => {
  const compose = parse(readFileSync(path.join(COMPOSE_DIR, "docker-compose.yml"), "utf8")) as Compose;
  const prom = parse(readFileSync(path.join(COMPOSE_DIR, "prometheus.yml"), "utf8")) as {
    rule_files?: string[];
    scrape_configs: { job_name: string; metrics_path?: string; static_configs?: { targets: string[] }[] }[];
  };
  const dockerfile = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
  const svc = (name: string): ComposeService => {
    const s = compose.services[name];
    assert.ok(s, `service ${name} missing`);
    return s;
  };

  it("has the imagewatch, prometheus and grafana services", () => {
    for (const name of ["imagewatch", "prometheus", "grafana"]) svc(name);
    assert.match(svc("prometheus").image ?? "", /^prom\/prometheus:/);
    assert.match(svc("grafana").image ?? "", /^grafana\/grafana:/);
  });

  it("builds imagewatch from the repository's Dockerfile and mounts config and state where the image expects them", () => {
    const s = svc("imagewatch");
    const build = typeof s.build === "string" ? { context: s.build } : s.build;
    assert.ok(build, "imagewatch has no build");
    assert.equal(path.resolve(COMPOSE_DIR, build.context), ROOT);
    assert.ok(existsSync(path.join(ROOT, build.dockerfile ?? "Dockerfile")));

    const configPath = /^ENV IMAGEWATCH_CONFIG=(\S+)$/m.exec(dockerfile)?.[1];
    const workdir = [...dockerfile.matchAll(/^WORKDIR (\S+)$/gm)].at(-1)?.[1];
    assert.ok(configPath && workdir, "Dockerfile no longer sets IMAGEWATCH_CONFIG / WORKDIR");
    const volumes = (s.volumes ?? []).map(splitVolume);
    assert.ok(
      volumes.some((v) => v.source === "./imagewatch.yaml" && v.target === configPath),
      `./imagewatch.yaml is not mounted at ${configPath}`,
    );
    const stateDir = path.posix.join(workdir, path.posix.dirname(CONFIG_DEFAULTS.state.path));
    const state = volumes.find((v) => v.target === stateDir);
    assert.ok(state && !state.bind, `no named volume at ${stateDir} (the default state.path)`);
    assert.ok(compose.volumes && state.source in compose.volumes, `volume ${state.source} not declared`);

    assert.match(dockerfile, /^EXPOSE 9478$/m);
    assert.ok(
      (s.ports ?? []).some((p) => String(p).endsWith(":9478")),
      "port 9478 not published",
    );
  });

  it("passes every secret config/imagewatch.yaml reads from the environment", () => {
    const example = readFileSync(path.join(ROOT, "config/imagewatch.yaml"), "utf8");
    const referenced = new Set(
      [...example.matchAll(/^[^#\n]*\$\{([A-Z0-9_]+)/gm)]
        .map((m) => m[1]!)
        .filter((n) => n !== "IMAGEWATCH_CA_FILE"),
    );
    assert.ok(referenced.has("HUAWEICLOUD_SDK_AK") && referenced.has("WEBHOOK_SECRET"));
    const env = svc("imagewatch").environment ?? [];
    const names = Array.isArray(env) ? env.map((e) => e.split("=")[0]!) : Object.keys(env);
    for (const n of referenced) assert.ok(names.includes(n), `${n} is not passed to imagewatch`);
  });

  it("mounts only files that exist (besides the user's imagewatch.yaml), the rules and the dashboard included", () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of (s.volumes ?? []).map(splitVolume)) {
        if (!v.bind || v.source === "./imagewatch.yaml") continue;
        assert.ok(existsSync(path.resolve(COMPOSE_DIR, v.source)), `${name}: ${v.source} does not exist`);
      }
    }
    const promVolumes = (svc("prometheus").volumes ?? []).map(splitVolume);
    assert.ok(
      promVolumes.some((v) => v.source === "./prometheus.yml" && v.target === PROM_CONFIG_IN_CONTAINER),
    );
    assert.ok(promVolumes.some((v) => v.source === "../prometheus/imagewatch-rules.yml"));
    const dash = (svc("grafana").volumes ?? [])
      .map(splitVolume)
      .find((v) => v.source === "../grafana/imagewatch-dashboard.json");
    assert.ok(dash, "the dashboard is not mounted into grafana");

    // Grafana's inline provisioning: the Prometheus service as datasource, the dashboard's directory.
    const content = (name: string): Record<string, Json> => {
      const c = compose.configs?.[name]?.content;
      assert.ok(c, `config ${name} has no inline content`);
      return parse(c) as Record<string, Json>;
    };
    const targets = svc("grafana").configs ?? [];
    const dsCfg = targets.find((c) => c.target.startsWith("/etc/grafana/provisioning/datasources/"));
    const dbCfg = targets.find((c) => c.target.startsWith("/etc/grafana/provisioning/dashboards/"));
    assert.ok(dsCfg && dbCfg, "grafana provisioning configs missing");
    const ds = (content(dsCfg.source).datasources as Record<string, Json>[])[0];
    assert.equal(ds?.type, "prometheus");
    assert.equal(ds?.url, "http://prometheus:9090");
    const provider = (content(dbCfg.source).providers as { options: { path: string } }[])[0];
    assert.equal(provider?.options.path, path.posix.dirname(dash.target));
  });

  it("prometheus.yml scrapes the imagewatch service on 9478 as job imagewatch", () => {
    const job = prom.scrape_configs.find((s) => s.job_name === "imagewatch");
    assert.ok(job, "no imagewatch scrape job (the alert rules select job=imagewatch)");
    assert.equal(job.metrics_path ?? "/metrics", "/metrics");
    const targets = (job.static_configs ?? []).flatMap((c) => c.targets);
    assert.deepEqual(targets, ["imagewatch:9478"]);
    assert.match(
      readFileSync(path.join(ROOT, "deploy/prometheus/imagewatch-rules.yml"), "utf8"),
      /job="imagewatch"/,
    );
  });

  it("prometheus.yml loads the mounted rules (promtool check config on the container's file layout)", (t) => {
    // Lay out the files as the prometheus container sees them, then resolve rule_files as Prometheus does:
    // relative to the config file's directory.
    const root = tmpDir();
    for (const v of (svc("prometheus").volumes ?? []).map(splitVolume)) {
      if (!v.bind) continue;
      const dest = path.join(root, v.target);
      mkdirSync(path.dirname(dest), { recursive: true });
      copyFileSync(path.resolve(COMPOSE_DIR, v.source), dest);
    }
    const config = path.join(root, PROM_CONFIG_IN_CONTAINER);
    const ruleFiles = prom.rule_files ?? [];
    assert.ok(ruleFiles.length > 0, "no rule_files");
    for (const f of ruleFiles) {
      assert.ok(!path.isAbsolute(f), `${f}: keep rule_files relative so this check can lay them out`);
      assert.ok(
        existsSync(path.resolve(path.dirname(config), f)),
        `rule file ${f} is not mounted in the container`,
      );
    }
    const r = promtool(t, ["check", "config", config], root);
    if (!r) return;
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${alertRules().length} rules found`));
  });
});

describe("Dockerfile", () => {
  it("copies every script `npm run build` reads into its build stage, past .dockerignore", () => {
    const dockerfile = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
    const build = dockerfile.slice(0, dockerfile.lastIndexOf("\nFROM "));
    const ignore = readFileSync(path.join(ROOT, ".dockerignore"), "utf8").split("\n");
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    const entry = /node (scripts\/\S+\.mjs)/.exec(pkg.scripts.build ?? "")?.[1];
    assert.ok(entry, "the build script runs no scripts/*.mjs");
    // The entry and the files it opens next to itself (`new URL("x.mjs", import.meta.url)`).
    const siblings = [
      ...readFileSync(path.join(ROOT, entry), "utf8").matchAll(
        /new URL\("([\w-]+\.mjs)", import\.meta\.url\)/g,
      ),
    ]
      .map((m) => `scripts/${m[1]}`)
      .filter((f) => existsSync(path.join(ROOT, f)));
    assert.ok(
      siblings.includes("scripts/undici-lean.mjs"),
      "the bundle no longer names its lean undici entry",
    );
    const copied = [...build.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => (m[1] as string).split(/\s+/));
    for (const f of [entry, ...siblings]) {
      assert.ok(copied.includes(f), `the build stage does not COPY ${f}`);
      assert.ok(ignore.includes(`!${f}`), `.dockerignore does not let ${f} through`);
    }
  });
});
