/**
 * The AppError family: every error imagewatch raises on purpose carries a stable string `code`
 * (STYLE rule 3), an optional `cause`, and `retryable` where the failure tells.
 */
export type ErrorCode =
  | "CONFIG_INVALID"
  | "USAGE"
  | "CLOUD_HTTP_4XX"
  | "CLOUD_HTTP_5XX"
  | "CLOUD_THROTTLED"
  | "CLOUD_TIMEOUT"
  | "CLOUD_NETWORK"
  | "CLOUD_AUTH"
  | "CLOUD_INVALID_RESPONSE"
  | "WEBHOOK_FAILED"
  | "STORE_CORRUPT"
  | "STORE_SCHEMA_NEWER"
  | "STORE_ERROR"
  | "NOT_IMPLEMENTED";

/** Base of every deliberate error. `code` is stable and safe to match on; `message` never holds secrets. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** One problem found in a configuration: where (`webhooks[1].url`, or `line 3, column 5`) and what. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** The configuration is invalid; `issues` lists every problem at once. Exit code 78. */
export class ConfigError extends AppError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options: { cause?: unknown } = {}) {
    super("CONFIG_INVALID", formatIssues(issues), options);
    this.issues = issues;
  }
}

/** Formats a zod issue path the way config errors name it: `webhooks[1].url`, `cloud.auth.secretKey`. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** A command-line usage mistake. Exit code 2. */
export class UsageError extends AppError {
  constructor(message: string) {
    super("USAGE", message);
  }
}

/** Formats config issues one per line: `path: message`. */
function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("\n");
}

/** Turns anything thrown into an Error, so every catch can log and classify it the same way. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === "string") return new Error(value);
  try {
    return new Error(`non-error thrown: ${JSON.stringify(value)}`);
  } catch {
    return new Error(`non-error thrown: ${String(value)}`);
  }
}

/** Process exit codes (DESIGN §3). */
export const ExitCode = { ok: 0, failure: 1, usage: 2, config: 78 } as const;
