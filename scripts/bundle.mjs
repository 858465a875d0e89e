// `npm run build`, second step: bundles the CLI (src/main.ts and everything it imports, dependencies
// included) into the one file dist/main.js that the bin, the container, the systemd unit and `npm start`
// run. One file instead of ~400 modules starts ~0.2 s sooner (node resolves, reads and compiles each
// module of an unbundled graph one by one) and holds less memory.
// better-sqlite3 (a native addon) and pino-pretty (loaded only for `log.format: pretty`) stay outside,
// resolved from node_modules at run time. What the bundle holds is what every start compiles and
// evaluates, so it leaves out what the daemon never runs: undici's fetch/WebSocket/cache half (the lean
// entry below) and zod's locales and JSON Schema code (biome.json insists on `import * as z`, which lets
// esbuild drop them): 2.06 → 1.28 MB, and `node dist/main.js --version` ~45–75 ms sooner (medians of
// alternating runs, BENCHMARKS.md).
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** `undici` imported from src/ resolves to the lean entry (scripts/undici-lean.mjs says why). */
const leanUndici = {
  name: "lean-undici",
  setup(b) {
    const lean = fileURLToPath(new URL("undici-lean.mjs", import.meta.url));
    const src = fileURLToPath(new URL("../src/", import.meta.url));
    b.onResolve({ filter: /^undici$/ }, (args) =>
      args.importer.startsWith(src) ? { path: lean } : undefined,
    );
  },
};

await build({
  absWorkingDir: fileURLToPath(new URL("..", import.meta.url)),
  entryPoints: ["src/main.ts"],
  outfile: "dist/main.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3", "pino-pretty"],
  plugins: [leanUndici],
  // Bundled CommonJS dependencies call require() for node's built-ins; ESM has none of its own.
  banner: {
    js: 'import { createRequire as __imagewatchRequire } from "node:module";\nconst require = __imagewatchRequire(import.meta.url);',
  },
  // Whitespace and syntax only: function names stay readable in stack traces (the map gives lines).
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: "linked",
  legalComments: "linked",
  logLevel: "warning",
});
