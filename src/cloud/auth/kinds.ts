/**
 * The registry of auth kinds (`cloud.auth.kind`): the config schema, masking, the credential field
 * list and the client's provider all read it.
 *
 * To add an auth kind: write one module in this folder exporting an `AuthKindModule`, and add it to
 * BASE_KINDS below. Nothing else changes. `agency` wraps any base kind as its `source:`.
 */
import * as z from "zod";
import { type AgencyAuth, createAgencyAuthKind } from "./agency.js";
import { akskAuthKind } from "./aksk.js";
import { metadataAuthKind } from "./metadata.js";
import { passwordAuthKind } from "./password.js";
import { tokenAuthKind } from "./token.js";
import type { AuthDeps, AuthKindModule, AuthProvider } from "./types.js";

/** The kinds that stand on their own (an agency's `source:` is one of them). */
const BASE_KINDS = [akskAuthKind, tokenAuthKind, passwordAuthKind, metadataAuthKind] as const;

type ConfigOf<M> = M extends AuthKindModule<infer C> ? C : never;

/** The config of a base kind: what an agency's `source:` may be. */
export type BaseAuthConfig = ConfigOf<(typeof BASE_KINDS)[number]>;

type BaseSchema = (typeof BASE_KINDS)[number]["schema"];
let baseSchema: z.ZodType<BaseAuthConfig> | undefined;

/** `kind: agency` over the base kinds. */
const agencyAuthKind = createAgencyAuthKind<BaseAuthConfig>({
  schema: () => {
    baseSchema ??= z.discriminatedUnion(
      "kind",
      BASE_KINDS.map((m) => m.schema) as [BaseSchema, ...BaseSchema[]],
    ) as unknown as z.ZodType<BaseAuthConfig>;
    return baseSchema;
  },
  of: (auth) => authKindOf(auth),
});

/** Every auth kind, in the order `check-config` names them. */
export const AUTH_KINDS = [...BASE_KINDS, agencyAuthKind] as const;

/** The resolved `cloud.auth`: the config of one of the registered kinds. */
export type AuthConfig = BaseAuthConfig | AgencyAuth<BaseAuthConfig>;

/** The module of `kind`. */
export function authKindOf<C extends AuthConfig>(auth: C): AuthKindModule<C> {
  const found = AUTH_KINDS.find((m) => m.kind === auth.kind);
  if (found === undefined) throw new Error(`unknown auth kind ${String(auth.kind)}`);
  // The registry holds one module per kind, so the module found is the one of C.
  return found as unknown as AuthKindModule<C>;
}

/** Creates the credential provider for `auth`, through its kind's module. */
export function createAuthProvider(auth: AuthConfig, deps: AuthDeps): AuthProvider {
  return authKindOf(auth).createProvider(auth, deps);
}
