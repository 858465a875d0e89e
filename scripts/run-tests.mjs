#!/usr/bin/env node
// Runs every test file under test/ with node:test and fails when none ran.
// Node 20 neither expands globs nor finds .ts files in a directory, so we list them ourselves.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

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
const args = ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", ...files];
let out = "";
const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
child.stdout.on("data", (chunk) => {
  out += chunk.toString();
  process.stdout.write(chunk);
});
child.on("exit", (code, signal) => {
  const m = /^ℹ tests (\d+)$/m.exec(out);
  const ran = m ? Number(m[1]) : 0;
  if (code === 0 && ran === 0) {
    console.error("run-tests: zero tests ran");
    process.exit(1);
  }
  process.exit(code ?? (signal ? 1 : 0));
});
