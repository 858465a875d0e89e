/**
 * `imagewatch simulate`: runs the built-in Workspace API simulator until SIGINT/SIGTERM.
 */
import { resolve } from "node:path";
import { ConfigError, coerceError, ExitCode, UsageError } from "../lib/errors.js";
import { createSimulator, loadScenario, type Scenario } from "../simulator/index.js";
import { type Command, type CommandContext, parseCommandArgs, writeLine } from "./context.js";

/** Default port of the simulator (the daemon's is 9478). */
const DEFAULT_SIMULATOR_PORT = 9479;
/** Default scenario file. */
const DEFAULT_SCENARIO_PATH = "config/demo-scenario.yaml";

const USAGE = `Usage: imagewatch simulate [--port N] [--host H] [--scenario FILE]

Runs a local fake of the Huawei Cloud Workspace image-server API and the IAM token API
(POST /v3/auth/tokens) on one port, playing the scenario's timeline. Point both cloud.endpoint and
cloud.iamEndpoint at it. Control routes live under /__sim/ (see src/simulator/README.md).

Options:
  --port N          port to listen on (default ${DEFAULT_SIMULATOR_PORT}; 0 = any free port)
  --host H          address to listen on (default 127.0.0.1)
  --scenario FILE   scenario YAML (default ${DEFAULT_SCENARIO_PATH})
  -h, --help        show this help`;

function parsePort(text: string | undefined): number {
  if (text === undefined) return DEFAULT_SIMULATOR_PORT;
  const port = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new UsageError(`--port must be a number from 0 to 65535, got ${JSON.stringify(text)}`);
  }
  return port;
}

/** The `simulate` command. */
export const simulateCommand: Command = {
  name: "simulate",
  summary: "run the built-in Workspace API simulator",
  usage: USAGE,
  async run(ctx: CommandContext): Promise<number> {
    const { values } = parseCommandArgs("simulate", ctx.args, {
      port: { type: "string" },
      host: { type: "string" },
      scenario: { type: "string" },
    });
    if (values.help) {
      writeLine(ctx.stdout, USAGE);
      return ExitCode.ok;
    }
    const port = parsePort(values.port);
    const host = values.host ?? "127.0.0.1";
    const scenarioPath = resolve(ctx.cwd, values.scenario ?? DEFAULT_SCENARIO_PATH);

    let scenario: Scenario;
    try {
      scenario = loadScenario(scenarioPath);
    } catch (err) {
      if (err instanceof ConfigError) {
        writeLine(ctx.stderr, `imagewatch simulate: invalid scenario\n${err.message}`);
        return ExitCode.config;
      }
      throw err;
    }

    const simulator = createSimulator({ scenario, host, port });
    try {
      await simulator.start();
    } catch (err) {
      writeLine(
        ctx.stderr,
        `imagewatch simulate: cannot listen on ${host}:${port}: ${coerceError(err).message}`,
      );
      return ExitCode.failure;
    }
    writeLine(
      ctx.stdout,
      `imagewatch simulator listening on ${simulator.url} (access key ${scenario.credentials.accessKey}, ` +
        `user ${scenario.credentials.domain}/${scenario.credentials.username}; ` +
        `secret key and password are in ${scenarioPath})`,
    );

    await new Promise<void>((done) => {
      const offs = [ctx.onSignal("SIGINT", finish), ctx.onSignal("SIGTERM", finish)];
      function finish(): void {
        for (const off of offs) off();
        done();
      }
    });
    await simulator.stop();
    return ExitCode.ok;
  },
};
