/**
 * The auth-kind registry and the one list of credential fields: every kind's credentials are in the
 * list, masked by the kind, redacted by the logger and scrubbed from error text.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { AUTH_KINDS, type AuthConfig, authKindOf } from "../../src/cloud/auth/kinds.js";
import { scrubSecrets } from "../../src/cloud/errors.js";
import { maskConfig } from "../../src/config/mask.js";
import { CONFIG_CREDENTIAL_KEYS, CREDENTIAL_FIELDS, MASK } from "../../src/lib/credential-fields.js";
import { createLogger } from "../../src/lib/logger.js";

/** A valid config of each registered kind, every field set. */
const SAMPLES: Record<AuthConfig["kind"], AuthConfig> = {
  aksk: { kind: "aksk", accessKey: "AK-VALUE-1", secretKey: "SK-VALUE-2", securityToken: "ST-VALUE-3" },
  token: { kind: "token", token: "TOKEN-VALUE-4" },
  password: { kind: "password", domain: "dom", username: "user", password: "PW-VALUE-5" },
  metadata: { kind: "metadata", endpoint: "http://169.254.169.254" },
  agency: {
    kind: "agency",
    domainName: "dom",
    agencyName: "ops",
    duration: "1h" as never,
    source: { kind: "aksk", accessKey: "AK-VALUE-6", secretKey: "SK-VALUE-7" },
  },
};

describe("auth-kind registry", () => {
  it("holds each kind once, and every kind's credential fields are in the one list", () => {
    const kinds = AUTH_KINDS.map((m) => m.kind);
    assert.equal(new Set(kinds).size, kinds.length);
    for (const m of AUTH_KINDS) {
      // metadata holds none in the config; agency's are those of its source.
      if (m.kind !== "metadata" && m.kind !== "agency")
        assert.ok(m.credentialFields.length > 0, `${m.kind} names its credentials`);
      for (const f of m.credentialFields) {
        assert.ok(
          (CONFIG_CREDENTIAL_KEYS as readonly string[]).includes(f),
          `${m.kind}.${f} not in the list`,
        );
        assert.ok(CREDENTIAL_FIELDS.includes(f), `${m.kind}.${f} not redacted`);
      }
    }
  });

  for (const m of AUTH_KINDS) {
    it(`${m.kind}: its schema accepts its config, its mask hides exactly its credentials`, () => {
      const sample = SAMPLES[m.kind];
      assert.ok(sample, `a sample for ${m.kind}`);
      assert.equal(m.schema.safeParse(sample).success, true);
      assert.equal(m.schema.safeParse({ ...sample, extra: 1 }).success, false, "strict");
      assert.equal(authKindOf(sample), m);
      const masked: Record<string, unknown> = { ...m.mask(sample as never) };
      for (const [key, value] of Object.entries(sample)) {
        if (key === "source") {
          assert.deepEqual(masked.source, { kind: "aksk", accessKey: MASK, secretKey: MASK });
          continue;
        }
        const isCredential = (m.credentialFields as readonly string[]).includes(key);
        assert.equal(masked[key], isCredential ? MASK : value, key);
      }
    });
  }

  it("mask leaves an absent optional credential absent", () => {
    const masked = authKindOf(SAMPLES.aksk).mask({ kind: "aksk", accessKey: "a", secretKey: "b" } as never);
    assert.equal("securityToken" in (masked as object), false);
  });

  it("maskConfig masks cloud.auth through the registry", () => {
    const auth = maskConfig({
      cloud: { auth: SAMPLES.password, retry: {} },
      targets: [],
      stuck: { thresholds: {} },
      jobs: { stuck: {} },
      webhooks: [],
      server: {},
    } as never).cloud.auth;
    assert.deepEqual(auth, { kind: "password", domain: "dom", username: "user", password: MASK });
  });
});

describe("credential fields", () => {
  it("the logger redacts every field, at any depth and capitalised", () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString("utf8"));
        cb();
      },
    });
    const log = createLogger({ level: "info", format: "json" }, stream);
    CREDENTIAL_FIELDS.forEach((field, i) => {
      const cap = `${field[0]?.toUpperCase()}${field.slice(1)}`;
      log.info(
        { [field]: `TOP-${i}-X`, a: { b: { [field]: `DEEP-${i}-X` } }, c: { [cap]: `CAP-${i}-X` } },
        "m",
      );
    });
    log.flush?.();
    const out = lines.join("");
    assert.equal(out.split("\n").filter(Boolean).length, CREDENTIAL_FIELDS.length);
    assert.ok(!/(TOP|DEEP|CAP)-\d+-X/.test(out), out);
  });

  it("error text is scrubbed of every field, whether camelCase or snake_case", () => {
    for (const field of CREDENTIAL_FIELDS) {
      const snake = field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      for (const name of [field, snake]) {
        const out = scrubSecrets(`{"${name}": "VALUE-123", "other": "kept"}`);
        assert.ok(!out.includes("VALUE-123"), `${name}: ${out}`);
        assert.match(out, /kept/);
      }
    }
  });
});
