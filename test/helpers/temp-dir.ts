import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** Anything that runs a function when it ends: a test's `t`, or `{ after }` from node:test for a file. */
export interface CleanupScope {
  after(fn: () => void): void;
}

/**
 * Makes a fresh directory under the OS temp dir and removes it (with all it holds) when `scope` ends:
 * `makeTempDir(t)` inside a test, `makeTempDir({ after })` at the top of a file for one shared by its tests.
 */
export function makeTempDir(scope: CleanupScope, prefix = "imagewatch-test-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scope.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
