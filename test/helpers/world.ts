/**
 * An in-process world for poller tests: the simulator on 127.0.0.1:0 and a real SQLite file, driven by
 * one manual clock shared by the simulator, the cloud client and the poller.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCloudClient } from "../../src/cloud/client.js";
import { parseConfigText } from "../../src/config/load.js";
import type { Config, TargetConfig } from "../../src/config/types.js";
import type { TargetMemory } from "../../src/domain/poll-plan.js";
import type { DomainEvent } from "../../src/domain/types.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { JobBook } from "../../src/poller/job-book.js";
import { pollTarget, ServerStates, TargetStates } from "../../src/poller/poll-target.js";
import { createScheduler, type Scheduler } from "../../src/poller/scheduler.js";
import { createSimulator, type Simulator, type SimulatorOptions } from "../../src/simulator/index.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import type { Store } from "../../src/store/types.js";
import { createManualClock, type ManualClock } from "./manual-clock.js";

export const PROJECT = "0123456789abcdef0123456789abcdef";
export const AK = "DEMOACCESSKEY0000001";
export const SK = "demo-secret-key-0000000000000000000000000";

/** The YAML of a config pointing at `simUrl`; `extra` is appended verbatim (top-level keys). */
export function configYaml(
  simUrl: string,
  opts: { statePath: string; target: string; extra?: string },
): string {
  return `
cloud:
  region: cn-north-4
  endpoint: ${simUrl}
  iamEndpoint: ${simUrl}
  auth: { kind: aksk, accessKey: ${AK}, secretKey: ${SK} }
  requestTimeout: 5s
  maxRequestsPerSecond: 1000
  retry: { attempts: 1, minDelay: 10ms, maxDelay: 20ms }
targets:
  - ${opts.target}
state: { path: ${JSON.stringify(opts.statePath)} }
${opts.extra ?? ""}
`;
}

export interface World {
  clock: ManualClock;
  sim: Simulator;
  simUrl: string;
  dir: string;
  statePath: string;
  config: Readonly<Config>;
  store: Store;
  states: ServerStates;
  /** Target health, reloaded from the store by `restart`. */
  targets: TargetStates;
  /** Job records and cursors, read again from the store after `restart`. */
  jobBook: JobBook;
  /** Polls one target (the first by default) once, forced unless told otherwise. */
  poll(force?: boolean, targetIndex?: number): ReturnType<typeof pollTarget>;
  /** A scheduler on the world's clock whose ticks poll the world's targets (the start-up poll forced). */
  scheduler(): Scheduler;
  /** Every stored event, oldest first. */
  events(): DomainEvent[];
  /** Closes the store and opens it again, with the states reloaded (a daemon restart). */
  restart(): void;
  /** Closes everything and removes the world's directory. */
  close(): Promise<void>;
}

export async function createWorld(opts: {
  target: string;
  extra?: string;
  scenario?: SimulatorOptions["scenario"];
}): Promise<World> {
  const clock = createManualClock("2026-11-27T10:00:00.000Z");
  const sim = createSimulator({ clock, scenario: opts.scenario });
  const { url } = await sim.start();
  const dir = mkdtempSync(join(tmpdir(), "imagewatch-world-"));
  const statePath = join(dir, "state.db");
  const { config } = parseConfigText(
    configYaml(url, { statePath, target: opts.target, extra: opts.extra }),
    {},
    "world.yaml",
  );
  const logger = createSilentLogger();
  const cloud = createCloudClient(config.cloud, { clock, logger, sleep: async () => {} });
  let store = openSqliteStore(statePath, { clock, logger });
  let states = new ServerStates();
  let targets = new TargetStates();
  let jobBook = new JobBook(store);
  const memory = new Map<string, TargetMemory>();
  // One poll of `target` with the world's current store and states (both change at `restart()`).
  const pollOnce = (target: TargetConfig, force: boolean) =>
    pollTarget(target, {
      cloud,
      store,
      states,
      targets,
      jobBook,
      clock,
      logger,
      config: () => config,
      memory,
      force,
    });
  const world: World = {
    clock,
    sim,
    simUrl: url,
    dir,
    statePath,
    config,
    get store() {
      return store;
    },
    get states() {
      return states;
    },
    get targets() {
      return targets;
    },
    get jobBook() {
      return jobBook;
    },
    poll(force = true, targetIndex = 0) {
      const target = config.targets[targetIndex];
      if (!target) throw new Error("no target");
      return pollOnce(target, force);
    },
    scheduler() {
      const { interval, concurrency } = config.schedule;
      return createScheduler(
        { targets: config.targets, interval, concurrency },
        {
          logger,
          clock,
          timers: clock,
          poll: pollOnce,
        },
      );
    },
    events() {
      return store.listEvents(100_000).reverse();
    },
    restart() {
      store.close();
      store = openSqliteStore(statePath, { clock, logger });
      states = new ServerStates();
      for (const s of store.loadServers()) states.set(s);
      targets = new TargetStates();
      for (const t of store.loadTargets()) targets.set(t);
      jobBook = new JobBook(store);
      memory.clear();
    },
    async close() {
      store.close();
      await cloud.close();
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}
