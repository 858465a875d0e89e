/**
 * The client's default dispatcher: `caFile` trusted for TLS, HTTPS_PROXY/HTTP_PROXY/NO_PROXY taken from
 * the env passed in (never from process.env), keep-alive.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { createCloudClient } from "../../src/cloud/client.js";
import { CloudError } from "../../src/cloud/errors.js";
import { loadConfig } from "../../src/config/load.js";
import type { CloudConfig } from "../../src/config/types.js";
import { systemClock } from "../../src/lib/clock.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator } from "../../src/simulator/index.js";
import { okServer } from "../helpers/cloud-errors.js";
import { startProxy } from "../helpers/proxy.js";

const P = "0123456789abcdef0123456789abcdef";

/** A self-signed certificate for 127.0.0.1 (test only, valid until 2126). */
const CERT = `-----BEGIN CERTIFICATE-----
MIIBnTCCAUKgAwIBAgIUHrsWYSfUxB7UvaGIO5qongukyPEwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPaW1hZ2V3YXRjaC10ZXN0MCAXDTI2MTEyNzEwMDcwMVoYDzIx
MjYxMTAzMTAwNzAxWjAaMRgwFgYDVQQDDA9pbWFnZXdhdGNoLXRlc3QwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAARglSkjdsSpm5Pf8LoMQ+uEtS/sVJ55aFMLX49m
Qgqsjs4sUFwX7Yzqd6OpCiJIQnBDBHWIagV6sZdqfM+l7R2Co2QwYjAdBgNVHQ4E
FgQUvGRbSZYuVCltxix++KxzQZ1rm8gwHwYDVR0jBBgwFoAUvGRbSZYuVCltxix+
+KxzQZ1rm8gwDwYDVR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqG
SM49BAMCA0kAMEYCIQC94r6v9fi4MGDS+QFZe46Cj5/N4RQDQy/Co0egsbbRkgIh
AMJxWJBgZz7W2+ot/BX5929pft/tCK90toII9omS3eDR
-----END CERTIFICATE-----
`;
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUUaxcC2wurv9UMSf
wY86uYtVxCFFQCIYhsek2gAYGQmhRANCAARglSkjdsSpm5Pf8LoMQ+uEtS/sVJ55
aFMLX49mQgqsjs4sUFwX7Yzqd6OpCiJIQnBDBHWIagV6sZdqfM+l7R2C
-----END PRIVATE KEY-----
`;

function config(endpoint: string, extra: Partial<CloudConfig> = {}): CloudConfig {
  return {
    region: "cn-north-4",
    endpoint,
    iamEndpoint: endpoint,
    auth: {
      kind: "aksk",
      accessKey: "DEMOACCESSKEY0000001",
      secretKey: "demo-secret-key-0000000000000000000000000",
    },
    requestTimeout: 3_000,
    maxRequestsPerSecond: 100,
    retry: { attempts: 1, minDelay: 5, maxDelay: 20 },
    ...extra,
  };
}

/** A config file for `endpoint` whose cloud trusts `caFile`; returns its path. */
function writeConfig(t: TestContext, endpoint: string, caFile: string): string {
  const path = join(tempDir(t), "imagewatch.yaml");
  const c = config(endpoint);
  writeFileSync(
    path,
    `cloud:
  endpoint: ${endpoint}
  auth: { kind: aksk, accessKey: ${c.auth.kind === "aksk" ? c.auth.accessKey : ""}, secretKey: ${c.auth.kind === "aksk" ? c.auth.secretKey : ""} }
  retry: { attempts: 1, minDelay: 5ms, maxDelay: 20ms }
  caFile: ${JSON.stringify(caFile)}
targets: [{ projectId: ${P}, serverIds: [srv-1] }]
state: { path: ":memory:" }
`,
  );
  return path;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "imagewatch-cloud-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("caFile", () => {
  async function startTls(t: TestContext): Promise<string> {
    const server = createHttpsServer({ cert: CERT, key: KEY }, (req, res) => {
      res.writeHead(200, { "Content-Type": "application/json", "X-Request-Id": "tls-1" });
      res.end(JSON.stringify({ id: "srv-1", name: "tls", status: "ACTIVE", path: req.url }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    return `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  it("trusts the CA loaded from caFile (and the system CAs still)", async (t) => {
    const url = await startTls(t);
    const caFile = join(tempDir(t), "ca.pem");
    writeFileSync(caFile, CERT);
    const client = createCloudClient(loadConfig(writeConfig(t, url, caFile), {}).config.cloud, {
      clock: systemClock,
      logger: createSilentLogger(),
    });
    t.after(() => client.close());
    const server = await okServer(client.getImageServer(P, "srv-1"));
    assert.equal(server.name, "tls");
  });

  it("without caFile, the self-signed server is refused (CLOUD_NETWORK)", async (t) => {
    const url = await startTls(t);
    const client = createCloudClient(config(url), { clock: systemClock, logger: createSilentLogger() });
    t.after(() => client.close());
    const err = await client.getImageServer(P, "srv-1").catch((e: unknown) => e);
    assert.ok(err instanceof CloudError);
    assert.equal(err.code, "CLOUD_NETWORK");
  });

  it("never reads caFile itself: the bundle read at load is used, so building a client cannot fail on a file", async (t) => {
    const url = await startTls(t);
    const missing = join(tempDir(t), "moved-away.pem");
    const client = createCloudClient(config(url, { caFile: missing, ca: CERT }), {
      clock: systemClock,
      logger: createSilentLogger(),
    });
    t.after(() => client.close());
    const server = await okServer(client.getImageServer(P, "srv-1"));
    assert.equal(server.name, "tls");
  });
});

describe("proxy from the env passed in", () => {
  async function startSim(t: TestContext): Promise<string> {
    const sim = createSimulator();
    const { url } = await sim.start();
    sim.addServer(P, { id: "srv-1", status: "ACTIVE" });
    t.after(() => sim.stop());
    return url;
  }

  it("goes through HTTP_PROXY when the env names one", async (t) => {
    const simUrl = await startSim(t);
    const proxy = await startProxy(t);
    const client = createCloudClient(config(simUrl), {
      clock: systemClock,
      logger: createSilentLogger(),
      env: { HTTP_PROXY: proxy.url },
    });
    t.after(() => client.close());
    assert.equal((await okServer(client.getImageServer(P, "srv-1"))).id, "srv-1");
    assert.deepEqual(proxy.targets, [new URL(simUrl).host]);
  });

  it("NO_PROXY exempts a host", async (t) => {
    const simUrl = await startSim(t);
    const proxy = await startProxy(t);
    const client = createCloudClient(config(simUrl), {
      clock: systemClock,
      logger: createSilentLogger(),
      env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1" },
    });
    t.after(() => client.close());
    assert.equal((await okServer(client.getImageServer(P, "srv-1"))).id, "srv-1");
    assert.deepEqual(proxy.targets, []);
  });

  it("without a proxy in the env passed in, connects directly", async (t) => {
    const simUrl = await startSim(t);
    const proxy = await startProxy(t);
    const client = createCloudClient(config(simUrl), {
      clock: systemClock,
      logger: createSilentLogger(),
      env: {},
    });
    t.after(() => client.close());
    assert.equal((await okServer(client.getImageServer(P, "srv-1"))).id, "srv-1");
    assert.deepEqual(proxy.targets, []);
  });
});
