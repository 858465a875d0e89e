/**
 * The status page in a real browser (Debian's chromium via playwright-core) against a real daemon on the
 * simulator, opened through HTTP Basic with the bearer token as password: order, colours, stuck-since,
 * strips, the 390 px layout, accessibility in both colour schemes, no console errors, no CSP violations.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { request } from "undici";
import {
  checkAccessibility,
  hasChromium,
  launchBrowser,
  runAxe,
  type TestBrowser,
  watchPage,
} from "./browser.js";
import { FLEET, type Fleet, startFleet } from "./fleet.js";

const TOKEN = "page-token-0123456789";
const skip = !hasChromium() && !process.env.CI ? "chromium not installed (apt-get install chromium)" : false;

describe("the status page in chromium", { skip, timeout: 300_000 }, () => {
  let fleet: Fleet;
  let browser: TestBrowser;
  let page: Page;
  let problems: Awaited<ReturnType<typeof watchPage>>;

  before(async () => {
    fleet = await startFleet({ token: TOKEN });
    browser = await launchBrowser({ httpCredentials: { username: "ops", password: TOKEN } });
    page = await browser.context.newPage();
    problems = await watchPage(page);
    const res = await page.goto(fleet.url, { waitUntil: "load" });
    assert.equal(res?.status(), 200, "the browser got through Basic auth");
    await page.waitForSelector("tr.server");
  });

  after(async () => {
    await browser?.close();
    await fleet?.close();
  });

  it("without credentials a browser is challenged for Basic auth; with them the page opens", async () => {
    const res = await request(fleet.url, { headers: { accept: "text/html,application/xhtml+xml" } });
    await res.body.dump();
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers["www-authenticate"], 'Basic realm="imagewatch"');
    assert.equal(await page.locator("h1").textContent(), "imagewatch");
  });

  it("orders servers by attention, name first, with status classes and colours", async () => {
    const rows = await page.$$eval("tr.server", (trs) =>
      trs.map((tr) => ({
        attention: tr.getAttribute("data-attention"),
        first: tr.querySelector("td")?.querySelector("a")?.textContent,
        badge: tr.querySelector(".status")?.className,
        bg: getComputedStyle(tr.querySelector(".status") as Element).backgroundColor,
      })),
    );
    assert.deepEqual(
      rows.map((r) => [r.attention, r.first]),
      [
        ["failing", "build-flaky"],
        ["error", "build-broken <b>"],
        ["stuck", "build-stuck"],
        ["steady", "build-quick"],
        ["steady", "golden-image"],
      ],
    );
    assert.equal(rows[1]?.badge, "status status-error");
    assert.equal(rows[1]?.bg, "rgb(253, 226, 225)", "ERROR in red (light scheme)");
    assert.equal(rows[4]?.bg, "rgb(220, 252, 231)", "steady in green");
    const failing = page.locator("tr.attn-failing");
    assert.match((await failing.textContent()) ?? "", /poll failing[\s\S]*http_5xx 500[\s\S]*failed poll/);
  });

  it("says since when a stuck server is stuck", async () => {
    const text = (await page.locator("tr.attn-stuck .stuck-since").textContent()) ?? "";
    assert.match(text, /^stuck since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(over 20m 0s\)$/);
  });

  it("draws a 24-hour strip per server from the status changes", async () => {
    const segments = await page.$$eval("tr.attn-error svg.strip rect", (rects) =>
      rects.map((r) => [r.getAttribute("class"), r.getAttribute("data-status")]),
    );
    assert.deepEqual(segments.slice(-2), [
      ["seg-transitional", "BUILDING"],
      ["seg-error", "ERROR"],
    ]);
    assert.equal(await page.locator("svg.strip").count(), 5);
    assert.match(
      (await page.locator("#builds").textContent()) ?? "",
      /median 1[12]m \d+s, p90 1[12]m \d+s over 1 build/,
    );
  });

  it("marks dead deliveries and filters events with a plain GET form", async () => {
    assert.ok((await page.locator("li.has-dead .delivery-dead").count()) > 0);
    await page.selectOption("#f-type", "image_server.status_changed");
    await page.fill("#f-server", FLEET.error);
    await Promise.all([
      page.waitForURL(/type=image_server\.status_changed/),
      page.click("form.filters button"),
    ]);
    await page.waitForSelector("#event-list");
    const items = await page.locator("#event-list li").allTextContents();
    assert.ok(items.length >= 1);
    for (const t of items) assert.match(t, /image_server\.status_changed build-broken <b>/);
    await page.goto(fleet.url);
  });

  it("refreshes in place and can be paused", async () => {
    const button = page.locator("#refresh-toggle");
    await button.waitFor({ state: "visible" });
    assert.equal(await button.getAttribute("aria-pressed"), "false");
    await button.click();
    assert.equal(await button.getAttribute("aria-pressed"), "true");
    await button.click(); // resuming refreshes at once
    await page.waitForFunction(() =>
      /^updated /.test(document.getElementById("refresh-status")?.textContent ?? ""),
    );
    assert.equal(await page.locator("tr.server").count(), 5);
  });

  it("opens a server's page with its history and API object", async () => {
    await Promise.all([page.waitForURL(/\/servers\//), page.click(`a[href$="/${FLEET.error}"] >> nth=0`)]);
    assert.equal(await page.locator("h1").textContent(), "build-broken <b>");
    assert.ok((await page.locator("svg.strip rect.seg-error").count()) === 1);
    assert.match((await page.locator("pre").textContent()) ?? "", /"status": "ERROR"/);
    assert.deepEqual(await checkAccessibility(page), []);
    assert.deepEqual((await runAxe(page)) ?? [], []);
    await page.goto(fleet.url);
    await page.waitForSelector("tr.server");
  });

  it("fits 390 px without horizontal scrolling, the name visible first", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await page.waitForSelector("tr.server");
    const { scrollWidth, nameRight, firstText } = await page.evaluate(() => {
      const name = document.querySelector("tr.server td.name a") as HTMLElement;
      return {
        scrollWidth: document.documentElement.scrollWidth,
        nameRight: name.getBoundingClientRect().right,
        firstText: name.textContent,
      };
    });
    assert.ok(scrollWidth <= 390, `scrollWidth ${scrollWidth}`);
    assert.ok(nameRight <= 390, "the name is on screen");
    assert.equal(firstText, "build-flaky");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("has no serious accessibility problems in the light and the dark scheme", async () => {
    for (const colorScheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme });
      await page.reload();
      await page.waitForSelector("tr.server");
      const violations = await checkAccessibility(page);
      assert.deepEqual(violations, [], `${colorScheme}: ${JSON.stringify(violations)}`);
      // axe-core too, when installed (devDependency); the check above runs either way.
      const axe = await runAxe(page);
      if (axe) assert.deepEqual(axe, [], `axe, ${colorScheme}: ${JSON.stringify(axe)}`);
    }
    const dark = await page.$eval("body", (b) => getComputedStyle(b).backgroundColor);
    assert.equal(dark, "rgb(18, 18, 18)", "the dark scheme applies");
    await page.emulateMedia({ colorScheme: "light" });
  });

  it("the accessibility check itself catches low contrast, unlabelled inputs and unnamed images", async () => {
    const probe = await browser.context.newPage();
    try {
      await probe.setContent(
        '<html lang="en"><head><title>t</title></head><body style="background:#fff">' +
          '<p style="color:#aaa">faint</p><input id="x"><svg role="img"></svg></body></html>',
      );
      const rules = (await checkAccessibility(probe)).map((v) => v.rule.split(" ")[0]);
      assert.deepEqual(rules.sort(), ["color-contrast", "image-alt", "label"]);
    } finally {
      await probe.close();
    }
  });

  it("logged no console error, no uncaught error and no CSP violation", async () => {
    const seen = await problems.read();
    assert.deepEqual(seen, { console: [], errors: [], csp: [] });
  });
});
