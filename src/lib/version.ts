import { readFileSync } from "node:fs";

/**
 * The package version, read once from imagewatch's package.json: the nearest one above this module
 * (`src/lib/`, `dist/lib/`, or the bundle `dist/main.js`).
 */
export const VERSION: string = (() => {
  for (const up of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "imagewatch") return pkg.version ?? "0.0.0";
    } catch {
      // not there: look one level higher
    }
  }
  return "0.0.0";
})();
