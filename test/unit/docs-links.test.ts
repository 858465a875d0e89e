/**
 * Keeps docs/ and the README honest: every relative link resolves (the file, and a #anchor when it points
 * at a Markdown heading), nothing in the repository points outside it, and the reference pages name every
 * config key of the schema, every metric, every event type and every HTTP route, so they cannot go stale.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import type * as z from "zod";
import { createConfigSchema } from "../../src/config/schema.js";
import { EVENT_TYPES } from "../../src/domain/types.js";
import { METRIC_NAMES } from "../../src/metrics/metrics.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const read = (rel: string) => readFileSync(path.join(ROOT, rel), "utf8");

/** README.md, docs/ and every other Markdown file of the repository (the deploy READMEs, …). */
function markdownFiles(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".") || name === "dist") continue;
    const p = path.join(dir, name);
    const r = rel === "" ? name : `${rel}/${name}`;
    if (statSync(p).isDirectory()) out.push(...markdownFiles(p, r));
    else if (name.endsWith(".md")) out.push(r);
  }
  return out.sort();
}
const MARKDOWN = markdownFiles(ROOT);

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a Markdown file's headings (outside code fences), with GitHub's -1, -2 for repeats. */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of text.split("\n")) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const h = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (!h) continue;
    const base = slug(h[1] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** `[text](target)` links outside code fences and inline code. */
function links(text: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of text.split("\n")) {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    const prose = line.replace(/`[^`]*`/g, "");
    for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push(m[1] as string);
  }
  return out;
}

/** Why a relative link from `file` does not resolve, or undefined when it does. */
function brokenLink(file: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // https:, mailto:
  const [p = "", anchor] = target.split("#");
  const resolved = p === "" ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), p);
  if (!resolved.startsWith(ROOT + path.sep) && resolved !== ROOT) return "points outside the repository";
  if (!existsSync(resolved)) return "no such file";
  if (anchor !== undefined && resolved.endsWith(".md") && statSync(resolved).isFile()) {
    if (!anchors(readFileSync(resolved, "utf8")).has(anchor)) return `no heading #${anchor}`;
  }
  return undefined;
}

describe("docs and README links", () => {
  it("finds the documentation pages", () => {
    for (const page of ["configuration", "metrics", "events", "http-api", "operations"]) {
      assert.ok(MARKDOWN.includes(`docs/${page}.md`), `docs/${page}.md missing`);
    }
  });
  for (const file of MARKDOWN) {
    it(`${file}: every relative link resolves`, () => {
      const bad = links(read(file))
        .map((l) => [l, brokenLink(file, l)] as const)
        .filter(([, why]) => why !== undefined)
        .map(([l, why]) => `${l}: ${why}`);
      assert.deepEqual(bad, []);
    });
  }
  it("the checker notices a missing file, a missing anchor and a link out of the repository", () => {
    assert.equal(brokenLink("README.md", "docs/nope.md"), "no such file");
    assert.equal(
      brokenLink("README.md", "docs/operations.md#no-such-heading"),
      "no heading #no-such-heading",
    );
    assert.equal(brokenLink("README.md", "../shared/DESIGN.md"), "points outside the repository");
    assert.equal(brokenLink("docs/README.md", "operations.md#ak-locked"), undefined);
    assert.equal(slug("`webhooks` — where events go"), "webhooks--where-events-go");
  });
  it("README links into docs/", () => {
    const readme = links(read("README.md"));
    for (const page of ["configuration", "metrics", "events", "http-api", "operations"]) {
      assert.ok(readme.includes(`docs/${page}.md`), `README does not link docs/${page}.md`);
    }
  });
});

