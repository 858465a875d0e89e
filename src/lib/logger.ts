import { createRequire } from "node:module";
import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";
import type { PrettyOptions, PrettyStream } from "pino-pretty";
import { CREDENTIAL_FIELDS, CREDENTIAL_HEADERS } from "./credential-fields.js";

export type { Logger } from "pino";

/** pino redact paths for every credential field and header, at the depths our logs nest them. */
function redactPaths(): string[] {
  const paths: string[] = [];
  // Each name also capitalised (`Authorization`), as header objects built by hand spell it.
  const keys = CREDENTIAL_FIELDS.flatMap((k) => [k, `${k[0]?.toUpperCase()}${k.slice(1)}`]);
  for (const k of keys) {
    paths.push(k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`);
  }
  for (const h of CREDENTIAL_HEADERS) {
    paths.push(`headers["${h}"]`, `*.headers["${h}"]`, `*.*.headers["${h}"]`);
  }
  return paths;
}

/** Options of the logger factory. */
export interface LoggerConfig {
  level: string;
  format: "json" | "pretty";
}

/**
 * Creates the process logger. Credentials are redacted as `[redacted]` whatever the level;
 * `destination` defaults to stdout (tests pass a stream to read the lines).
 */
export function createLogger(config: LoggerConfig, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: { pid: process.pid },
    redact: { paths: redactPaths(), censor: "[redacted]" },
    serializers: { err: pino.stdSerializers.err },
  };
  if (config.format === "pretty") {
    // Loaded only when asked for (≈ 8 MiB of modules a json-logging daemon never needs). A require, not
    // `await import()`, so createLogger stays synchronous for its callers.
    const pretty = createRequire(import.meta.url)("pino-pretty") as (o: PrettyOptions) => PrettyStream;
    const stream = pretty({ sync: true, colorize: false, destination: destination ?? 1 });
    return pino(options, stream);
  }
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}

/** A logger that writes nothing, for tests and commands that must stay quiet. */
export function createSilentLogger(): Logger {
  return pino({ level: "silent" });
}
