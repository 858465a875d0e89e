/// <reference lib="dom" />
/**
 * Debian's chromium driven by playwright-core (no browser download), a fresh profile per launch, and an
 * accessibility check run inside the page: text contrast (WCAG AA) in the current colour scheme, form
 * controls with labels, named images and links, the document's language and title, unique ids.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Where Debian installs chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/** True when chromium is installed (CI installs it; elsewhere the browser tests skip). */
export function hasChromium(): boolean {
  return existsSync(CHROMIUM);
}

/** A browser with its own profile directory; `close()` ends it and removes the directory. */
export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches headless chromium with a fresh profile (and HTTP credentials when given). */
export async function launchBrowser(opts: {
  httpCredentials?: { username: string; password: string };
  ignoreHTTPSErrors?: boolean;
}): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "imagewatch-chromium-"));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 120_000,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1280, height: 900 },
      ...(opts.httpCredentials ? { httpCredentials: opts.httpCredentials } : {}),
      ...(opts.ignoreHTTPSErrors ? { ignoreHTTPSErrors: true } : {}),
    });
    context.setDefaultTimeout(60_000);
    context.setDefaultNavigationTimeout(60_000);
    return {
      context,
      async close() {
        try {
          await context.close();
        } finally {
          rmSync(profile, { recursive: true, force: true });
        }
      },
    };
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
}

/** What went wrong in a page: console errors, uncaught exceptions, CSP violations. */
export interface PageProblems {
  console: string[];
  errors: string[];
  csp: string[];
}

/** Collects a page's console errors, uncaught errors and CSP violations (from a listener set before any script). */
export async function watchPage(page: Page): Promise<PageProblems & { read(): Promise<PageProblems> }> {
  const problems: PageProblems = { console: [], errors: [], csp: [] };
  page.on("console", (m) => {
    if (m.type() === "error") problems.console.push(m.text());
  });
  page.on("pageerror", (e) => problems.errors.push(e.message));
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return {
    ...problems,
    async read() {
      const csp = await page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);
      return { console: [...problems.console], errors: [...problems.errors], csp: [...problems.csp, ...csp] };
    },
  };
}

/** The source of axe-core when it is installed (a devDependency), else undefined. */
function axeSource(): string | undefined {
  try {
    return readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  } catch {
    return undefined;
  }
}

/**
 * axe-core's serious and critical WCAG 2 A/AA violations of the page as rendered now, or undefined when
 * axe-core is not installed. It is evaluated through the devtools protocol, which the page's CSP does not
 * govern, so the page's own policy stays as strict as it is.
 */
export async function runAxe(page: Page): Promise<A11yViolation[] | undefined> {
  const source = axeSource();
  if (source === undefined) return undefined;
  await page.evaluate(source);
  const found = (await page.evaluate(
    `axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"], resultTypes: ["violations"] })
       .then((r) => r.violations.flatMap((v) => v.nodes.map((n) => ({ rule: v.id, impact: v.impact, target: n.target.join(" ") }))))`,
  )) as A11yViolation[];
  return found.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** One accessibility problem found. */
export interface A11yViolation {
  rule: string;
  impact: "serious" | "critical" | "moderate";
  target: string;
}

/**
 * Checks the page as it is rendered now (call it in each colour scheme). Serious: text below 4.5:1
 * (3:1 when large), a form control without a label, an image, link or button without a name, no lang
 * or title, duplicate ids.
 */
export async function checkAccessibility(page: Page): Promise<A11yViolation[]> {
  // tsx compiles with keepNames: the function below calls an `__name` helper the page does not have.
  await page.evaluate("globalThis.__name = globalThis.__name || ((f) => f)");
  return page.evaluate(() => {
    const out: { rule: string; impact: "serious" | "critical" | "moderate"; target: string }[] = [];
    const describe = (el: Element) =>
      `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}${el.className && typeof el.className === "string" ? `.${el.className.split(" ").join(".")}` : ""} "${(el.textContent ?? "").trim().slice(0, 40)}"`;
    const parse = (c: string): [number, number, number, number] => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return [0, 0, 0, 0];
      const p = (m[1] as string)
        .split(/[ ,/]+/)
        .filter(Boolean)
        .map(Number);
      return [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, p[3] ?? 1];
    };
    const lum = ([r, g, b]: number[]) => {
      const f = (v: number) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r as number) + 0.7152 * f(g as number) + 0.0722 * f(b as number);
    };
    const background = (el: Element | null): [number, number, number] => {
      for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c[3] > 0.5) return [c[0], c[1], c[2]];
      }
      const root = parse(getComputedStyle(document.documentElement).backgroundColor);
      return root[3] > 0.5 ? [root[0], root[1], root[2]] : [255, 255, 255];
    };
    if (!document.documentElement.lang)
      out.push({ rule: "html-has-lang", impact: "serious", target: "html" });
    if (!document.title.trim()) out.push({ rule: "document-title", impact: "serious", target: "title" });
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set<Element>();
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || seen.has(el) || !(n.textContent ?? "").trim()) continue;
      seen.add(el);
      if (el.closest("svg, title, script, style, [hidden]")) continue;
      const style = getComputedStyle(el);
      if (style.visibility === "hidden" || style.display === "none") continue;
      const fg = parse(style.color);
      const bg = background(el);
      const l1 = lum(fg);
      const l2 = lum(bg);
      const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
      const size = Number.parseFloat(style.fontSize);
      const bold = Number(style.fontWeight) >= 700;
      const large = size >= 24 || (bold && size >= 18.66);
      if (ratio < (large ? 3 : 4.5))
        out.push({ rule: `color-contrast ${ratio.toFixed(2)}`, impact: "serious", target: describe(el) });
    }
    for (const c of document.querySelectorAll("input, select, textarea")) {
      const id = c.getAttribute("id");
      const labelled =
        c.closest("label") !== null ||
        (id !== null && document.querySelector(`label[for="${CSS.escape(id)}"]`) !== null) ||
        c.hasAttribute("aria-label");
      if (!labelled && (c as HTMLInputElement).type !== "hidden")
        out.push({ rule: "label", impact: "critical", target: describe(c) });
    }
    for (const img of document.querySelectorAll('img, svg[role="img"]')) {
      const name = img.getAttribute("alt") ?? img.getAttribute("aria-label") ?? "";
      if (!name.trim()) out.push({ rule: "image-alt", impact: "serious", target: describe(img) });
    }
    for (const a of document.querySelectorAll("a[href], button")) {
      const hidden = (a as HTMLElement).hidden;
      if (!hidden && !(a.textContent ?? "").trim() && !a.getAttribute("aria-label"))
        out.push({ rule: "link-name", impact: "serious", target: describe(a) });
    }
    const ids = new Map<string, number>();
    for (const el of document.querySelectorAll("[id]")) ids.set(el.id, (ids.get(el.id) ?? 0) + 1);
    for (const [id, n] of ids) if (n > 1) out.push({ rule: "duplicate-id", impact: "serious", target: id });
    return out;
  });
}
