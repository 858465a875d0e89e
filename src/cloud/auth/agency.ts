/**
 * `kind: agency`: assumes an IAM agency (`POST {iam}/v3.0/OS-CREDENTIAL/securitytokens`, the API notes §7)
 * as the identity of a base credential given as `source:` (any other kind: its token or signature
 * authenticates the call), and signs API calls with the temporary AK/SK and security token it returns,
 * refreshed before they expire (temporary.ts).
 */
import * as z from "zod";
import { parseDuration } from "../../lib/duration.js";
import { CloudError, excerpt } from "../errors.js";
import { type HttpRequest, type HttpResponse, sendHttp } from "../transport.js";
import { authError, createTemporaryProvider, readCredentialBody } from "./temporary.js";
import { type AuthDeps, type AuthKindModule, type AuthProvider, requiredText } from "./types.js";

/** The resolved `cloud.auth` of kind agency; `S` is the config of the source's kind. */
export interface AgencyAuth<S extends { kind: string } = { kind: string }> {
  kind: "agency";
  domainName: string;
  agencyName: string;
  /** How long the temporary credentials asked for live, ms (15m–24h). */
  duration: number;
  source: S;
}

/** The lifetime asked for when `duration` is not given. */
export const DEFAULT_AGENCY_DURATION = "1h";
const MIN_DURATION_MS = 15 * 60_000;
const MAX_DURATION_MS = 24 * 3_600_000;
const REFRESH_CODES = new Set(["APIGW.0301", "APIG.0301"]);

/** The kinds a source may be: their schema, and the module of a given source config. */
export interface AgencySources<S extends { kind: string }> {
  schema: () => z.ZodType<S>;
  of(auth: S): AuthKindModule<S>;
}

/** Builds the agency kind over the registry's other kinds (kinds.ts passes them, so no import cycle). */
export function createAgencyAuthKind<S extends { kind: string }>(
  sources: AgencySources<S>,
): AuthKindModule<AgencyAuth<S>> {
  return {
    kind: "agency",
    schema: z.strictObject({
      kind: z.literal("agency"),
      domainName: requiredText(),
      agencyName: requiredText(),
      duration: z
        .any()
        .transform((v, ctx): number => {
          const ms = typeof v === "string" ? parseDuration(v) : undefined;
          if (ms === undefined || ms < MIN_DURATION_MS || ms > MAX_DURATION_MS) {
            ctx.addIssue({ code: "custom", message: "must be a duration from 15m to 24h" });
            return z.NEVER;
          }
          return ms;
        })
        .prefault(DEFAULT_AGENCY_DURATION),
      source: z.lazy(() => sources.schema()),
    }) as unknown as z.ZodType<AgencyAuth<S>> & z.core.$ZodTypeDiscriminable,
    credentialFields: [],
    needsRegion: false,
    mask: (auth) => ({ ...auth, source: sources.of(auth.source).mask(auth.source) }),
    createProvider: (auth, deps) =>
      createAgencyProvider(auth, sources.of(auth.source).createProvider(auth.source, deps), deps),
  };
}

function createAgencyProvider(auth: AgencyAuth, base: AuthProvider, deps: AuthDeps): AuthProvider {
  const url = new URL(`${deps.iamEndpoint}/v3.0/OS-CREDENTIAL/securitytokens`);
  const body = JSON.stringify({
    auth: {
      identity: {
        methods: ["assume_role"],
        assume_role: {
          domain_name: auth.domainName,
          agency_name: auth.agencyName,
          duration_seconds: Math.round(auth.duration / 1000),
        },
      },
    },
  });
  const plain: HttpRequest = {
    method: "POST",
    url,
    headers: { "Content-Type": "application/json;charset=utf8", Accept: "application/json" },
    body,
  };

  async function post(): Promise<{ res: HttpResponse; credential: string | undefined }> {
    // The base identity's own failure (no agency on the node, a wrong password) is already `auth`.
    const authorized = await base.authorize(plain, "");
    try {
      const res = await sendHttp(
        { ...plain, headers: authorized.headers },
        { dispatcher: deps.dispatcher, timeoutMs: deps.timeoutMs },
      );
      return { res, credential: authorized.credential };
    } catch (err) {
      const why = err instanceof CloudError ? err.message : "no answer";
      throw authError(`IAM agency request failed (${why})`, { cause: err });
    }
  }

  async function fetchCredentials() {
    let { res, credential } = await post();
    if (res.status === 401 && base.refreshable && REFRESH_CODES.has(errorCodeOf(res.text) ?? "")) {
      base.invalidate(credential);
      ({ res } = await post());
    }
    if (res.status !== 201 && res.status !== 200) {
      const said = excerpt(res.text, base.secrets(), 120);
      throw authError(
        `IAM agency request for ${auth.domainName}/${auth.agencyName} failed: HTTP ${res.status}${said ? `; ${said}` : ""}`,
        { httpStatus: res.status, ...(res.requestId === undefined ? {} : { requestId: res.requestId }) },
      );
    }
    const creds = readCredentialBody(res.text);
    if (creds === undefined) {
      throw authError("IAM agency answer has no credential {access, secret, securitytoken, expires_at}", {
        httpStatus: res.status,
      });
    }
    return creds;
  }

  return createTemporaryProvider(
    { label: "agency", fetch: fetchCredentials, secrets: () => base.secrets() },
    deps,
  );
}

function errorCodeOf(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { error_code?: unknown })?.error_code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}