describe("nothing in the repository points outside it", () => {
  const FORBIDDEN = [/\/work\/shared/, /\.\.\/shared\b/, /DESIGN\.md/];
  const SKIP = new Set([".git", "node_modules", "dist", "dist-check", "data", "coverage"]);
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (SKIP.has(name)) continue;
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (!/\.(db|png|jpg|tgz|gz)$/.test(name)) files.push(p);
    }
  };
  walk(ROOT);
  it("no file names /work/shared, ../shared or DESIGN.md", () => {
    const self = path.join(ROOT, "test/unit/docs-links.test.ts");
    const hits = files
      .filter((f) => f !== self)
      .flatMap((f) =>
        readFileSync(f, "utf8")
          .split("\n")
          .map((line, i) => ({ line, at: `${path.relative(ROOT, f)}:${i + 1}` }))
          .filter(({ line }) => FORBIDDEN.some((re) => re.test(line)))
          .map(({ at }) => at),
      );
    assert.deepEqual(hits, []);
  });
});

// biome-ignore lint/suspicious/noExplicitAny: walking zod's internal definitions
type Def = Record<string, any>;

/** Every key path of a zod schema: `cloud.retry.attempts`, `targets[].projectId`, `cloud.auth.token`. */
export function schemaKeyPaths(schema: z.ZodType): string[] {
  const out = new Set<string>();
  const visit = (s: { _zod: { def: Def } } | undefined, at: string) => {
    if (!s) return;
    const def = s._zod.def;
    switch (def.type) {
      case "object":
        for (const [key, child] of Object.entries(def.shape as Record<string, { _zod: { def: Def } }>)) {
          const p = at === "" ? key : `${at}.${key}`;
          out.add(p);
          visit(child, p);
        }
        break;
      case "pipe":
        visit(def.in, at);
        visit(def.out, at);
        break;
      case "array":
        visit(def.element, `${at}[]`);
        break;
      case "union":
        for (const o of def.options) visit(o, at);
        break;
      case "optional":
      case "nullable":
      case "default":
      case "prefault":
      case "readonly":
      case "catch":
        visit(def.innerType, at);
        break;
      default:
    }
  };
  visit(schema as unknown as { _zod: { def: Def } }, "");
  return [...out].sort();
}

describe("the reference pages cover the code", () => {
  it("docs/configuration.md names every key of the config schema", () => {
    const keys = schemaKeyPaths(createConfigSchema({ env: {} }));
    assert.ok(
      keys.includes("cloud.retry.attempts") && keys.includes("webhooks[].retry.maxDelay"),
      keys.join(),
    );
    assert.ok(keys.includes("cloud.auth.token") && keys.includes("cloud.auth.password"), "auth kinds' keys");
    const doc = read("docs/configuration.md");
    const missing = keys.filter((k) => !doc.includes(`\`${k}\``));
    assert.deepEqual(missing, [], "undocumented config keys");
    assert.ok(doc.includes("`stuck.repeatEvery`") && doc.includes("`stuck.<STATUS>`"));
  });
  it("docs/metrics.md names every metric", () => {
    const doc = read("docs/metrics.md");
    const missing = Object.values(METRIC_NAMES).filter((n) => !doc.includes(`\`${n}\``));
    assert.deepEqual(missing, []);
  });
  it("docs/events.md names every event type", () => {
    const doc = read("docs/events.md");
    assert.deepEqual(
      EVENT_TYPES.filter((t) => !doc.includes(`\`${t}\``)),
      [],
    );
  });
  it("docs/http-api.md names every route of the HTTP server", () => {
    const routes = [
      ...read("src/http/server.ts").matchAll(/\[\s*"(\/[^"]*)",\s*\{\s*methods:\s*\[([^\]]*)\]/g),
    ];
    assert.ok(routes.length >= 6, "cannot find the routes in src/http/server.ts");
    const doc = read("docs/http-api.md");
    for (const [, route, methods] of routes) {
      for (const method of (methods as string).match(/[A-Z]+/g) ?? []) {
        assert.ok(doc.includes(`\`${method} ${route}\``), `${method} ${route} undocumented`);
      }
    }
  });
});
