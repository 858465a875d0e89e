import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";

const DIR = resolve(import.meta.dirname, "../../deploy/prometheus");

/** promtool comes from Debian's `prometheus` package; CI installs it, so under CI its absence is a failure. */
function promtool(args: string[]) {
  const r = spawnSync("promtool", args, { cwd: DIR, encoding: "utf8" });
  if (r.error && !process.env.CI) return undefined;
  return r;
}

const read = (file: string): unknown => parse(readFileSync(resolve(DIR, file), "utf8"));
const alerts = (read("imagewatch-rules.yml") as { groups: { rules: { alert: string }[] }[] }).groups
  .flatMap((g) => g.rules)
  .map((r) => r.alert);
const cases = (
  read("imagewatch-rules.test.yml") as {
    tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
  }
).tests.flatMap((t) => t.alert_rule_test ?? []);

describe("deploy/prometheus alert rules", () => {
  it("pass `promtool check rules`", (t) => {
    const r = promtool(["check", "rules", "imagewatch-rules.yml"]);
    if (!r) return t.skip("promtool not installed");
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  it("have, each, a test case where it fires and one where it does not", () => {
    assert.ok(alerts.length >= 11, `only ${alerts.length} alerts`);
    for (const name of alerts) {
      const mine = cases.filter((c) => c.alertname === name);
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${name}: no case where it fires`,
      );
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${name}: no case where it does not fire`,
      );
    }
    for (const c of cases) assert.ok(alerts.includes(c.alertname), `a case for unknown alert ${c.alertname}`);
  });

  it("fire as their unit tests expect (`promtool test rules`)", (t) => {
    const r = promtool(["test", "rules", "imagewatch-rules.test.yml"]);
    if (!r) return t.skip("promtool not installed");
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });
});
