/**
 * The status page's stylesheet and refresh script, served from `/static/` so that the page's
 * Content-Security-Policy can forbid inline script and inline style (`script-src 'self'; style-src 'self'`).
 */

/** `/static/status.css`: light and dark schemes (prefers-color-scheme), every text colour at WCAG AA. */
export const STATUS_CSS = `:root{color-scheme:light dark;--bg:#fff;--fg:#1a1a1a;--muted:#595959;--line:#d0d0d0;--head:#f2f2f2;
--link:#0b57d0;--err-bg:#fde2e1;--err-fg:#8a1c1c;--warn-bg:#fff1c2;--warn-fg:#5c4000;--busy-bg:#dbeafe;
--busy-fg:#1e3a8a;--ok-bg:#dcfce7;--ok-fg:#14532d;--unk-bg:#ececec;--unk-fg:#333;--s-err:#c5221f;--s-busy:#1a73e8;
--s-ok:#188038;--s-unk:#80868b;--s-none:#e3e3e3}
@media (prefers-color-scheme:dark){:root{--bg:#121212;--fg:#e6e6e6;--muted:#a8a8a8;--line:#3a3a3a;--head:#1e1e1e;
--link:#8ab4f8;--err-bg:#4a1515;--err-fg:#ffd7d5;--warn-bg:#3d2e00;--warn-fg:#ffe08a;--busy-bg:#172554;--busy-fg:#cfe0ff;
--ok-bg:#0f2e1a;--ok-fg:#bbf7d0;--unk-bg:#2a2a2a;--unk-fg:#ddd;--s-err:#f28b82;--s-busy:#8ab4f8;--s-ok:#81c995;
--s-unk:#9aa0a6;--s-none:#333}}
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0;padding:1rem;background:var(--bg);color:var(--fg);line-height:1.4}
a{color:var(--link)}h1{font-size:1.4rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
code{font-size:.85rem;overflow-wrap:anywhere}.muted{color:var(--muted)}
header.top{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:baseline;justify-content:space-between}
button{font:inherit;padding:.2rem .6rem;color:var(--fg);background:var(--head);border:1px solid var(--line);border-radius:4px}
.banner{background:var(--err-bg);color:var(--err-fg);border:1px solid var(--s-err);padding:.5rem .75rem;margin:.5rem 0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:var(--head)}td.name a{font-weight:600}
tr.attn-failing td:first-child{border-left:4px solid var(--s-err)}tr.attn-error td:first-child{border-left:4px solid var(--s-err)}
tr.attn-stuck td:first-child{border-left:4px solid #b07800}tr.attn-transitional td:first-child{border-left:4px solid var(--s-busy)}
tr.attn-steady td:first-child{border-left:4px solid transparent}
.status,.flag{display:inline-block;padding:0 .4rem;border-radius:3px;font-weight:600;font-size:.85rem;white-space:nowrap}
.status-error,.flag-failing{background:var(--err-bg);color:var(--err-fg)}.flag-stuck{background:var(--warn-bg);color:var(--warn-fg)}
.status-transitional{background:var(--busy-bg);color:var(--busy-fg)}.status-steady{background:var(--ok-bg);color:var(--ok-fg)}
.status-unknown{background:var(--unk-bg);color:var(--unk-fg)}
svg.strip{width:12rem;max-width:100%;height:.9rem;display:block}
.seg-error{fill:var(--s-err)}.seg-transitional{fill:var(--s-busy)}.seg-steady{fill:var(--s-ok)}.seg-unknown{fill:var(--s-unk)}.seg-none{fill:var(--s-none)}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;margin:.5rem 0}
form.filters label{display:flex;flex-direction:column;font-size:.85rem}
input,select{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--muted);border-radius:3px;padding:.15rem .3rem;max-width:100%}
ul.events{list-style:none;padding:0;margin:0}ul.events li{border-bottom:1px solid var(--line);padding:.3rem 0;overflow-wrap:anywhere}
.delivery{font-size:.85rem;color:var(--muted)}.delivery-dead{color:var(--err-fg);background:var(--err-bg);padding:0 .3rem;font-weight:600}
.pager{margin:.5rem 0}dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dl.facts dd{margin:0;overflow-wrap:anywhere}
pre{background:var(--head);padding:.5rem;overflow:auto;font-size:.8rem;max-width:100%}
@media (max-width:700px){body{padding:.6rem}table,thead,tbody,tr,td{display:block;width:100%}thead{display:none}
tr{border:1px solid var(--line);border-radius:4px;margin:0 0 .6rem;padding:.3rem}td{border:0;padding:.15rem .3rem}
tr.attn-failing,tr.attn-error{border-left:4px solid var(--s-err)}tr.attn-stuck{border-left:4px solid #b07800}
tr.attn-transitional{border-left:4px solid var(--s-busy)}tr td:first-child{border-left:0}
td[data-label]::before{content:attr(data-label) ": ";color:var(--muted);font-size:.8rem}td.name::before{content:none}
svg.strip{width:100%}}
`;

/**
 * `/static/refresh.js`: replaces every `[data-live]` region with the same region of a freshly fetched
 * page every `data-refresh-seconds` of `<body>`, and can be paused (kept in sessionStorage). The page is
 * complete without it; the pause button stays hidden when the script does not run.
 */
export const REFRESH_JS = `"use strict";
(() => {
  const body = document.body;
  const button = document.getElementById("refresh-toggle");
  const note = document.getElementById("refresh-status");
  if (!button || !note) return;
  const every = Math.max(5, Number(body.dataset.refreshSeconds || "30")) * 1000;
  let paused = sessionStorage.getItem("imagewatch.paused") === "1";
  let timer;
  const show = () => {
    button.textContent = paused ? "Resume auto-refresh" : "Pause auto-refresh";
    button.setAttribute("aria-pressed", String(paused));
  };
  const schedule = () => {
    clearTimeout(timer);
    if (!paused) timer = setTimeout(refresh, every);
  };
  async function refresh() {
    try {
      const res = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      for (const region of document.querySelectorAll("[data-live]")) {
        const next = region.id ? doc.getElementById(region.id) : null;
        if (next) region.replaceWith(document.importNode(next, true));
      }
      note.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (e) {
      note.textContent = "refresh failed (" + (e && e.message ? e.message : e) + ")";
    }
    schedule();
  }
  button.addEventListener("click", () => {
    paused = !paused;
    sessionStorage.setItem("imagewatch.paused", paused ? "1" : "0");
    show();
    if (paused) clearTimeout(timer);
    else refresh();
  });
  button.hidden = false;
  show();
  schedule();
})();
`;

/** `/static/favicon.svg`: a small status dot, so browsers do not ask for a missing /favicon.ico. */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#188038"/></svg>\n';
