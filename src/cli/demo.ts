/**
 * `imagewatch demo` (= `npm start`): the simulator on config/demo-scenario.yaml, the daemon on
 * config/demo.yaml, and a local receiver that verifies each webhook's signature and prints it as one line.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { type App, createApp } from "../app.js";
import { loadConfig } from "../config/load.js";
import type { Clock, Timers } from "../lib/clock.js";
import { formatHumanDuration } from "../lib/duration.js";
import { coerceError, ExitCode } from "../lib/errors.js";
import { createLogger } from "../lib/logger.js";
import { createSimulator, loadScenario } from "../simulator/index.js";
import type { Command, CommandContext } from "./context.js";
import { parseCommandArgs, writeLine } from "./context.js";

const USAGE = `Usage: imagewatch demo [--config FILE] [--scenario FILE]

Runs the built-in simulator, the daemon and a webhook receiver that prints every event it verifies.
  --config FILE     daemon config (default: config/demo.yaml)
  --scenario FILE   simulator scenario (default: config/demo-scenario.yaml)
Ports: daemon $IMAGEWATCH_DEMO_PORT (9478), simulator $IMAGEWATCH_DEMO_SIM_PORT (9479),
receiver $IMAGEWATCH_DEMO_RECEIVER_PORT (9480). Stop with Ctrl-C.`;

/** A duration in seconds for people (`2d 0h`, `2m 15s`) between `before` and `after`, or "" when absent. */
function span(seconds: unknown, before: string, after = ""): string {
  return typeof seconds === "number" && Number.isFinite(seconds)
    ? `${before}${formatHumanDuration(seconds * 1000)}${after}`
    : "";
}

