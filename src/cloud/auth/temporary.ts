/**
 * What the `metadata` and `agency` kinds share: temporary AK/SK with a security token, fetched by the
 * kind, cached, refreshed ahead of `expires_at` with one refresh in flight, and used to sign every
 * request `SDK-HMAC-SHA256` with `X-Security-Token` (the API notes §4 step 2, §7). Keys are never used past
 * their expiry: a failed refresh keeps the current keys only while they are still valid.
 */
import { FAILURES } from "../classify.js";
import { CloudError } from "../errors.js";
import { signHttpRequest } from "../signer.js";
import type { AuthDeps, AuthProvider } from "./types.js";

/** Temporary credentials as the metadata service and IAM give them. */
export interface TemporaryCredentials {
  accessKey: string;
  secretKey: string;
  securityToken: string;
  /** ms since epoch. */
  expiresAt: number;
}

/** Refresh this long before expiry, or at half the life if that is shorter. */
export const TEMPORARY_REFRESH_MARGIN_MS = 15 * 60_000;

/** Reads `{"credential": {"access", "secret", "securitytoken", "expires_at"}}` (the API notes §7), or undefined. */
export function readCredentialBody(text: string): TemporaryCredentials | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  const c = (body as { credential?: Record<string, unknown> } | null)?.credential;
  if (typeof c !== "object" || c === null) return undefined;
  const { access, secret, securitytoken, expires_at } = c;
  if (typeof access !== "string" || typeof secret !== "string" || typeof securitytoken !== "string")
    return undefined;
  if (access === "" || secret === "" || securitytoken === "") return undefined;
  const expiresAt = typeof expires_at === "string" ? Date.parse(expires_at) : Number.NaN;
  if (Number.isNaN(expiresAt)) return undefined;
  return { accessKey: access, secretKey: secret, securityToken: securitytoken, expiresAt };
}

/** What a temporary-credential kind gives the shared provider. */
export interface TemporarySource {
  /** Fetches fresh credentials; throws a CloudError (kind `auth` when they cannot be had). */
  fetch(): Promise<TemporaryCredentials>;
  /** Secrets the source itself holds (a base credential, a session token). */
  secrets(): string[];
  /** Names the source in logs: "metadata", "agency". */
  label: string;
}

/**
 * The provider of a temporary-credential kind. Every fetch is counted in `onTokenRefresh`; a failed
 * fetch is remembered for `refreshRetryMs`, so a target with many servers asks once per tick, not once
 * per request.
 */
export function createTemporaryProvider(source: TemporarySource, deps: AuthDeps): AuthProvider {
  const log = deps.logger;
  let cached: (TemporaryCredentials & { refreshAt: number }) | undefined;
  let inFlight: Promise<TemporaryCredentials & { refreshAt: number }> | undefined;
  let lastFailure: { error: unknown; until: number } | undefined;
  let retryRefreshAt = Number.NEGATIVE_INFINITY;
  /** Issued keys and tokens, recent first, for scrubbing (the old ones may still be quoted back). */
  const issued: string[] = [];

  function refresh(): Promise<TemporaryCredentials & { refreshAt: number }> {
    if (!inFlight) {
      const requestedAt = deps.clock.now();
      inFlight = source
        .fetch()
        .then((c) => {
          const life = Math.max(0, c.expiresAt - requestedAt);
          const next = { ...c, refreshAt: c.expiresAt - Math.min(TEMPORARY_REFRESH_MARGIN_MS, life / 2) };
          issued.unshift(c.accessKey, c.secretKey, c.securityToken);
          issued.length = Math.min(issued.length, 12);
          cached = next;
          lastFailure = undefined;
          retryRefreshAt = Number.NEGATIVE_INFINITY;
          deps.onTokenRefresh?.("success");
          log.debug(
            { source: source.label, expiresAt: new Date(c.expiresAt).toISOString() },
            "temporary credentials obtained",
          );
          return next;
        })
        .catch((err: unknown) => {
          deps.onTokenRefresh?.("failure");
          // Our own words (no credential): "this node has no agency: …".
          const reason = err instanceof CloudError ? err.message : "unexpected error";
          log.warn({ source: source.label, reason }, "temporary credentials could not be had");
          throw err;
        })
        .finally(() => {
          inFlight = undefined;
        });
    }
    return inFlight;
  }

  async function current(): Promise<TemporaryCredentials> {
    const now = deps.clock.now();
    if (cached && now < cached.refreshAt) return cached;
    if (cached && now < cached.expiresAt) {
      // Due for refresh but still valid: refresh, and keep the current keys if that fails.
      if (now < retryRefreshAt) return cached;
      try {
        return await refresh();
      } catch (err) {
        const keep = cached;
        if (!keep || deps.clock.now() >= keep.expiresAt) throw err;
        retryRefreshAt = deps.clock.now() + deps.refreshRetryMs;
        log.warn(
          { source: source.label, code: err instanceof CloudError ? err.code : undefined },
          "temporary credential refresh failed, using the current ones until they expire",
        );
        return keep;
      }
    }
    // None, or expired: never sign with expired keys.
    cached = undefined;
    if (lastFailure && now < lastFailure.until) throw lastFailure.error;
    try {
      return await refresh();
    } catch (err) {
      lastFailure = { error: err, until: deps.clock.now() + deps.refreshRetryMs };
      throw err;
    }
  }

  return {
    refreshable: true,
    async authorize(req, projectId) {
      const creds = await current();
      const headers = signHttpRequest(req, creds, deps.clock.now(), projectId);
      return { headers, credential: creds.accessKey };
    },
    invalidate(credential) {
      if (cached && credential === cached.accessKey) cached = undefined;
    },
    secrets: () => [...source.secrets(), ...issued],
  };
}

/**
 * A CloudError of kind `auth`: the credentials could not be had. The message (ours, credential-free) is
 * also its `errorMsg`, so events and the JSON API say it in the same words.
 */
export function authError(message: string, details: ConstructorParameters<typeof CloudError>[2] = {}) {
  return new CloudError(FAILURES.auth, message, { errorMsg: message, ...details });
}
