import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { settleAll, settleLimit } from "../../src/lib/concurrency.js";
import { formatDuration, formatHumanDuration, parseDuration } from "../../src/lib/duration.js";
import { AppError, ConfigError, coerceError, formatIssuePath } from "../../src/lib/errors.js";
import { HEAP_GROWING_PERCENT, heapFlags, SEMI_SPACE_GROWTH_FACTOR } from "../../src/lib/heap.js";
import { toIsoOrNull } from "../../src/lib/iso.js";
import { createLogger } from "../../src/lib/logger.js";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  return { lines, stream };
}

describe("durations", () => {
  const cases: Array<[string, number | undefined]> = [
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["14d", 1_209_600_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1500],
    ["0", 0],
    ["0s", 0],
    ["", undefined],
    ["30", undefined],
    ["5 m", undefined],
    ["-5m", undefined],
    ["1w", undefined],
  ];
  for (const [text, ms] of cases) {
    it(`parses ${JSON.stringify(text)} as ${ms}`, () => assert.equal(parseDuration(text), ms));
  }
  it("formats back the way the config writes them", () => {
    assert.equal(formatDuration(90_000), "1m30s");
    assert.equal(formatDuration(0), "0s");
    assert.equal(formatDuration(1_209_600_000), "14d");
    assert.equal(formatDuration(250), "250ms");
  });
});

describe("human durations and instants", () => {
  it("formats a time in status with its two largest units", () => {
    assert.equal(formatHumanDuration(2 * 86_400_000 + 3 * 3_600_000 + 59_000), "2d 3h");
    assert.equal(formatHumanDuration(14 * 60_000 + 5_000), "14m 5s");
    assert.equal(formatHumanDuration(3_600_000), "1h 0m");
    assert.equal(formatHumanDuration(-1), "0s");
  });

  it("formats ms since the epoch as ISO 8601, null and non-finite as null", () => {
    assert.equal(toIsoOrNull(Date.UTC(2026, 10, 27, 9)), "2026-11-27T09:00:00.000Z");
    assert.equal(toIsoOrNull(null), null);
    assert.equal(toIsoOrNull(Number.NaN), null);
  });
});

describe("errors", () => {
  it("formats an issue path the way config errors name it", () => {
    assert.equal(formatIssuePath(["webhooks", 1, "url"]), "webhooks[1].url");
    assert.equal(formatIssuePath([0, "after"]), "[0].after");
    assert.equal(formatIssuePath([]), "");
  });

  it("coerces anything thrown into an Error", () => {
    assert.equal(coerceError("boom").message, "boom");
    assert.match(coerceError({ a: 1 }).message, /\{"a":1\}/);
    const e = new Error("x");
    assert.equal(coerceError(e), e);
  });
  it("ConfigError lists every issue with its path", () => {
    const err = new ConfigError([
      { path: "webhooks[1].url", message: "must be http(s) URL" },
      { path: "", message: "file missing" },
    ]);
    assert.equal(err.code, "CONFIG_INVALID");
    assert.equal(err.message, "webhooks[1].url: must be http(s) URL\nfile missing");
    assert.ok(err instanceof AppError);
  });
});

describe("logger", () => {
  it("redacts credential fields and headers at every depth, in json and pretty formats", () => {
    for (const format of ["json", "pretty"] as const) {
      const { lines, stream } = capture();
      const log = createLogger({ level: "debug", format }, stream);
      log.info(
        {
          secretKey: "SK-SECRET-1",
          auth: { password: "PW-SECRET-2", token: "TOKEN-SECRET-3" },
          req: {
            headers: {
              authorization: "Bearer AUTH-SECRET-4",
              "x-auth-token": "XAT-SECRET-5",
              accept: "json",
            },
          },
          deep: { a: { b: { accessKey: "AK-SECRET-6" } } },
          headers: { "x-subject-token": "SUBJ-SECRET-7", "x-security-token": "SEC-SECRET-8" },
        },
        "something",
      );
      log.flush?.();
      const out = lines.join("\n");
      assert.match(out, /something/);
      for (const s of [
        "SK-SECRET-1",
        "PW-SECRET-2",
        "TOKEN-SECRET-3",
        "AUTH-SECRET-4",
        "XAT-SECRET-5",
        "AK-SECRET-6",
        "SUBJ-SECRET-7",
        "SEC-SECRET-8",
      ]) {
        assert.ok(!out.includes(s), `${format}: ${s} leaked`);
      }
      assert.match(out, /\[redacted\]/);
      assert.match(out, /json/, "non-secret fields are kept");
    }
  });
});

