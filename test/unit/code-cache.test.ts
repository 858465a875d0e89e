/**
 * The bundle's code cache: written when there is none (or V8 refused it), used on the next run, keyed
 * by the bundle's content, and never read from a directory others may write.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { codeCacheFile, runBundle, trustedCacheDir } from "../../src/lib/code-cache.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const runs = globalThis as { __codeCacheRuns?: number };

let copies = 0;

/**
 * A bundle that counts its runs (and has enough functions for V8 to cache), under a new file name each
 * time: V8 keeps what it compiled in this process by source and file name, and would not even look at
 * a cache for a source it compiled already under the same name.
 */
function bundleIn(dir: string, marker: string): string {
  const file = path.join(dir, `bundle-${++copies}.cjs`);
  const fns = Array.from(
    { length: 50 },
    (_, i) => `function f${i}(x) { return x * ${i} + ${JSON.stringify(marker)}.length; }`,
  );
  fs.writeFileSync(
    file,
    `#!/usr/bin/env node\n${fns.join("\n")}\nglobalThis.__codeCacheRuns = (globalThis.__codeCacheRuns ?? 0) + 1;\nmodule.exports.sum = f49(1);\n`,
  );
  return file;
}

function cacheDirIn(dir: string, mode = 0o700): string {
  const cache = path.join(dir, "cache");
  fs.mkdirSync(cache);
  fs.chmodSync(cache, mode);
  return cache;
}

describe("code cache", () => {
  it("writes a cache when there is none, uses it the next time, and rewrites one V8 refuses", (t) => {
    const dir = makeTempDir(t);
    const env = { IMAGEWATCH_CODE_CACHE_DIR: cacheDirIn(dir) };
    const options = { env, writeAfterMs: 60_000, sourceMaps: false };
    const before = runs.__codeCacheRuns ?? 0;

    const file = bundleIn(dir, "a");
    const first = runBundle(file, options);
    assert.equal(first.cache, "none");
    first.writeCache();
    const cacheFile = codeCacheFile(
      env.IMAGEWATCH_CODE_CACHE_DIR,
      fs.readFileSync(file, "utf8").replace(/^#!.*/, ""),
    );
    assert.ok(fs.statSync(cacheFile).size > 0, "written");
    assert.equal(fs.statSync(cacheFile).mode & 0o777, 0o600);

    assert.equal(runBundle(bundleIn(dir, "a"), options).cache, "used");

    fs.writeFileSync(cacheFile, "not a code cache");
    const refused = runBundle(bundleIn(dir, "a"), options);
    assert.equal(refused.cache, "rejected");
    refused.writeCache();
    assert.equal(runBundle(bundleIn(dir, "a"), options).cache, "used", "rewritten");
    assert.equal((runs.__codeCacheRuns ?? 0) - before, 4, "the bundle ran every time");
  });

  it("keys the cache by the bundle's content: a new bundle of the same length starts without one", (t) => {
    const dir = makeTempDir(t);
    const env = { IMAGEWATCH_CODE_CACHE_DIR: cacheDirIn(dir) };
    const options = { env, writeAfterMs: 60_000, sourceMaps: false };
    runBundle(bundleIn(dir, "a"), options).writeCache();
    // Same length, other content: V8's own check (the source's length) would take the old cache.
    assert.equal(runBundle(bundleIn(dir, "b"), options).cache, "none");
  });

  it("trusts only a directory of this user that others cannot write; none configured means off", (t) => {
    const dir = makeTempDir(t);
    const open = cacheDirIn(dir, 0o777);
    assert.equal(trustedCacheDir({ IMAGEWATCH_CODE_CACHE_DIR: open }), undefined);
    const options = { env: { IMAGEWATCH_CODE_CACHE_DIR: open }, writeAfterMs: 60_000, sourceMaps: false };
    assert.equal(runBundle(bundleIn(dir, "a"), options).cache, "off");
    assert.deepEqual(fs.readdirSync(open), [], "nothing written there");
    assert.equal(trustedCacheDir({}), undefined);
    assert.equal(trustedCacheDir({ IMAGEWATCH_CODE_CACHE_DIR: path.join(dir, "missing") }), undefined);
    fs.chmodSync(open, 0o700);
    assert.equal(trustedCacheDir({ CACHE_DIRECTORY: `${open}:/elsewhere` }), open, "systemd's, first entry");
  });

  it("with source maps on, loads the bundle through node's loader, without a cache", (t) => {
    const dir = makeTempDir(t);
    const env = { IMAGEWATCH_CODE_CACHE_DIR: cacheDirIn(dir) };
    const before = runs.__codeCacheRuns ?? 0;
    const run = runBundle(bundleIn(dir, "a"), { env, writeAfterMs: 60_000, sourceMaps: true });
    assert.equal(run.cache, "off");
    run.writeCache();
    assert.equal((runs.__codeCacheRuns ?? 0) - before, 1, "it ran");
    assert.deepEqual(fs.readdirSync(env.IMAGEWATCH_CODE_CACHE_DIR), []);
  });
});
