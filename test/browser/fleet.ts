/**
 * A real daemon in-process (createApp) on the simulator with a fleet that shows every kind of row of the
 * status page: a server whose polls fail, one that went into ERROR, a stuck one, a finished build and a
 * steady one, plus a webhook that dead-letters. Used by the browser tests and `npm run screenshots`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type App, createApp } from "../../src/app.js";
import { parseConfigText } from "../../src/config/load.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { waitFor } from "../helpers/daemon.js";
import { type Receiver, startReceiver } from "../helpers/receiver.js";
import { configYaml, PROJECT } from "../helpers/world.js";

/** The project of the failing server: alone in its target, it is polled with a GET a fault can hit. */
export const OTHER_PROJECT = "fedcba9876543210fedcba9876543210";

/** The fleet's server ids, by role. */
export const FLEET = {
  failing: "srv-flaky",
  error: "srv-broken",
  stuck: "srv-stuck",
  built: "srv-quick",
  steady: "srv-golden",
} as const;

/** The running fleet; `close()` stops everything and removes its directory. */
export interface Fleet {
  app: App;
  sim: Simulator;
  receiver: Receiver;
  url: string;
  token: string | undefined;
  close(): Promise<void>;
}

/** Starts the fleet and waits until every row is in its final state (failing, ERROR, stuck, built). */
export async function startFleet(opts: { token?: string; extra?: string } = {}): Promise<Fleet> {
  const sim = createSimulator();
  const { url: simUrl } = await sim.start();
  const receiver = await startReceiver({ respond: () => ({ status: 400, body: "rejected" }) });
  const dir = mkdtempSync(join(tmpdir(), "imagewatch-fleet-"));
  let app: App | undefined;
  try {
    sim.addServer(OTHER_PROJECT, {
      id: FLEET.failing,
      name: "build-flaky",
      status: "BUILDING",
      update_time: "-1m",
    });
    sim.addServer(PROJECT, {
      id: FLEET.error,
      name: "build-broken <b>",
      status: "BUILDING",
      update_time: "-3m",
      timeline: [{ after: "1s", status: "ERROR" }],
    });
    sim.addServer(PROJECT, { id: FLEET.stuck, name: "build-stuck", status: "BUILDING", update_time: "-25m" });
    sim.addServer(PROJECT, {
      id: FLEET.built,
      name: "build-quick",
      status: "BUILDING",
      update_time: "-12m",
      timeline: [{ after: "1s", status: "BUILT" }],
    });
    sim.addServer(PROJECT, { id: FLEET.steady, name: "golden-image", status: "BUILT", update_time: "-3h" });
    const ids = Object.values(FLEET)
      .filter((id) => id !== FLEET.failing)
      .join(", ");
    const loaded = parseConfigText(
      configYaml(simUrl, {
        statePath: join(dir, "state.db"),
        target: `{ projectId: ${PROJECT}, serverIds: [${ids}] }\n  - { projectId: ${OTHER_PROJECT}, serverIds: [${FLEET.failing}] }`,
        extra: [
          `server: { listen: "127.0.0.1:0"${opts.token ? `, bearerToken: ${JSON.stringify(opts.token)}` : ""} }`,
          "schedule: { interval: 1s, steadyInterval: 1s }",
          "stuck: { BUILDING: 20m }",
          `webhooks: [{ name: ops, url: "${receiver.url}", format: standard, secret: "whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}" }]`,
          opts.extra ?? "",
        ].join("\n"),
      }),
      {},
      "fleet.yaml",
    );
    app = createApp(loaded, { logger: createSilentLogger(), env: {} });
    const { url } = await app.start();
    const a = app;
    const state = (id: string) => a.states.all().find((s) => s.serverId === id);
    await waitFor(() => a.isReady(), "the first poll", 60_000);
    sim.injectFault({ route: "get", serverId: FLEET.failing, status: 500, count: 1_000_000 });
    const describe = () =>
      JSON.stringify(a.states.all().map((s) => [s.serverId, s.status, s.lastPollOk, s.stuck]));
    await waitFor(
      () =>
        state(FLEET.failing)?.lastPollOk === false &&
        state(FLEET.error)?.status === "ERROR" &&
        state(FLEET.built)?.status === "BUILT" &&
        state(FLEET.stuck)?.stuck === true &&
        a.store.listEvents(1, { state: "dead" }).length > 0,
      "the fleet's final states",
      90_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; states: ${describe()}`);
    });
    return {
      app: a,
      sim,
      receiver,
      url,
      token: opts.token,
      async close() {
        await a.stop();
        await sim.stop();
        await receiver.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await app?.stop();
    await sim.stop();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
