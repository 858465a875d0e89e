/** `kind: token`: a static IAM token sent as `X-Auth-Token` (API §4); a 401 fails at once. */
import * as z from "zod";
import { type AuthKindModule, maskFields, requiredText } from "./types.js";

/** The resolved `cloud.auth` of kind token. */
export interface TokenAuth {
  kind: "token";
  token: string;
}

const FIELDS = ["token"] as const;

/** The token auth kind. */
export const tokenAuthKind: AuthKindModule<TokenAuth> = {
  kind: "token",
  schema: z.strictObject({ kind: z.literal("token"), token: requiredText() }),
  credentialFields: FIELDS,
  needsRegion: false,
  mask: (auth) => maskFields(auth, FIELDS),
  createProvider: ({ token }) => ({
    refreshable: false,
    async authorize(req) {
      return { headers: { ...req.headers, "X-Auth-Token": token }, credential: token };
    },
    invalidate() {},
    secrets: () => [token],
  }),
};
