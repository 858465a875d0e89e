/**
 * Builders for observe() tests: API objects, poll results, and a runner that feeds a timeline of polls
 * through observe(), optionally "restarting" (serialising the state through JSON) between polls.
 */
import { type ObserveConfig, observe } from "../../src/domain/observe.js";
import type {
  DomainEvent,
  ImageServer,
  PollError,
  ServerPollResult,
  ServerState,
} from "../../src/domain/types.js";

export const PROJECT = "0123456789abcdef0123456789abcdef";
export const SERVER = "4b1a2c3d-0000-1111-2222-333344445555";
export const T0 = Date.parse("2026-11-27T10:00:00.000Z");
export const SEC = 1000;
export const MIN = 60 * SEC;

export const CONFIG: ObserveConfig = {
  thresholds: { CREATING: 60 * MIN, BUILDING: 60 * MIN, DELETING: 20 * MIN },
  repeatEvery: 0,
  pollFailureThreshold: 3,
};

/** An image server as the cloud client would return it. `updateTime` in ms or null. */
export function imageServer(
  status: string,
  updateTime: number | null,
  over: Partial<ImageServer> = {},
  id = SERVER,
): ImageServer {
  const raw: Record<string, unknown> = {
    id,
    name: over.name ?? "build-1",
    status,
    update_time: updateTime === null ? null : new Date(updateTime).toISOString(),
    create_time: "2026-11-27T08:00:00.000Z",
  };
  return {
    id,
    name: "build-1",
    status,
    updateTime,
    createTime: Date.parse("2026-11-27T08:00:00.000Z"),
    imageId: "",
    imageType: "private",
    serverGroupId: "sg-1",
    appGroupId: "ag-1",
    apsServerId: "aps-1",
    instanceId: "ecs-1",
    raw,
    ...over,
  };
}

export function ok(
  status: string,
  updateTime: number | null,
  over: Partial<ImageServer> = {},
): ServerPollResult {
  return { kind: "ok", server: imageServer(status, updateTime, over) };
}

export const NOT_FOUND: ServerPollResult = { kind: "not_found", requestId: "req-404" };

export const ERROR_503: PollError = {
  kind: "http_5xx",
  http_status: 503,
  error_code: "WKS.0001",
  error_msg: "service unavailable",
  request_id: "req-503",
};

export function failed(error: PollError = ERROR_503): ServerPollResult {
  return { kind: "failed", error };
}

/** One poll of a timeline: when it happens and what it returned. */
export interface Step {
  at: number;
  result: ServerPollResult;
}

export interface RunOptions {
  config?: ObserveConfig;
  /** Serialise the state through JSON between every two polls, as a restart through the store would. */
  restart?: boolean;
  serverId?: string;
  start?: ServerState;
}

export interface RunResult {
  state: ServerState;
  /** Events of each step, in order. */
  perStep: DomainEvent[][];
  all: DomainEvent[];
  states: ServerState[];
}

/** Feeds `steps` through observe(). */
export function run(steps: readonly Step[], opts: RunOptions = {}): RunResult {
  const config = opts.config ?? CONFIG;
  const serverId = opts.serverId ?? SERVER;
  let state: ServerState | undefined = opts.start;
  const perStep: DomainEvent[][] = [];
  const states: ServerState[] = [];
  for (const step of steps) {
    if (opts.restart && state) state = JSON.parse(JSON.stringify(state)) as ServerState;
    const out = observe(state, step.result, { projectId: PROJECT, serverId, now: step.at, config });
    state = out.state;
    perStep.push(out.events);
    states.push(out.state);
  }
  if (!state) throw new Error("run: no steps");
  return { state, perStep, all: perStep.flat(), states };
}

/** Event types without the `image_server.` prefix, per step. */
export function names(perStep: DomainEvent[][]): string[][] {
  return perStep.map((events) => events.map((e) => e.type.replace(/^image_server\./, "")));
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
