/**
 * `kind: password`: a password exchanged at IAM for a token scoped to the region's project (API §4),
 * cached, refreshed ahead of expiry with one refresh in flight, and refreshed once on a 401 `APIGW.0301`.
 */
import * as z from "zod";
import { classifyStatus, FAILURES } from "../classify.js";
import { CloudError, excerpt } from "../errors.js";
import { readApiError } from "../parse.js";
import { type HttpRequest, type HttpResponse, sendHttp } from "../transport.js";
import { type AuthDeps, type AuthKindModule, type AuthProvider, maskFields, requiredText } from "./types.js";

/** The resolved `cloud.auth` of kind password. */
export interface PasswordAuth {
  kind: "password";
  domain: string;
  username: string;
  password: string;
}

/** Refresh this long before expiry (API §4: our choice, 1 h), or at half the life if that is shorter. */
const TOKEN_REFRESH_MARGIN_MS = 3_600_000;

const FIELDS = ["password"] as const;

/** The password auth kind. */
export const passwordAuthKind: AuthKindModule<PasswordAuth> = {
  kind: "password",
  schema: z.strictObject({
    kind: z.literal("password"),
    domain: requiredText(),
    username: requiredText(),
    password: requiredText(),
  }),
  credentialFields: FIELDS,
  needsRegion: true,
  mask: (auth) => maskFields(auth, FIELDS),
  createProvider: createPasswordProvider,
};

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

function createPasswordProvider(auth: PasswordAuth, deps: AuthDeps): AuthProvider {
  const log = deps.logger;
  let cached: CachedToken | undefined;
  let inFlight: Promise<CachedToken> | undefined;
  let retryRefreshAt = Number.NEGATIVE_INFINITY;
  const issued: string[] = [];

  async function fetchToken(signal?: AbortSignal): Promise<CachedToken> {
    const region = scopeRegion(deps.region, deps.iamEndpoint);
    if (region === undefined) {
      throw new CloudError(FAILURES.auth, "password auth needs cloud.region to scope the IAM token");
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
    let res: HttpResponse;
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
    if (res.status < 200 || res.status > 299) {
      deps.onTokenRefresh?.("failure");
      throw iamError(res, secretsOf());
    }
    if (!token) {
      deps.onTokenRefresh?.("failure");
      throw new CloudError(FAILURES.invalid_response, "IAM token answer has no X-Subject-Token header", {
        httpStatus: res.status,
        ...(res.requestId === undefined ? {} : { requestId: res.requestId }),
      });
    }
    issued.push(token);
    if (issued.length > 4) issued.shift();
    const expiresAt = readExpiry(res.text) ?? requestedAt + TOKEN_REFRESH_MARGIN_MS;
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

/** The CloudError of a refused token request, classified by the table's `iam` column. */
function iamError(res: HttpResponse, secrets: string[]): CloudError {
  let apiError: ReturnType<typeof readApiError>;
  try {
    apiError = readApiError(JSON.parse(res.text));
  } catch {
    apiError = undefined;
  }
  const errorCode = apiError?.errorCode;
  const errorMsg = apiError?.errorMsg === undefined ? undefined : excerpt(apiError.errorMsg, secrets);
  const rid = res.requestId ?? apiError?.requestId;
  const detail = [errorCode, errorMsg].filter((s) => s !== undefined).join(": ");
  return new CloudError(
    classifyStatus(res.status, "iam", errorCode),
    `IAM token request failed: HTTP ${res.status}${detail ? ` ${detail}` : ""}`,
    {
      httpStatus: res.status,
      ...(errorCode === undefined ? {} : { errorCode }),
      ...(errorMsg === undefined ? {} : { errorMsg }),
      ...(rid === undefined ? {} : { requestId: rid }),
    },
  );
}