/** One readable line for a verified webhook body. */
export function demoEventLine(body: {
  type?: string;
  timestamp?: string;
  data?: Record<string, unknown>;
}): string {
  const d = body.data ?? {};
  const time = (body.timestamp ?? "").slice(11, 19);
  const type = (body.type ?? "?").replace(/^image_server\./, "");
  const who = body.type?.startsWith("target.")
    ? `project ${String(d.project_id ?? "?")}`
    : `${String(d.name ?? "?")} (${String(d.server_id ?? "?")})`;
  let what = "";
  switch (body.type) {
    case "image_server.status_changed":
      what = `${String(d.previous_status)} → ${String(d.status)}${span(d.previous_status_duration_seconds, " after ")}`;
      break;
    case "image_server.discovered":
      what = `first seen in ${String(d.status)}`;
      break;
    case "image_server.stuck":
      what = `${String(d.status)}${span(d.stuck_seconds, " for ")}${span(d.stuck_threshold_seconds, " (threshold ", ")")}`;
      break;
    case "image_server.stuck_resolved":
      what = `no longer stuck; now ${String(d.status)}`;
      break;
    case "image_server.poll_failed": {
      const e = (d.error ?? {}) as Record<string, unknown>;
      what = `${String(d.consecutive_failures)} failed polls: ${String(e.kind)} ${String(e.http_status ?? "")} ${String(e.error_code ?? "")} request ${String(e.request_id ?? "-")}`;
      break;
    }
    case "image_server.poll_recovered":
      what = `polling works again; status ${String(d.status)}`;
      break;
    case "image_server.disappeared":
      what = "gone from the API";
      break;
    case "image_job.failed":
    case "image_job.succeeded":
    case "image_job.stuck": {
      const f = ((d.failures ?? []) as Array<Record<string, unknown>>)[0];
      const took = span(d.duration_seconds, " after ");
      what = `${String(d.job_type)} ${String(d.status)}${took}${f ? `: ${String(f.error_code)} ${String(f.error_message)}` : ""}`;
      break;
    }
    case "target.poll_failed": {
      const e = (d.error ?? {}) as Record<string, unknown>;
      what = `${String(d.consecutive_failures)} failed ticks, ${String(d.servers)} servers: ${String(e.kind)} ${String(e.http_status ?? "")} ${String(e.error_code ?? "")} request ${String(e.request_id ?? "-")}`;
      break;
    }
    case "target.poll_recovered":
      what = `polling works again for ${String(d.servers)} servers`;
      break;
    default:
      what = JSON.stringify(d).slice(0, 120);
  }
  return `${time}  ${type.padEnd(15)} ${who.padEnd(40)} ${what}`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Starts the demo's receiver: verifies Standard Webhooks signatures and prints one line per event. */
export async function startReceiver(
  secret: string,
  host: string,
  port: number,
  print: (line: string) => void,
): Promise<{ server: Server; port: number }> {
  const wh = new Webhook(secret);
  const server = createServer((req, res) => {
    readBody(req).then(
      (body) => {
        try {
          wh.verify(body, {
            "webhook-id": String(req.headers["webhook-id"] ?? ""),
            "webhook-timestamp": String(req.headers["webhook-timestamp"] ?? ""),
            "webhook-signature": String(req.headers["webhook-signature"] ?? ""),
          });
        } catch {
          print("receiver: rejected a request with a bad signature");
          res.writeHead(401).end();
          return;
        }
        print(demoEventLine(JSON.parse(body) as Parameters<typeof demoEventLine>[0]));
        res.writeHead(204).end();
      },
      () => res.writeHead(400).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** What {@link startDemo} needs; the CLI passes its context, a test a manual clock. */
export interface DemoOptions {
  env: Readonly<Record<string, string | undefined>>;
  /** Where the receiver's event lines (and the banner) go. */
  print: (line: string) => void;
  /** The daemon's log (pretty, at $IMAGEWATCH_DEMO_LOG_LEVEL or warn). */
  logStream: NodeJS.WritableStream;
  configPath?: string;
  scenarioPath?: string;
  /** Drives the simulator's timelines, the daemon and delivery; default the system clock. */
  clock?: Clock;
  /** The daemon scheduler's timers; default node's. */
  timers?: Timers;
}

/** A running demo: the simulator, the receiver and the daemon. */
export interface Demo {
  app: App;
  simUrl: string;
  daemonUrl: string;
  receiverPort: number;
  /** Stops the daemon, the receiver and the simulator. */
  stop(): Promise<void>;
}

/** Starts the simulator, the receiver and the daemon of the demo. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const { env: baseEnv, print } = options;
  const port = (name: string, dflt: number) => Number(baseEnv[name] ?? dflt);
  const configPath = options.configPath ?? "config/demo.yaml";
  const scenario = loadScenario(options.scenarioPath ?? "config/demo-scenario.yaml");
  const simulator = createSimulator({
    scenario,
    host: "127.0.0.1",
    port: port("IMAGEWATCH_DEMO_SIM_PORT", 9479),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const sim = await simulator.start();
  // Each part started is stopped again, last first: by `stop()`, or when a later step fails (a bad config,
  // a port in use), so the command exits with its error instead of hanging on open servers.
  const started: Array<() => Promise<void>> = [() => simulator.stop()];
  const stopAll = async () => {
    let first: unknown;
    for (const stop of [...started].reverse()) await stop().catch((e: unknown) => (first ??= e));
    if (first !== undefined) throw first;
  };
  try {
    const env = { ...baseEnv, IMAGEWATCH_DEMO_SIM_PORT: String(sim.port) };
    const first = loadConfig(configPath, env);
    const hook = first.config.webhooks[0];
    if (!hook?.secret) throw new Error("the demo config needs one webhook with a secret");
    const receiver = await startReceiver(
      hook.secret,
      "127.0.0.1",
      port("IMAGEWATCH_DEMO_RECEIVER_PORT", 9480),
      print,
    );
    started.push(async () => {
      receiver.server.closeAllConnections();
      await new Promise<void>((r) => receiver.server.close(() => r()));
    });
    const loaded = loadConfig(configPath, { ...env, IMAGEWATCH_DEMO_RECEIVER_PORT: String(receiver.port) });
    // The daemon's own log goes to stderr at warn, so the event lines stand out on stdout.
    const logger = createLogger(
      { level: baseEnv.IMAGEWATCH_DEMO_LOG_LEVEL ?? "warn", format: "pretty" },
      options.logStream,
    );
    const app = createApp(loaded, {
      logger,
      env,
      deliveryPollIntervalMs: 500,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.timers ? { timers: options.timers } : {}),
    });
    started.push(() => app.stop());
    const address = await app.start();
    return { app, simUrl: sim.url, daemonUrl: address.url, receiverPort: receiver.port, stop: stopAll };
  } catch (e) {
    await stopAll().catch(() => {}); // the step's own error is the one to report
    throw e;
  }
}

export const demoCommand: Command = {
  name: "demo",
  summary: "simulator + daemon + a local receiver that prints events",
  usage: USAGE,
  async run(ctx: CommandContext): Promise<number> {
    const { values } = parseCommandArgs("demo", ctx.args, {
      config: { type: "string", short: "c" },
      scenario: { type: "string" },
    });
    if (values.help) {
      writeLine(ctx.stdout, USAGE);
      return ExitCode.ok;
    }
    const print = (line: string) => writeLine(ctx.stdout, line);
    const demo = await startDemo({
      env: ctx.env,
      print,
      logStream: ctx.stderr,
      ...(values.config ? { configPath: values.config } : {}),
      ...(values.scenario ? { scenarioPath: values.scenario } : {}),
    });
    const url = demo.daemonUrl;
    print(
      `imagewatch demo: simulator ${demo.simUrl}, daemon ${url}, receiver http://127.0.0.1:${demo.receiverPort}/hook`,
    );
    print(`open ${url}/ (status page), ${url}/metrics, ${url}/api/v1/servers; Ctrl-C stops`);
    print("events as the receiver verifies them:");

    return await new Promise<number>((resolve) => {
      let stopping = false;
      const stop = () => {
        if (stopping) {
          ctx.exit?.(ExitCode.failure);
          return;
        }
        stopping = true;
        print("stopping…");
        demo
          .stop()
          .catch((e: unknown) => writeLine(ctx.stderr, coerceError(e).message))
          .then(() => {
            for (const u of unsub) u();
            resolve(ExitCode.ok);
          });
      };
      const unsub = [ctx.onSignal("SIGINT", stop), ctx.onSignal("SIGTERM", stop)];
    });
  },
};
