import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  EMPTY_BODY_SHA256,
  encodeRfc3986,
  formatSdkDate,
  parseAuthorization,
  parseSdkDate,
  signRequest,
  stringToSign,
  verifySignature,
} from "../../src/cloud/signer.js";

const V_NOW = Date.UTC(2006, 0, 2, 15, 4, 5);
const V_CREDS = { accessKey: "AccessKey", secretKey: "SecretKey" };

describe("signRequest reproduces the published vectors (API §4)", () => {
  it("V1: GET with a query, only x-sdk-date signed", () => {
    const headers = signRequest(
      { method: "GET", url: "https://example.huaweicloud.com/path?limit=1", headers: {} },
      V_CREDS,
      { now: V_NOW, signedHeaders: ["X-Sdk-Date"] },
    );
    assert.equal(
      headers.Authorization,
      "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624",
    );
    assert.equal(headers["X-Sdk-Date"], "20060102T150405Z");
    assert.equal(headers.Host, "example.huaweicloud.com");
  });

  it("V1: canonical request text exactly as printed", () => {
    const text = canonicalRequest({
      method: "GET",
      url: "https://example.huaweicloud.com/path?limit=1",
      headers: { "X-Sdk-Date": "20060102T150405Z" },
      signedHeaders: ["X-Sdk-Date"],
    });
    assert.equal(
      text,
      "GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\nx-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    assert.match(stringToSign(text, "20060102T150405Z"), /^SDK-HMAC-SHA256\n20060102T150405Z\n[0-9a-f]{64}$/);
  });

  it("V2: POST with a JSON body ending in a newline", () => {
    const headers = signRequest(
      {
        method: "POST",
        url: "https://example.huaweicloud.com/path?key=value",
        headers: {},
        body: '{"Name":"test","Id":1}\n',
      },
      V_CREDS,
      { now: V_NOW, signedHeaders: ["x-sdk-date"] },
    );
    assert.equal(
      headers.Authorization,
      "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature=cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59",
    );
  });

  it("V2: a Uint8Array body signs like the same string", () => {
    const asBytes = signRequest(
      {
        method: "POST",
        url: "https://example.huaweicloud.com/path?key=value",
        headers: {},
        body: new TextEncoder().encode('{"Name":"test","Id":1}\n'),
      },
      V_CREDS,
      { now: V_NOW, signedHeaders: ["x-sdk-date"] },
    );
    assert.match(
      asBytes.Authorization ?? "",
      /Signature=cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59$/,
    );
  });

  it("V3: content-type, host and x-sdk-date signed", () => {
    const headers = signRequest(
      {
        method: "GET",
        url: "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
        headers: { "Content-Type": "application/json" },
      },
      { accessKey: "QTWAOYTTINDUT2QVKYUC", secretKey: "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc" },
      { now: Date.UTC(2019, 10, 15, 3, 36, 55) },
    );
    assert.equal(
      headers.Authorization,
      "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe",
    );
    assert.equal(headers["Content-Type"], "application/json");
  });
});

describe("signRequest adds the headers it must sign", () => {
  it("adds X-Project-Id and X-Security-Token and signs them by default", () => {
    const headers = signRequest(
      {
        method: "GET",
        url: "http://127.0.0.1:9479/v1/p/image-servers",
        headers: { Accept: "application/json" },
      },
      { accessKey: "AK", secretKey: "SK", securityToken: "sts-token" },
      { now: V_NOW, projectId: "p" },
    );
    assert.equal(headers["X-Project-Id"], "p");
    assert.equal(headers["X-Security-Token"], "sts-token");
    assert.equal(headers.Host, "127.0.0.1:9479");
    const parsed = parseAuthorization(headers.Authorization ?? "");
    assert.deepEqual(parsed?.signedHeaders, [
      "accept",
      "host",
      "x-project-id",
      "x-sdk-date",
      "x-security-token",
    ]);
  });

  it("always signs x-sdk-date and replaces a stale Authorization", () => {
    const headers = signRequest(
      {
        method: "GET",
        url: "https://h/p",
        headers: { authorization: "old", "x-sdk-date": "19990101T000000Z" },
      },
      V_CREDS,
      { now: V_NOW, signedHeaders: ["host"] },
    );
    assert.equal(headers.authorization, undefined);
    assert.equal(headers["x-sdk-date"], undefined);
    assert.equal(headers["X-Sdk-Date"], "20060102T150405Z");
    assert.deepEqual(parseAuthorization(headers.Authorization ?? "")?.signedHeaders, ["host", "x-sdk-date"]);
  });
});

describe("encoding and canonical forms", () => {
  const cases: Array<[string, string, string]> = [
    ["space", "a b", "a%20b"],
    ["unreserved literal", "AZaz09-_.~", "AZaz09-_.~"],
    ["reserved", "!*'();:@&=+$,/?#[]", "%21%2A%27%28%29%3B%3A%40%26%3D%2B%24%2C%2F%3F%23%5B%5D"],
    ["unicode", "é中", "%C3%A9%E4%B8%AD"],
    ["percent", "100%", "100%25"],
  ];
  for (const [name, input, expected] of cases) {
    it(`encodeRfc3986: ${name}`, () => assert.equal(encodeRfc3986(input), expected));
  }

  it("canonical URI encodes each decoded segment and ends in /", () => {
    assert.equal(canonicalUri("/v1/a b/c~d"), "/v1/a%20b/c~d/");
    assert.equal(canonicalUri("/v1/a%20b/"), "/v1/a%20b/");
    assert.equal(canonicalUri("/v1/%E4%B8%AD"), "/v1/%E4%B8%AD/");
    assert.equal(canonicalUri("/"), "/");
    assert.equal(canonicalUri(""), "/");
  });

  it("canonical query sorts names then values, repeats names, encodes both", () => {
    assert.equal(canonicalQuery("?b=2&a=z&a=y&c"), "a=y&a=z&b=2&c=");
    assert.equal(canonicalQuery("?server_name=build%20one&x=%7E"), "server_name=build%20one&x=~");
    assert.equal(canonicalQuery("?name=%C3%A9"), "name=%C3%A9");
    assert.equal(canonicalQuery(""), "");
  });

  it("formats and parses X-Sdk-Date", () => {
    assert.equal(formatSdkDate(Date.UTC(2006, 0, 2, 15, 4, 5, 999)), "20060102T150405Z");
    assert.equal(parseSdkDate("20060102T150405Z"), Date.UTC(2006, 0, 2, 15, 4, 5));
    assert.equal(parseSdkDate("2006-01-02T15:04:05Z"), undefined);
    assert.equal(parseSdkDate("20060231T150405Z"), undefined);
    assert.equal(parseSdkDate("20060102T250405Z"), undefined);
  });

  it("hashes the empty body to the known constant", () => {
    const text = canonicalRequest({ method: "get", url: "/x", headers: {}, signedHeaders: [] });
    assert.ok(text.startsWith("GET\n/x/\n"));
    assert.ok(text.endsWith(`\n${EMPTY_BODY_SHA256}`));
  });
});

describe("verifySignature", () => {
  const creds = { accessKey: "DEMOAK", secretKey: "demo-sk" };
  const lookup = (ak: string) => (ak === creds.accessKey ? creds.secretKey : undefined);
  const now = Date.UTC(2026, 10, 27, 10, 0, 0);
  const body = Buffer.from('{"a":1}');

  function signed(extra: Record<string, string> = {}) {
    const headers = signRequest(
      {
        method: "POST",
        url: "http://127.0.0.1:8080/v1/proj/image-servers?limit=5&server_name=a%20b",
        headers: { "Content-Type": "application/json", ...extra },
        body,
      },
      creds,
      { now, projectId: "proj" },
    );
    const lower: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
    return { method: "POST", url: "/v1/proj/image-servers?limit=5&server_name=a%20b", headers: lower };
  }

  it("accepts a request signed with signRequest", () => {
    const verdict = verifySignature(signed(), body, lookup, now);
    assert.equal(verdict.ok, true);
    assert.equal(verdict.ok && verdict.accessKey, "DEMOAK");
  });

  it("accepts a date within 15 minutes either way", () => {
    assert.equal(verifySignature(signed(), body, lookup, now + 14 * 60_000).ok, true);
    assert.equal(verifySignature(signed(), body, lookup, now - 14 * 60_000).ok, true);
  });

  const tampered: Array<[string, (r: ReturnType<typeof signed>) => void, string, Buffer?]> = [
    [
      "path",
      (r) => {
        r.url = "/v1/other/image-servers?limit=5&server_name=a%20b";
      },
      "mismatch",
    ],
    [
      "query",
      (r) => {
        r.url = "/v1/proj/image-servers?limit=6&server_name=a%20b";
      },
      "mismatch",
    ],
    [
      "header value",
      (r) => {
        r.headers["x-project-id"] = "other";
      },
      "mismatch",
    ],
    [
      "method",
      (r) => {
        r.method = "PUT";
      },
      "mismatch",
    ],
    ["body", () => undefined, "mismatch", Buffer.from('{"a":2}')],
    [
      "missing signed header",
      (r) => {
        delete r.headers["content-type"];
      },
      "malformed",
    ],
    [
      "no authorization",
      (r) => {
        delete r.headers.authorization;
      },
      "missing",
    ],
    [
      "garbage authorization",
      (r) => {
        r.headers.authorization = "Bearer x";
      },
      "malformed",
    ],
  ];
  for (const [name, mutate, kind, otherBody] of tampered) {
    it(`rejects a tampered ${name}`, () => {
      const req = signed();
      mutate(req);
      const verdict = verifySignature(req, otherBody ?? body, lookup, now);
      assert.equal(verdict.ok, false);
      assert.equal(!verdict.ok && verdict.kind, kind);
    });
  }

  it("rejects a date older or newer than 15 minutes as expired", () => {
    for (const at of [now + 15 * 60_000 + 1000, now - 15 * 60_000 - 1000]) {
      const verdict = verifySignature(signed(), body, lookup, at);
      assert.equal(!verdict.ok && verdict.kind, "expired");
    }
  });

  it("rejects a wrong secret key and an unknown access key", () => {
    const wrong = verifySignature(signed(), body, () => "not-the-sk", now);
    assert.equal(!wrong.ok && wrong.kind, "mismatch");
    const unknown = verifySignature(signed(), body, () => undefined, now);
    assert.equal(!unknown.ok && unknown.kind, "unknown_key");
  });

  it("requires x-sdk-date among the signed headers", () => {
    const req = signed();
    req.headers.authorization = (req.headers.authorization ?? "").replace(
      /SignedHeaders=[^,]+/,
      "SignedHeaders=host",
    );
    const verdict = verifySignature(req, body, lookup, now);
    assert.equal(!verdict.ok && verdict.kind, "malformed");
  });

  it("never puts the signature or secret in the reason", () => {
    const req = signed();
    const verdict = verifySignature(req, body, () => "not-the-sk", now);
    assert.ok(!verdict.ok);
    assert.ok(!verdict.reason.includes("not-the-sk"));
    assert.ok(
      !verdict.reason.includes(parseAuthorization(req.headers.authorization ?? "")?.signature ?? "zz"),
    );
  });
});
