import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyStatus, type Failure } from "../../src/cloud/classify.js";
import { CloudError, excerpt, scrubSecrets, toPollError } from "../../src/cloud/errors.js";
import {
  normaliseStatus,
  parseImageServer,
  parseListPage,
  parseTimestamp,
  ShapeError,
} from "../../src/cloud/parse.js";
import { AppError } from "../../src/lib/errors.js";

describe("parseTimestamp", () => {
  const cases: [string, unknown, number | null][] = [
    ["ISO with Z and millis", "2022-03-07T10:40:43.858Z", Date.UTC(2022, 2, 7, 10, 40, 43, 858)],
    ["zone-less is UTC", "2022-03-07T10:40:43", Date.UTC(2022, 2, 7, 10, 40, 43)],
    ["space instead of T", "2022-03-07 10:40:43.5", Date.UTC(2022, 2, 7, 10, 40, 43, 500)],
    ["offset +08:00", "2022-03-07T18:40:43+08:00", Date.UTC(2022, 2, 7, 10, 40, 43)],
    ["offset -0130", "2022-03-07T09:10:43-0130", Date.UTC(2022, 2, 7, 10, 40, 43)],
    ["microseconds truncated to ms", "2022-03-07T10:40:43.858123Z", Date.UTC(2022, 2, 7, 10, 40, 43, 858)],
    ["no seconds", "2022-03-07T10:40", Date.UTC(2022, 2, 7, 10, 40)],
    ["bare date", "2022-03-07", Date.UTC(2022, 2, 7)],
    ["rolled-over date rejected", "2022-02-30T10:00:00Z", null],
    ["garbage", "yesterday", null],
    ["empty", "", null],
    ["missing", undefined, null],
    ["null", null, null],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => assert.equal(parseTimestamp(input), expected));
  }
});

describe("normaliseStatus", () => {
  it('maps missing, null and the literal "null" to UNKNOWN, keeps everything else', () => {
    assert.equal(normaliseStatus(undefined), "UNKNOWN");
    assert.equal(normaliseStatus(null), "UNKNOWN");
    assert.equal(normaliseStatus("null"), "UNKNOWN");
    assert.equal(normaliseStatus("NULL"), "UNKNOWN");
    assert.equal(normaliseStatus(""), "UNKNOWN");
    assert.equal(normaliseStatus("BUILDING"), "BUILDING");
    assert.equal(normaliseStatus("REBUILDING_SOON"), "REBUILDING_SOON");
  });
});

describe("parseImageServer", () => {
  const full = {
    id: "srv-1",
    name: "build-1",
    status: "BUILT",
    image_ref: { id: "img-ref", image_type: "gold" },
    server_group_id: "sg",
    app_group_id: "ag",
    server_id: "aps-1",
    instance_id: "ecs-1",
    image_id: "img-out",
    create_time: "2022-03-07T10:00:00.000Z",
    update_time: "2022-03-07 10:40:43",
    enterprise_project_id: "0",
    extra_field: { nested: true },
  };

  it("maps every field and keeps the API object, extra fields included, in raw", () => {
    const s = parseImageServer(full);
    assert.deepEqual(
      { ...s, raw: undefined },
      {
        id: "srv-1",
        name: "build-1",
        status: "BUILT",
        updateTime: Date.UTC(2022, 2, 7, 10, 40, 43),
        createTime: Date.UTC(2022, 2, 7, 10, 0, 0),
        imageId: "img-out",
        imageType: "gold",
        serverGroupId: "sg",
        appGroupId: "ag",
        apsServerId: "aps-1",
        instanceId: "ecs-1",
        raw: undefined,
      },
    );
    assert.deepEqual(s.raw, full);
  });

  it("accepts a server with only an id (status UNKNOWN, empty strings, null times)", () => {
    const s = parseImageServer({ id: "x" });
    assert.equal(s.status, "UNKNOWN");
    assert.equal(s.name, "");
    assert.equal(s.updateTime, null);
  });

  it("keeps an unknown status string as it is", () => {
    assert.equal(parseImageServer({ id: "x", status: "FROZEN" }).status, "FROZEN");
  });

  const bad: [string, unknown][] = [
    ["not an object", []],
    ["no id", { name: "a" }],
    ["numeric id", { id: 5 }],
    ["empty id", { id: "" }],
    ["numeric name", { id: "a", name: 42 }],
    ["object status", { id: "a", status: { v: 1 } }],
  ];
  for (const [name, body] of bad) {
    it(`rejects ${name}`, () => assert.throws(() => parseImageServer(body), ShapeError));
  }
});

