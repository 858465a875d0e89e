/**
 * What every auth kind provides (one module per kind in this folder, listed in kinds.ts): its config
 * schema, its credential fields, masking, and the provider that attaches credentials to requests.
 */
import type { Dispatcher } from "undici";
import * as z from "zod";
import type { Clock } from "../../lib/clock.js";
import { MASK } from "../../lib/credential-fields.js";
import type { Logger } from "../../lib/logger.js";
import type { HttpRequest } from "../transport.js";

/** A request with its credentials attached; `credential` identifies what was used (for invalidation). */
export interface AuthorizedRequest {
  headers: Record<string, string>;
  credential: string | undefined;
}

/** Attaches credentials to requests. */
export interface AuthProvider {
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
  /** Wait after a failed refresh before trying again while the old token still works. */
  refreshRetryMs: number;
  onTokenRefresh?: (outcome: "success" | "failure") => void;
}

/**
 * One auth kind (`cloud.auth.kind`). `C` is its resolved config. Adding a kind is a new module
 * implementing this and one line in kinds.ts.
 */
export interface AuthKindModule<C extends { kind: string }> {
  readonly kind: C["kind"];
  /** The strict object schema of `cloud.auth` for this kind, key names as in DESIGN §2. */
  readonly schema: z.ZodType<C> & z.core.$ZodTypeDiscriminable;
  /** The config keys holding credentials (each also accepts `<key>File`; masked by `mask`). */
  readonly credentialFields: readonly (keyof C & string)[];
  /** True when the kind needs `cloud.region` (password scopes its token to the region's project). */
  readonly needsRegion: boolean;
  /** A copy of `auth` with every credential present replaced by `***`. */
  mask(auth: C): C;
  /** The provider for `auth`. */
  createProvider(auth: C, deps: AuthDeps): AuthProvider;
}

/** A required config string (non-empty). */
export const requiredText = () => z.string().min(1);

/** An optional config string where "" (e.g. `${VAR:-}`) means "not set". */
export const optionalText = () =>
  z
    .string()
    .optional()
    .transform((v) => (v === "" ? undefined : v));

/** `auth` with each of `fields` that is present replaced by `***`: the usual `mask` of a kind. */
export function maskFields<C extends { kind: string }>(auth: C, fields: readonly (keyof C & string)[]): C {
  const out = { ...auth };
  for (const f of fields) {
    if (out[f] !== undefined) (out as Record<string, unknown>)[f] = MASK;
  }
  return out;
}
