import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, it } from "node:test";

const DIR = resolve(import.meta.dirname, "../../deploy/prometheus");

/** promtool comes from Debian's `prometheus` package; CI installs it, so under CI its absence is a failure. */
function promtool(args: string[]) {
  const r = spawnSync("promtool", args, { cwd: DIR, encoding: "utf8" });
  if (r.error && !process.env.CI) return undefined;
  return r;
}

describe("deploy/prometheus alert rules", () => {
  it("pass `promtool check rules`", (t) => {
    const r = promtool(["check", "rules", "imagewatch-rules.yml"]);
    if (!r) return t.skip("promtool not installed");
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS: 6 rules found/);
  });

  it("fire as their unit tests expect (`promtool test rules`)", (t) => {
    const r = promtool(["test", "rules", "imagewatch-rules.test.yml"]);
    if (!r) return t.skip("promtool not installed");
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });
});