describe("heapFlags", () => {
  const growing = `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
  const semi = `--semi-space-growth-factor=${SEMI_SPACE_GROWTH_FACTOR}`;
  it("sets V8's old-space growing factor and young-space growth factor unless the operator chose them", () => {
    assert.deepEqual(heapFlags([], undefined), [growing, semi]);
    assert.deepEqual(heapFlags(["--max-old-space-size=512"], "--enable-source-maps"), [growing, semi]);
    assert.deepEqual(heapFlags(["--heap-growing-percent=50"], undefined), [semi]);
    assert.deepEqual(heapFlags([], "--enable-source-maps --heap_growing_percent=10"), [semi]);
  });

  it("leaves the young generation alone when any semi-space flag was given", () => {
    for (const own of [
      "--max-semi-space-size=8",
      "--min_semi_space_size=2",
      "--semi-space-growth-factor=2",
    ]) {
      assert.deepEqual(heapFlags([own], undefined), [growing], own);
      assert.deepEqual(heapFlags([], own), [growing], own);
    }
  });
});

describe("settleAll", () => {
  it("gives every value in order", async () => {
    assert.deepEqual(await settleAll([Promise.resolve(1), Promise.resolve(2)]), [1, 2]);
  });

  it("rejects with the first rejection only after every promise settled", async () => {
    let lateDone = false;
    let release: () => void = () => {};
    const late = new Promise<number>((resolve) => {
      release = () => {
        lateDone = true;
        resolve(3);
      };
    });
    const all = settleAll<number>([
      Promise.reject(new Error("first")),
      late,
      Promise.reject(new Error("second")),
    ]);
    let settled = false;
    all.catch(() => {
      settled = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, "still waiting for the one in flight");
    release();
    await assert.rejects(all, /first/);
    assert.ok(lateDone);
  });
});

describe("settleLimit", () => {
  /** A call per item that waits until released; records when each started. */
  function gated() {
    const started: number[] = [];
    const gates = new Map<number, { resolve: (v: string) => void; reject: (e: Error) => void }>();
    const fn = (item: number) =>
      new Promise<string>((resolve, reject) => {
        started.push(item);
        gates.set(item, { resolve, reject });
      });
    const tick = () => new Promise((r) => setImmediate(r));
    return { started, gates, fn, tick };
  }

  it("keeps at most `limit` calls in flight and gives the results in the order of the items", async () => {
    const { started, gates, fn, tick } = gated();
    const all = settleLimit([1, 2, 3, 4, 5], 2, fn);
    await tick();
    assert.deepEqual(started, [1, 2]);
    gates.get(2)?.resolve("two");
    await tick();
    assert.deepEqual(started, [1, 2, 3], "one ended, one more began");
    for (const i of [1, 3]) gates.get(i)?.resolve(String(i));
    await tick();
    for (const i of [4, 5]) gates.get(i)?.resolve(String(i));
    assert.deepEqual(await all, ["1", "two", "3", "4", "5"]);
  });

  it("after a failure starts nothing new, waits for the calls in flight, then throws the first failure", async () => {
    const { started, gates, fn, tick } = gated();
    const all = settleLimit([1, 2, 3, 4], 2, fn);
    let settled = false;
    all.catch(() => {
      settled = true;
    });
    await tick();
    gates.get(2)?.reject(new Error("two failed"));
    await tick();
    assert.deepEqual(started, [1, 2], "nothing started after the failure");
    assert.equal(settled, false, "still waiting for 1, in flight");
    gates.get(1)?.reject(new Error("one failed"));
    await assert.rejects(all, /one failed/, "the first in item order");
  });

  it("with no items gives none", async () => {
    assert.deepEqual(await settleLimit([], 4, async () => 1), []);
  });
});
