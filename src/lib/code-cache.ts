/**
 * Runs the bundled program through V8's code cache (see launcher.ts): with a trusted cache directory, a
 * start skips compiling what the start before it compiled.
 *
 * A cache is trusted only in a directory owned by this user that nobody else may write, under a name
 * that holds the SHA-256 of the bundle and node's and V8's versions (V8's own check of a cache is only
 * the source's length); V8 refuses one made under other flags. Whatever is wrong with the directory or
 * the file, the program runs as it would without one.
 */
import { createHash } from "node:crypto";
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import Module, { createRequire } from "node:module";
import { dirname, join } from "node:path";
import vm from "node:vm";

/** What became of the cache: none configured or trusted, none yet, used, or refused by V8. */
export type CodeCacheState = "off" | "none" | "used" | "rejected";

/** The cache directory named by the environment, if this process may trust it. */
export function trustedCacheDir(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const dir = env.IMAGEWATCH_CODE_CACHE_DIR || env.CACHE_DIRECTORY?.split(":")[0];
  if (!dir) return undefined;
  try {
    const st = statSync(dir);
    const uid = process.getuid?.();
    const ours = uid === undefined || st.uid === uid;
    return st.isDirectory() && ours && (st.mode & 0o022) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** The cache file of this bundle source under this node, in `dir`. */
export function codeCacheFile(dir: string, source: string): string {
  const digest = createHash("sha256").update(source).digest("hex").slice(0, 32);
  return join(dir, `imagewatch-${digest}-node${process.versions.node}-v8${process.versions.v8}.cache`);
}

/** A bundle that ran. */
export interface BundleRun {
  cache: CodeCacheState;
  /** Writes the cache now, if this run should (no cache yet, or a refused one); at most once. */
  writeCache(): void;
}

/** How to run a bundle. */
export interface RunBundleOptions {
  /** Where IMAGEWATCH_CODE_CACHE_DIR or CACHE_DIRECTORY are read. */
  env: Readonly<Record<string, string | undefined>>;
  /** When a run without a good cache writes one (the timer does not hold the process; or at exit). */
  writeAfterMs: number;
  /**
   * Source maps on (`--enable-source-maps`): node applies them only to what its own loader compiled,
   * not to a vm.Script, so the bundle is then loaded by that loader, without a cache.
   */
  sourceMaps: boolean;
}

/** Compiles the CommonJS file `filename` (with its cache when good) and runs it. */
export function runBundle(filename: string, options: RunBundleOptions): BundleRun {
  if (options.sourceMaps) {
    createRequire(import.meta.url)(filename);
    return { cache: "off", writeCache: () => {} };
  }
  // A bundle's first line is its `#!`: emptied, so that the lines stay those of its source map.
  const source = readFileSync(filename, "utf8").replace(/^#!.*/, "");
  const dir = trustedCacheDir(options.env);
  const cacheFile = dir === undefined ? undefined : codeCacheFile(dir, source);
  let cachedData: Buffer | undefined;
  if (cacheFile !== undefined) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      // none yet
    }
  }
  const script = new vm.Script(Module.wrap(source), { filename, ...(cachedData ? { cachedData } : {}) });
  const cache: CodeCacheState =
    cacheFile === undefined
      ? "off"
      : cachedData === undefined
        ? "none"
        : script.cachedDataRejected
          ? "rejected"
          : "used";
  let pending = cacheFile !== undefined && (cache === "none" || cache === "rejected");
  const writeCache = () => {
    if (!pending || cacheFile === undefined) return;
    pending = false;
    try {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
      renameSync(tmp, cacheFile);
    } catch {
      // A cache that cannot be written only costs the next start its compile time.
    }
  };
  if (pending) {
    setTimeout(writeCache, options.writeAfterMs).unref();
    process.once("exit", writeCache);
  }
  const mod = { exports: {} };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run(mod.exports, createRequire(filename), mod, filename, dirname(filename));
  return { cache, writeCache };
}
