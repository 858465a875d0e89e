#!/usr/bin/env node
/**
 * The built CLI's entry point (dist/main.js): it runs the bundled program, dist/imagewatch.cjs (main.ts
 * and what it imports, see scripts/bundle.mjs), through V8's code cache when the environment names a
 * cache directory: `IMAGEWATCH_CODE_CACHE_DIR`, or `CACHE_DIRECTORY` (what systemd's `CacheDirectory=`
 * sets). See lib/code-cache.ts.
 */
import { fileURLToPath } from "node:url";
import { runBundle } from "./lib/code-cache.js";
import { tuneHeap } from "./lib/heap.js";

/** The cache is written once the start and the first polls compiled what they need, or at exit. */
const WRITE_AFTER_MS = 10_000;

// Before compiling: a code cache is keyed to V8's flags, and the program sets this one (again, alike).
tuneHeap(process.execArgv, process.env.NODE_OPTIONS);
runBundle(fileURLToPath(new URL("./imagewatch.cjs", import.meta.url)), {
  env: process.env,
  writeAfterMs: WRITE_AFTER_MS,
  sourceMaps: process.sourceMapsEnabled,
});
