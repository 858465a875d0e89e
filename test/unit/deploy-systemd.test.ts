/**
 * Checks deploy/systemd/imagewatch.service: the hardening the install guide promises, `systemd-analyze
 * verify` clean and `systemd-analyze security --offline=yes` at most 2.5, and paths that match
 * docs/operations.md. systemd-analyze is skipped locally when missing; under CI (which installs it) a
 * missing one fails.
 */
import assert from "node:assert/strict";
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { makeTempDir } from "../helpers/temp-dir.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const UNIT = path.join(ROOT, "deploy/systemd/imagewatch.service");
const OPERATIONS = path.join(ROOT, "docs/operations.md");
const MAX_EXPOSURE = 2.5;

/** The unit's `Key=value` lines of one section, in order (a key may repeat). */
function section(text: string, name: string): [string, string][] {
  const out: [string, string][] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1] as string;
    else if (current === name) {
      const at = line.indexOf("=");
      out.push([line.slice(0, at), line.slice(at + 1)]);
    }
  }
  return out;
}

function systemdAnalyze(t: TestContext, args: string[]): SpawnSyncReturns<string> | undefined {
  const r = spawnSync("systemd-analyze", args, { encoding: "utf8", timeout: 60_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT" && !process.env.CI) {
    t.skip("systemd-analyze not installed");
    return undefined;
  }
  assert.equal(r.error, undefined, `systemd-analyze could not run: ${r.error?.message}`);
  return r;
}

/**
 * A copy of the unit in a temp dir, with ExecStart's node replaced by the node running this test (verify
 * checks that the program exists; CI's node need not be at /usr/bin/node).
 */
function unitCopy(t: TestContext, text: string): string {
  const file = path.join(makeTempDir(t), "imagewatch.service");
  writeFileSync(file, text.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));
  return file;
}

const text = readFileSync(UNIT, "utf8");
const service = section(text, "Service");
const value = (key: string) => service.filter(([k]) => k === key).map(([, v]) => v);

describe("deploy/systemd/imagewatch.service", () => {
  it("runs as the documented user with its state directory, umask and the config path", () => {
    assert.deepEqual(value("User"), ["imagewatch"]);
    assert.deepEqual(value("StateDirectory"), ["imagewatch"]);
    assert.deepEqual(value("WorkingDirectory"), ["/var/lib/imagewatch"]);
    assert.deepEqual(value("UMask"), ["0077"]);
    assert.deepEqual(
      value("Environment").filter((e) => e.startsWith("IMAGEWATCH_CONFIG=")),
      ["IMAGEWATCH_CONFIG=/etc/imagewatch/imagewatch.yaml"],
    );
    assert.deepEqual(value("RestartPreventExitStatus"), ["78"], "a bad config (exit 78) must not loop");
    for (const [k, v] of [
      ["NoNewPrivileges", "yes"],
      ["ProtectSystem", "strict"],
      ["ProtectHome", "yes"],
      ["PrivateTmp", "yes"],
      ["CapabilityBoundingSet", ""],
    ]) {
      assert.deepEqual(value(k as string), [v], `${k}=${v}`);
    }
  });

  it("limits glibc to one malloc arena, as the container image does and docs/operations.md says", () => {
    assert.deepEqual(
      value("Environment").filter((e) => e.startsWith("MALLOC_")),
      ["MALLOC_ARENA_MAX=1"],
    );
    const dockerfile = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
    const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
    assert.deepEqual(
      [...runtime.matchAll(/^ENV (MALLOC_\S+)$/gm)].map((m) => m[1]),
      ["MALLOC_ARENA_MAX=1"],
    );
    assert.match(readFileSync(OPERATIONS, "utf8"), /MALLOC_ARENA_MAX=1/);
  });

  it("starts node and the package where the install guide puts them", () => {
    const [exec] = value("ExecStart");
    assert.ok(exec, "no ExecStart");
    const [node, main, command] = exec.split(/\s+/);
    assert.equal(command, "run");
    const guide = readFileSync(OPERATIONS, "utf8");
    assert.ok(guide.includes(node as string), `docs/operations.md does not say to install node at ${node}`);
    const prefix = /^(\/\S+)\/lib\/node_modules\/imagewatch\/dist\/main\.js$/.exec(main as string)?.[1];
    assert.ok(prefix, `ExecStart ${main} is not <prefix>/lib/node_modules/imagewatch/dist/main.js`);
    assert.ok(
      guide.includes(`--prefix ${prefix}`),
      `docs/operations.md does not install with --prefix ${prefix}`,
    );
  });

  it("passes systemd-analyze verify", (t) => {
    const r = systemdAnalyze(t, ["verify", unitCopy(t, text)]);
    if (!r) return;
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stderr.trim(), "", "systemd-analyze verify printed warnings");
  });

  it(`scores at most ${MAX_EXPOSURE} in systemd-analyze security, as docs/operations.md says`, (t) => {
    const r = systemdAnalyze(t, ["security", "--offline=yes", "--no-pager", unitCopy(t, text)]);
    if (!r) return;
    const score = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout)?.[1];
    assert.ok(score, r.stdout + r.stderr);
    assert.ok(Number(score) <= MAX_EXPOSURE, `exposure ${score} > ${MAX_EXPOSURE}`);
    const documented = /systemd-analyze security[^\n]*?(\d\.\d) OK/.exec(
      readFileSync(OPERATIONS, "utf8"),
    )?.[1];
    assert.equal(documented, score, "docs/operations.md states another score");
  });

  it("the score check notices a weak unit", (t) => {
    const weak = text.replace(/^\n# Hardening[\s\S]*?\n\[Install\]/m, "\n[Install]");
    assert.notEqual(weak, text);
    const r = systemdAnalyze(t, ["security", "--offline=yes", "--no-pager", unitCopy(t, weak)]);
    if (!r) return;
    const score = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout)?.[1];
    assert.ok(Number(score) > MAX_EXPOSURE, `a unit without hardening scored ${score}`);
  });
});
