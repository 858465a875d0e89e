/**
 * Credential providers (API.md §4): a static IAM token, a password exchanged for an IAM token (cached,
 * refreshed ahead of expiry, one refresh in flight), and AK/SK request signing with the injected clock.
 */
import type { Dispatcher } from "undici";
import type { AuthConfig } from "../config/types.js";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { CloudError, excerpt } from "./errors.js";
import { readApiError } from "./parse.js";
import { signRequest } from "./signer.js";
import { type HttpRequest, sendHttp } from "./transport.js";

/** A request with its credentials attached; `credential` identifies what was used (for invalidation). */
export interface AuthorizedRequest {
  headers: Record<string, string>;
  credential: string | undefined;
}

/** Attaches credentials to requests. */
export interface AuthProvider {
  readonly kind: AuthConfig["kind"];
  /** True when a 401 `APIGW.0301` may be answered by fetching a new token and retrying once. */
  readonly refreshable: boolean;
  /** Returns the headers to send (the request's own plus the credentials). */
  authorize(req: HttpRequest, projectId: string, signal?: AbortSignal): Promise<AuthorizedRequest>;
  /** Forgets `credential` if it is still the cached one, so the next authorize fetches a new one. */
  invalidate(credential: string | undefined): void;
  /** Every secret value this provider knows (for scrubbing), including issued tokens. */
  secrets(): string[];
}

/** What the providers need from the client. */
export interface AuthDeps {
  clock: Clock;
  logger: Logger;
  dispatcher: Dispatcher;
  timeoutMs: number;
  iamEndpoint: string;
  region: string | undefined;
  /** Used when a token answer has no readable expiry. */
  fallbackLifetimeMs?: number;
  /** Wait after a failed refresh before trying again while the old token still works. */
  refreshRetryMs: number;
  onTokenRefresh?: (outcome: "success" | "failure") => void;
}

/** Refresh this long before expiry (API.md §4: our choice, 1 h), or at half the life if that is shorter. */
export const TOKEN_REFRESH_MARGIN_MS = 3_600_000;

/** Creates the provider for `auth`. */
export function createAuthProvider(auth: AuthConfig, deps: AuthDeps): AuthProvider {
  switch (auth.kind) {
    case "token":
      return createStaticTokenProvider(auth.token);
    case "aksk":
      return createAkSkProvider(auth, deps.clock);
    case "password":
      return createPasswordProvider(auth, deps);
  }
}

function createStaticTokenProvider(token: string): AuthProvider {
  return {
    kind: "token",
    refreshable: false,
    async authorize(req) {
      return { headers: { ...req.headers, "X-Auth-Token": token }, credential: token };
    },
    invalidate() {},
    secrets: () => [token],
  };
}

function createAkSkProvider(auth: Extract<AuthConfig, { kind: "aksk" }>, clock: Clock): AuthProvider {
  const creds = {
    accessKey: auth.accessKey,
    secretKey: auth.secretKey,
    ...(auth.securityToken ? { securityToken: auth.securityToken } : {}),
  };
  return {
    kind: "aksk",
    refreshable: false,
    async authorize(req, projectId) {
      // Signed with the injected clock: the gateway rejects X-Sdk-Date more than 15 min off (APIGW.0303).
      const headers = signRequest(
        {
          method: req.method,
          url: req.url,
          headers: req.headers,
          ...(req.body === undefined ? {} : { body: req.body }),
        },
        creds,
        { now: clock.now(), projectId },
      );
      return { headers, credential: undefined };
    },
    invalidate() {},
    secrets: () => [auth.accessKey, auth.secretKey, ...(auth.securityToken ? [auth.securityToken] : [])],
  };
}

interface CachedToken {
  token: string;
  expiresAt: number;
  refreshAt: number;
}

/** The region an IAM token is scoped to: `cloud.region`, else the one in a standard endpoint host. */
function scopeRegion(region: string | undefined, endpoint: string): string | undefined {
  if (region) return region;
  const m = /^(?:appstream|workspace|iam)\.([a-z0-9-]+)\.myhuaweicloud\.com$/.exec(safeHost(endpoint));
  return m?.[1];
}

function safeHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}

