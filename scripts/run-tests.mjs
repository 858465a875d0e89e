#!/usr/bin/env node
// Runs every test file under test/ with node:test and fails when none ran, or when the tests left
// anything in the temp dir. Node 20 neither expands globs nor finds .ts files in a directory, so we list
// them ourselves. The tests (and every process they start) get a temp dir of their own ($TMPDIR), so
// what is left in it afterwards is theirs, whatever else runs on the machine.
import { spawn } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = findTests("test").sort();
if (filter.length > 0) files = files.filter((f) => filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error("run-tests: no test files found");
  process.exit(1);
}
const tmp = mkdtempSync(join(tmpdir(), "imagewatch-run-tests-"));
// Unit tests are pure and quick: they share one process (one entry file importing them all), so the
// suite does not pay a process start and a TypeScript loader per file for them. Integration and browser
// tests keep a process each (real servers, child processes, signals).
// Tests that must own their process: real child processes and signals, process-wide hooks, a browser.
const OWN_PROCESS = /(daemon|demo|cli|jobs|store-crash|alertmanager|chaos|status-page)\.test\.ts$/;
const units = files.filter((f) => f.startsWith(join("test", "unit")));
const shared = files.filter((f) => f.startsWith(join("test", "integration")) && !OWN_PROCESS.test(f));
const entries = files.filter((f) => !units.includes(f) && !shared.includes(f));
// The shared integration files go in three processes, so the runner still has three lanes to fill.
const groups = [units, ...[0, 1, 2].map((k) => shared.filter((_, i) => i % 3 === k))];
groups.forEach((group, g) => {
  if (group.length === 0) return;
  const entry = join(tmp, `group-${g}.test.mjs`);
  writeFileSync(
    entry,
    group.map((f) => `import ${JSON.stringify(pathToFileURL(resolve(f)).href)};`).join("\n"),
  );
  entries.unshift(entry);
});
const args = ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=3", ...entries];
// tsx keeps its compile cache in $TMPDIR/tsx-<uid>: share the usual one, so the runs stay warm.
const tsxCache = `tsx-${process.geteuid ? process.geteuid() : userInfo().username}`;
mkdirSync(join(tmpdir(), tsxCache), { recursive: true });
symlinkSync(join(tmpdir(), tsxCache), join(tmp, tsxCache), "dir");

/** Lists what the tests left in their temp dir, then removes the dir; 1 when anything was left. */
function checkLeftovers() {
  unlinkSync(join(tmp, tsxCache));
  const left = readdirSync(tmp).filter((name) => !/^group-\d+\.test\.mjs$/.test(name));
  rmSync(tmp, { recursive: true, force: true });
  if (left.length === 0) return 0;
  console.error(
    `run-tests: the tests left ${left.length} entries in the temp dir (remove them with t.after / makeTempDir):`,
  );
  for (const name of left.sort()) console.error(`  ${name}`);
  return 1;
}

let out = "";
const child = spawn(process.execPath, args, {
  stdio: ["ignore", "pipe", "inherit"],
  env: { ...process.env, TMPDIR: tmp, TMP: tmp, TEMP: tmp },
});
child.stdout.on("data", (chunk) => {
  out += chunk.toString();
  process.stdout.write(chunk);
});
child.on("exit", (code, signal) => {
  const leftovers = checkLeftovers();
  const m = /^ℹ tests (\d+)$/m.exec(out);
  const ran = m ? Number(m[1]) : 0;
  if (code === 0 && ran === 0) {
    console.error("run-tests: zero tests ran");
    process.exit(1);
  }
  process.exit((code ?? (signal ? 1 : 0)) || leftovers);
});
