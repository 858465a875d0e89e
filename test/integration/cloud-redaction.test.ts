/**
 * No credential ever reaches a log line or an error message: the client runs at `debug` level into a
 * captured stream through successes, 401s, token refreshes, retries and failures (including a body that
 * echoes a credential back), and every line and message is searched for each secret.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { Agent } from "undici";
import { type CloudClient, createCloudClient } from "../../src/cloud/client.js";
import { toPollError } from "../../src/cloud/errors.js";
import type { AuthConfig, CloudConfig } from "../../src/config/types.js";
import { systemClock } from "../../src/lib/clock.js";
import { createLogger } from "../../src/lib/logger.js";
import { createSimulator } from "../../src/simulator/index.js";

const P = "0123456789abcdef0123456789abcdef";
const AK = "DEMOACCESSKEY0000001";
const SK = "demo-secret-key-0000000000000000000000000";
const PASSWORD = "demo-password";
const WRONG_SK = "wrong-secret-key-1111111111111111111111";
/** IAM tokens of the simulator: MII + 128 base64url characters. */
const TOKEN_PATTERN = /MII[A-Za-z0-9_-]{20,}/;
/** An SDK-HMAC-SHA256 signature: 64 hex characters (request ids are 32). */
const SIGNATURE_PATTERN = /[0-9a-f]{64}/;

describe("secrets never reach logs or errors", () => {
  it("debug logs and error messages hold no AK, SK, password, token or signature", async (t) => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(
          ...String(chunk)
            .split("\n")
            .filter((l) => l !== ""),
        );
        done();
      },
    });
    const logger = createLogger({ level: "debug", format: "json" }, stream);
    const sim = createSimulator();
    const { url } = await sim.start();
    sim.addServer(P, { id: "srv-1", name: "build-1", status: "BUILDING" });
    const dispatcher = new Agent();
    const clients: CloudClient[] = [];
    let staticToken = "";
    t.after(async () => {
      for (const c of clients) await c.close();
      await dispatcher.close();
      await sim.stop();
    });
    const make = (auth: AuthConfig) => {
      const config: CloudConfig = {
        region: "cn-north-4",
        endpoint: url,
        iamEndpoint: url,
        auth,
        requestTimeout: 400,
        maxRequestsPerSecond: 1_000,
        retry: { attempts: 3, minDelay: 5, maxDelay: 20 },
      };
      const c = createCloudClient(config, { clock: systemClock, logger, dispatcher });
      clients.push(c);
      return c;
    };
    const errors: unknown[] = [];
    const attempt = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        errors.push(err);
      }
    };

    const aksk = make({ kind: "aksk", accessKey: AK, secretKey: SK });
    await aksk.getImageServer(P, "srv-1");
    await aksk.listImageServers(P);
    sim.injectFault({ route: "get", status: 503, count: 1 });
    sim.injectFault({ route: "get", reset: true, count: 1 });
    await aksk.getImageServer(P, "srv-1");
    assert.equal((await aksk.getImageServer(P, "no-such-server")).kind, "not_found");
    sim.injectFault({ route: "get", malformedJson: true });
    await attempt(aksk.getImageServer(P, "srv-1"));
    // A body echoing credentials back must not be quoted as it is.
    sim.injectFault({
      route: "get",
      status: 200,
      body: `{"echo": "Authorization: SDK-HMAC-SHA256 Access=${AK}, Signature=${"ab".repeat(32)}", "secret": "${SK}"`,
    });
    await attempt(aksk.getImageServer(P, "srv-1"));
    sim.injectFault({
      route: "get",
      status: 400,
      body: { error_code: "WKS.0001", error_msg: `bad key ${SK}` },
    });
    await attempt(aksk.getImageServer(P, "srv-1"));
    sim.injectFault({ route: "get", bodyDelayMs: 2_000, count: 3 });
    await attempt(make({ kind: "aksk", accessKey: AK, secretKey: SK }).getImageServer(P, "srv-1"));

    await attempt(make({ kind: "aksk", accessKey: AK, secretKey: WRONG_SK }).getImageServer(P, "srv-1"));

    const password = make({ kind: "password", domain: "demo", username: "demo", password: PASSWORD });
    await password.getImageServer(P, "srv-1");
    sim.revokeTokens();
    await password.getImageServer(P, "srv-1");
    sim.injectFault({ route: "get", status: 429, count: 1 });
    await password.listImageServers(P);
    await attempt(
      make({
        kind: "password",
        domain: "demo",
        username: "demo",
        password: "wrong-password-xyz",
      }).getImageServer(P, "srv-1"),
    );

    staticToken = sim.issueToken().token;
    const token = make({ kind: "token", token: staticToken });
    await token.getImageServer(P, "srv-1");
    sim.revokeTokens(staticToken);
    await attempt(token.getImageServer(P, "srv-1"));

    assert.equal(errors.length, 7, `expected failures to inspect, got ${errors.length}`);
    assert.ok(lines.length >= 20, `expected debug lines, got ${lines.length}`);
    assert.ok(
      lines.some((l) => l.includes('"cloud request"')),
      "request lines logged at debug",
    );
    assert.ok(
      lines.some((l) => l.includes("retrying")),
      "retries logged",
    );
    assert.ok(
      lines.some((l) => l.includes("refreshing")),
      "token refresh logged",
    );

    const texts = [
      ...lines.map((l) => ({ where: "log", text: l })),
      ...errors.flatMap((e) => [
        { where: "error message", text: e instanceof Error ? e.message : String(e) },
        { where: "error object", text: JSON.stringify({ ...(e as object) }) },
        { where: "poll error", text: JSON.stringify(toPollError(e)) },
      ]),
    ];
    const secrets = [AK, SK, WRONG_SK, PASSWORD, "wrong-password-xyz", staticToken];
    for (const { where, text } of texts) {
      for (const secret of secrets) assert.ok(!text.includes(secret), `a secret in a ${where}: ${text}`);
      assert.doesNotMatch(text, TOKEN_PATTERN, `a token in a ${where}`);
      assert.doesNotMatch(text, SIGNATURE_PATTERN, `a signature in a ${where}`);
    }
  });
});
