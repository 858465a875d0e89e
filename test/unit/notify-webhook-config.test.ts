/** The `group` and `rateLimit` keys of `webhooks[]` (DESIGN §2, §10): defaults per format, validation, printing. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { parseConfigText } from "../../src/config/load.js";
import { renderConfigYaml } from "../../src/config/mask.js";
import { ConfigError } from "../../src/lib/errors.js";

const BASE = `
cloud:
  region: cn-north-4
  auth: { kind: token, token: t0ken }
targets:
  - projectId: p1
    discover: true
webhooks:
`;
const WHSEC = "whsec_ZGVtby1zZWNyZXQtZm9yLWltYWdld2F0Y2gtZGVtbw==";

function webhooks(yaml: string) {
  return parseConfigText(`${BASE}${yaml}`, {}, "test.yaml").config.webhooks;
}

function issues(yaml: string): string[] {
  try {
    parseConfigText(`${BASE}${yaml}`, {}, "test.yaml");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return assert.fail("expected a ConfigError");
}

describe("webhooks[].group and rateLimit", () => {
  it("default per format: chat 5s/50 with their platform limits, standard one event per request, unlimited", () => {
    const hooks = webhooks(`
  - { name: w, url: "https://x.example/", format: wecom }
  - { name: d, url: "https://x.example/", format: dingtalk }
  - { name: f, url: "https://x.example/", format: feishu }
  - { name: s, url: "https://x.example/", format: slack }
  - { name: a, url: "https://x.example/", format: alertmanager }
  - { name: std, url: "https://x.example/", secret: "${WHSEC}" }
`);
    const got = Object.fromEntries(hooks.map((h) => [h.name, [h.group, h.rateLimit]]));
    assert.deepEqual(got, {
      w: [
        { wait: 5000, max: 50 },
        { count: 20, per: 60_000 },
      ],
      d: [
        { wait: 5000, max: 50 },
        { count: 20, per: 60_000 },
      ],
      f: [
        { wait: 5000, max: 50 },
        { count: 5, per: 1000 },
      ],
      s: [
        { wait: 5000, max: 50 },
        { count: 1, per: 1000 },
      ],
      a: [{ wait: 5000, max: 50 }, null],
      std: [{ wait: 0, max: 1 }, null],
    });
  });

  it("takes partial keys over the format's defaults, and false for no limit", () => {
    const [w, s] = webhooks(`
  - { name: w, url: "https://x.example/", format: wecom, group: { max: 10 }, rateLimit: false }
  - name: s
    url: "https://x.example/"
    format: standard
    secret: "${WHSEC}"
    group: { wait: 0s, max: 1 }
    rateLimit: { count: 100, per: 10s }
`);
    assert.deepEqual([w?.group, w?.rateLimit], [{ wait: 5000, max: 10 }, null]);
    assert.deepEqual(
      [s?.group, s?.rateLimit],
      [
        { wait: 0, max: 1 },
        { count: 100, per: 10_000 },
      ],
    );
  });

  it("reports every bad value with its path", () => {
    assert.deepEqual(
      issues(`
  - { name: a, url: "https://x.example/", format: slack, group: { wait: soon, max: 0 }, rateLimit: { count: 0, per: 0s } }
  - { name: b, url: "https://x.example/", secret: "${WHSEC}", group: { max: 5 }, rateLimit: { count: 1, per: 1s, burst: 2 } }
`).sort(),
      [
        "webhooks[0].group.max: must be at least 1",
        "webhooks[0].group.wait: must be a duration such as 30s, 5m, 1h",
        "webhooks[0].rateLimit.count: must be at least 1",
        "webhooks[0].rateLimit.per: must be longer than 0s",
        "webhooks[1].group.max: must be 1 for format standard (one event per request)",
        "webhooks[1].rateLimit.burst: unknown key",
      ].sort(),
    );
  });

  it("check-config prints them as durations, and the printed config loads to the same values", () => {
    const yaml = renderConfigYaml(
      parseConfigText(
        `${BASE}  - { name: w, url: "https://x.example/", format: wecom, group: { wait: 2s }, rateLimit: false }\n`,
        {},
        "t.yaml",
      ).config,
    );
    const doc = parseYaml(yaml) as { webhooks: Array<Record<string, unknown>> };
    assert.deepEqual(doc.webhooks[0]?.group, { wait: "2s", max: 50 });
    assert.equal(doc.webhooks[0]?.rateLimit, false);
    const again = parseConfigText(yaml, {}, "printed.yaml").config.webhooks[0];
    assert.deepEqual([again?.group, again?.rateLimit], [{ wait: 2000, max: 50 }, null]);
  });
});
