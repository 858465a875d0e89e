#!/usr/bin/env node
// `npm run screenshots`: regenerates the README's images of the status page (docs/images/*.png).
// Starts the daemon in-process on the simulator with a demo fleet (a failing, an ERROR, a stuck, a built
// and a steady server, and a webhook that dead-letters), opens the page in Debian's chromium
// (/usr/bin/chromium) and saves the light, dark and 390 px views and one server's page.
// Run with tsx so it can import the TypeScript sources: node --import tsx scripts/screenshots.mjs
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { hasChromium, launchBrowser } from "../test/browser/browser.ts";
import { FLEET, startFleet } from "../test/browser/fleet.ts";

const out = join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "images");

if (!hasChromium()) {
  console.error("screenshots: /usr/bin/chromium is missing (apt-get install chromium)");
  process.exit(1);
}
mkdirSync(out, { recursive: true });
const fleet = await startFleet();
const browser = await launchBrowser({});
try {
  const page = await browser.context.newPage();
  const shoot = async (name, { width, scheme, path = "" }) => {
    await page.setViewportSize({ width, height: 900 });
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto(`${fleet.url}${path}`, { waitUntil: "load" });
    await page.waitForSelector("main");
    const file = join(out, name);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`wrote ${file}`);
  };
  await shoot("status-page.png", { width: 1280, scheme: "light" });
  await shoot("status-page-dark.png", { width: 1280, scheme: "dark" });
  await shoot("status-page-390.png", { width: 390, scheme: "light" });
  const other = fleet.app.states.all().find((s) => s.serverId === FLEET.error);
  await shoot("server-page.png", {
    width: 1280,
    scheme: "light",
    path: `/servers/${encodeURIComponent(other?.projectId ?? "")}/${FLEET.error}`,
  });
} finally {
  await browser.close();
  await fleet.close();
}