describe("parseImageServer bounds (the object is stored and serialised whole)", () => {
  const nest = (levels: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < levels; i++) v = [v];
    return v;
  };
  it("accepts nesting to 32 levels below the server object and refuses one more", () => {
    assert.equal(parseImageServer({ id: "a", x: nest(31) }).id, "a");
    assert.throws(() => parseImageServer({ id: "a", x: nest(32) }), ShapeError);
    assert.throws(() => parseImageServer({ id: "a", x: nest(100_000) }), /nested deeper than 32 levels/);
  });
  it("refuses more than 10,000 values", () => {
    // The object, its two keys' values, and n array items.
    assert.equal(parseImageServer({ id: "a", x: Array(9_997).fill(0) }).id, "a");
    assert.throws(() => parseImageServer({ id: "a", x: Array(9_998).fill(0) }), /more than 10000 values/);
  });
  it("refuses more than 1 MiB of keys and strings", () => {
    const room = 1024 * 1024 - "id".length - "a".length - "x".length;
    assert.equal(parseImageServer({ id: "a", x: "y".repeat(room) }).id, "a");
    assert.throws(
      () => parseImageServer({ id: "a", x: "y".repeat(room + 1) }),
      /more than 1048576 characters/,
    );
    assert.throws(() => parseImageServer({ id: "a", ["k".repeat(room + 2)]: 0 }), ShapeError);
  });
});

describe("parseListPage", () => {
  it("reads count and items", () => {
    const page = parseListPage({ count: 3, items: [{ id: "a" }, { id: "b", status: "null" }] });
    assert.equal(page.count, 3);
    assert.deepEqual(
      page.items.map((s) => [s.id, s.status]),
      [
        ["a", "UNKNOWN"],
        ["b", "UNKNOWN"],
      ],
    );
  });
  it("allows a missing count", () => assert.equal(parseListPage({ items: [] }).count, undefined));
  it("rejects a body without an items array", () =>
    assert.throws(() => parseListPage({ total: 1, servers: "none" }), ShapeError));
  it("rejects a negative count", () =>
    assert.throws(() => parseListPage({ count: -1, items: [] }), ShapeError));
  it("rejects the whole page when one item has no id", () =>
    assert.throws(() => parseListPage({ count: 2, items: [{ id: "a" }, { name: "b" }] }), ShapeError));
});

describe("parseListPage with held servers", () => {
  const nest = (levels: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < levels; i++) v = [v];
    return v;
  };
  const answer = () => ({
    id: "a",
    status: "ACTIVE",
    update_time: "2022-03-07T10:40:43.858Z",
    image_ref: { image_type: "gold", tags: [{ k: "x", v: [1, 2] }] },
  });
  const heldA = parseImageServer(answer());
  const page = (...items: unknown[]) =>
    parseListPage({ count: items.length, items }, (id) => (id === "a" ? heldA : undefined));

  it("returns the held object for an unchanged answer, a new one for a new server", () => {
    const [a, b] = page(answer(), { id: "b" }).items;
    assert.equal(a, heldA);
    assert.equal(b?.id, "b");
  });
  it("parses an answer whose nested field changed", () => {
    const changed = answer();
    (changed.image_ref.tags[0] as { v: number[] }).v[1] = 3;
    const [a] = page(changed).items;
    assert.notEqual(a, heldA);
    assert.deepEqual(a?.raw.image_ref, changed.image_ref);
  });
  it("parses an answer with a field added, removed or of another type", () => {
    const { status: _, ...removed } = answer();
    for (const item of [{ ...answer(), extra: 1 }, removed, { ...answer(), image_ref: [] }]) {
      assert.notEqual(page(item).items[0], heldA, JSON.stringify(item));
    }
  });
  it("still refuses a known server's answer that exceeds the bounds", () => {
    assert.throws(() => page({ ...answer(), image_ref: nest(100_000) }), /nested deeper than 32 levels/);
    assert.throws(() => page({ ...answer(), x: "y".repeat(1024 * 1024) }), /more than 1048576 characters/);
  });
});

describe("scrubSecrets / excerpt", () => {
  it("removes known secret values and credential-looking fields", () => {
    const text =
      '{"password":"hunter2","token": "abc.def", "x":"MYSECRETKEY"} Authorization: SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=deadbeef';
    const out = scrubSecrets(text, ["MYSECRETKEY"]);
    for (const secret of ["hunter2", "abc.def", "MYSECRETKEY", "deadbeef", "AK1"]) {
      assert.ok(!out.includes(secret), `${secret} leaked: ${out}`);
    }
  });
  it("cuts excerpts to 200 characters on one line", () => {
    const out = excerpt(`line1\n${"x".repeat(500)}`);
    assert.ok(out.length <= 200);
    assert.ok(!out.includes("\n"));
    assert.ok(out.startsWith("line1 x"));
  });
});

describe("toPollError", () => {
  it("copies a CloudError's outcome and API details", () => {
    const err = new CloudError(classifyStatus(503, "get") as Failure, "GET /x: HTTP 503", {
      httpStatus: 503,
      errorCode: "WKS.0003",
      errorMsg: "down",
      requestId: "rid",
    });
    assert.deepEqual(toPollError(err), {
      kind: "http_5xx",
      http_status: 503,
      error_code: "WKS.0003",
      error_msg: "down",
      request_id: "rid",
    });
  });
  it("maps another AppError by its code, and anything else to network", () => {
    assert.equal(toPollError(new AppError("CLOUD_TIMEOUT", "slow")).kind, "timeout");
    const e = toPollError(new Error('boom {"token":"t0ps3cret"}'));
    assert.equal(e.kind, "network");
    assert.ok(!e.error_msg?.includes("t0ps3cret"));
  });
});
