/**
 * `kind: metadata`: temporary AK/SK and a security token from the ECS/CCE metadata service of a node
 * with an agency attached (the API notes §7, the SDKs' MetadataAccessor): a session token (`PUT
 * /meta-data/latest/api/token`), then `GET /openstack/latest/securitykey` with it. Refreshed before
 * `expires_at` (temporary.ts). No agency on the node is a configuration problem, said in plain words.
 */
import * as z from "zod";
import { CloudError } from "../errors.js";
import { type HttpResponse, sendHttp } from "../transport.js";
import { authError, createTemporaryProvider, readCredentialBody } from "./temporary.js";
import type { AuthDeps, AuthKindModule } from "./types.js";

/** The resolved `cloud.auth` of kind metadata. */
export interface MetadataAuth {
  kind: "metadata";
  /** The metadata service; no trailing slash. */
  endpoint: string;
}

/** The metadata service of ECS and CCE nodes. */
export const DEFAULT_METADATA_ENDPOINT = "http://169.254.169.254";
/** The SDKs' timeout for the metadata service (a node without one must not hang a tick). */
const METADATA_TIMEOUT_MS = 3000;
/** Lifetime asked for the session token (the SDKs' value, 6 h). */
const SESSION_TTL_SECONDS = "21600";
/** The body of the metadata service's 401 on a node without an agency. */
const NO_AGENCY_TEXT = "Please configure Cloud Service Agency first";
/** What we say instead. */
export const NO_AGENCY_MESSAGE =
  "this node has no agency: attach one to the ECS/CCE node, or use another auth kind";

/** The metadata auth kind. */
export const metadataAuthKind: AuthKindModule<MetadataAuth> = {
  kind: "metadata",
  schema: z.strictObject({
    kind: z.literal("metadata"),
    endpoint: z
      .string()
      .optional()
      .transform((v, ctx): string => {
        const value = (v ?? DEFAULT_METADATA_ENDPOINT).trim();
        try {
          const url = new URL(value);
          if (url.protocol === "http:" || url.protocol === "https:") return value.replace(/\/+$/, "");
        } catch {}
        ctx.addIssue({ code: "custom", message: "must be http(s) URL" });
        return z.NEVER;
      }),
  }),
  credentialFields: [],
  needsRegion: false,
  mask: (auth) => ({ ...auth }),
  createProvider: createMetadataProvider,
};

function createMetadataProvider(auth: MetadataAuth, deps: AuthDeps) {
  let session: string | undefined;
  const timeoutMs = Math.min(METADATA_TIMEOUT_MS, deps.timeoutMs);

  async function send(method: "GET" | "PUT", path: string, headers: Record<string, string>) {
    try {
      return await sendHttp(
        { method, url: new URL(`${auth.endpoint}${path}`), headers },
        { dispatcher: deps.dispatcher, timeoutMs },
      );
    } catch (err) {
      const why = err instanceof CloudError ? err.message : "no answer";
      throw authError(`metadata service ${auth.endpoint} unreachable (${why}): is this an ECS/CCE node?`, {
        cause: err,
      });
    }
  }

  /** A session token, or undefined when the node has no token API (404/405). */
  async function sessionToken(): Promise<string | undefined> {
    const res = await send("PUT", "/meta-data/latest/api/token", {
      "X-Metadata-Token-Ttl-Seconds": SESSION_TTL_SECONDS,
    });
    if (res.status === 404 || res.status === 405) return undefined;
    const token = res.text.trim();
    if (res.status !== 200 || token === "") {
      throw authError(`metadata session token request failed: HTTP ${res.status}`, {
        httpStatus: res.status,
      });
    }
    return token;
  }

  async function securityKey(token: string | undefined): Promise<HttpResponse> {
    return send("GET", "/openstack/latest/securitykey", token ? { "X-Metadata-Token": token } : {});
  }

  async function fetchCredentials() {
    session ??= await sessionToken();
    let res = await securityKey(session);
    if (res.status === 401 && !res.text.includes(NO_AGENCY_TEXT)) {
      // The session token may have expired: a new one, once.
      session = await sessionToken();
      res = await securityKey(session);
    }
    if (res.status === 401 && res.text.includes(NO_AGENCY_TEXT)) {
      throw authError(NO_AGENCY_MESSAGE, { httpStatus: 401 });
    }
    if (res.status !== 200) {
      throw authError(`metadata security key request failed: HTTP ${res.status}`, { httpStatus: res.status });
    }
    const creds = readCredentialBody(res.text);
    if (creds === undefined) {
      throw authError(
        "metadata security key answer has no credential {access, secret, securitytoken, expires_at}",
        { httpStatus: res.status },
      );
    }
    return creds;
  }

  return createTemporaryProvider(
    {
      label: "metadata",
      fetch: fetchCredentials,
      secrets: () => (session === undefined ? [] : [session]),
    },
    deps,
  );
}
