/**
 * `kind: aksk`: every request signed `SDK-HMAC-SHA256` with the access and secret key (API §4), at
 * the injected clock's time; a 401 fails at once (AK/SK lockout after repeated failures).
 */
import * as z from "zod";
import { signHttpRequest } from "../signer.js";
import { type AuthKindModule, maskFields, optionalText, requiredText } from "./types.js";

/** The resolved `cloud.auth` of kind aksk; `securityToken` only for temporary credentials. */
export interface AkskAuth {
  kind: "aksk";
  accessKey: string;
  secretKey: string;
  securityToken?: string;
}

const FIELDS = ["accessKey", "secretKey", "securityToken"] as const;

/** The AK/SK auth kind. */
export const akskAuthKind: AuthKindModule<AkskAuth> = {
  kind: "aksk",
  schema: z.strictObject({
    kind: z.literal("aksk"),
    accessKey: requiredText(),
    secretKey: requiredText(),
    securityToken: optionalText(),
  }),
  credentialFields: FIELDS,
  needsRegion: false,
  mask: (auth) => maskFields(auth, FIELDS),
  createProvider(auth, { clock }) {
    const creds = {
      accessKey: auth.accessKey,
      secretKey: auth.secretKey,
      ...(auth.securityToken ? { securityToken: auth.securityToken } : {}),
    };
    return {
      refreshable: false,
      async authorize(req, projectId) {
        // Signed with the injected clock: the gateway rejects X-Sdk-Date more than 15 min off (APIGW.0303).
        const headers = signHttpRequest(req, creds, clock.now(), projectId);
        return { headers, credential: undefined };
      },
      invalidate() {},
      secrets: () => [auth.accessKey, auth.secretKey, ...(auth.securityToken ? [auth.securityToken] : [])],
    };
  },
};