function createPasswordProvider(
  auth: Extract<AuthConfig, { kind: "password" }>,
  deps: AuthDeps,
): AuthProvider {
  const log = deps.logger;
  let cached: CachedToken | undefined;
  let inFlight: Promise<CachedToken> | undefined;
  let retryRefreshAt = Number.NEGATIVE_INFINITY;
  const issued: string[] = [];

  async function fetchToken(signal?: AbortSignal): Promise<CachedToken> {
    const region = scopeRegion(deps.region, deps.iamEndpoint);
    if (region === undefined) {
      throw new CloudError("CLOUD_AUTH", "password auth needs cloud.region to scope the IAM token", {
        outcome: "auth",
      });
    }
    const url = new URL(`${deps.iamEndpoint}/v3/auth/tokens?nocatalog=true`);
    const body = JSON.stringify({
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { domain: { name: auth.domain }, name: auth.username, password: auth.password } },
        },
        scope: { project: { name: region } },
      },
    });
    const req: HttpRequest = {
      method: "POST",
      url,
      headers: { "Content-Type": "application/json;charset=utf8", Accept: "application/json" },
      body,
    };
    const requestedAt = deps.clock.now();
    let res: Awaited<ReturnType<typeof sendHttp>>;
    try {
      res = await sendHttp(req, {
        dispatcher: deps.dispatcher,
        timeoutMs: deps.timeoutMs,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (err instanceof CloudError) deps.onTokenRefresh?.("failure");
      throw err;
    }
    const subject = res.headers["x-subject-token"];
    const token = Array.isArray(subject) ? subject[0] : subject;
    if (res.status !== 201 && res.status !== 200) {
      deps.onTokenRefresh?.("failure");
      throw iamError(res.status, res.text, res.requestId, secretsOf());
    }
    if (!token) {
      deps.onTokenRefresh?.("failure");
      throw new CloudError("CLOUD_INVALID_RESPONSE", "IAM token answer has no X-Subject-Token header", {
        outcome: "invalid_response",
        httpStatus: res.status,
        ...(res.requestId === undefined ? {} : { requestId: res.requestId }),
      });
    }
    issued.push(token);
    if (issued.length > 4) issued.shift();
    const expiresAt =
      readExpiry(res.text) ?? requestedAt + (deps.fallbackLifetimeMs ?? TOKEN_REFRESH_MARGIN_MS);
    const life = Math.max(0, expiresAt - requestedAt);
    const refreshAt = expiresAt - Math.min(TOKEN_REFRESH_MARGIN_MS, life / 2);
    deps.onTokenRefresh?.("success");
    log.debug(
      { expiresAt: new Date(expiresAt).toISOString(), requestId: res.requestId },
      "iam token obtained",
    );
    return { token, expiresAt, refreshAt };
  }

  function secretsOf(): string[] {
    return [auth.password, ...issued];
  }

  /** One refresh in flight: every caller waiting for a token shares it. */
  function refresh(): Promise<CachedToken> {
    if (!inFlight) {
      // Not tied to any one caller's signal: one caller giving up must not fail the others.
      inFlight = fetchToken()
        .then((t) => {
          cached = t;
          retryRefreshAt = Number.NEGATIVE_INFINITY;
          return t;
        })
        .finally(() => {
          inFlight = undefined;
        });
    }
    return inFlight;
  }

  async function currentToken(signal?: AbortSignal): Promise<string> {
    const now = deps.clock.now();
    if (cached && now < cached.refreshAt) return cached.token;
    if (cached && now < cached.expiresAt) {
      // Due for refresh but still valid: refresh, and keep working with the old token if IAM fails.
      if (now < retryRefreshAt) return cached.token;
      try {
        return (await abortable(refresh(), signal)).token;
      } catch (err) {
        if (!(err instanceof CloudError) || !cached || deps.clock.now() >= cached.expiresAt) throw err;
        retryRefreshAt = deps.clock.now() + deps.refreshRetryMs;
        log.warn(
          { code: err.code, requestId: err.requestId },
          "iam token refresh failed, using current token",
        );
        return cached.token;
      }
    }
    return (await abortable(refresh(), signal)).token;
  }

  return {
    kind: "password",
    refreshable: true,
    async authorize(req, _projectId, signal) {
      const token = await currentToken(signal);
      return { headers: { ...req.headers, "X-Auth-Token": token }, credential: token };
    },
    invalidate(credential) {
      // Only the token that failed is dropped: 20 requests failing with the same old token cause one refresh.
      if (cached && credential === cached.token) cached = undefined;
    },
    secrets: secretsOf,
  };
}

/** Waits for `promise`, or rejects when `signal` aborts first (the shared promise goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

function readExpiry(text: string): number | undefined {
  try {
    const body = JSON.parse(text) as { token?: { expires_at?: unknown } };
    const value = body?.token?.expires_at;
    if (typeof value !== "string") return undefined;
    const t = Date.parse(value);
    return Number.isNaN(t) ? undefined : t;
  } catch {
    return undefined;
  }
}

function iamError(
  status: number,
  text: string,
  requestId: string | undefined,
  secrets: string[],
): CloudError {
  let apiError: ReturnType<typeof readApiError>;
  try {
    apiError = readApiError(JSON.parse(text));
  } catch {
    apiError = undefined;
  }
  const errorCode = apiError?.errorCode;
  const errorMsg = apiError?.errorMsg === undefined ? undefined : excerpt(apiError.errorMsg, secrets);
  const rid = requestId ?? apiError?.requestId;
  const retryable = status === 429 || (status >= 500 && status !== 501);
  const code = status >= 500 ? "CLOUD_HTTP_5XX" : status === 429 ? "CLOUD_THROTTLED" : "CLOUD_AUTH";
  const outcome = status >= 500 ? "http_5xx" : status === 429 ? "throttled" : "auth";
  const detail = [errorCode, errorMsg].filter((s) => s !== undefined).join(": ");
  return new CloudError(code, `IAM token request failed: HTTP ${status}${detail ? ` ${detail}` : ""}`, {
    outcome,
    retryable,
    httpStatus: status,
    ...(errorCode === undefined ? {} : { errorCode }),
    ...(errorMsg === undefined ? {} : { errorMsg }),
    ...(rid === undefined ? {} : { requestId: rid }),
  });
}
