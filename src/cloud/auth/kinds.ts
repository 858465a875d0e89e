/**
 * The registry of auth kinds (`cloud.auth.kind`): the config schema, masking, the credential field
 * list and the client's provider all read it.
 *
 * To add an auth kind: write one module in this folder exporting an `AuthKindModule`, and add it to
 * AUTH_KINDS below. Nothing else changes.
 */
import { akskAuthKind } from "./aksk.js";
import { passwordAuthKind } from "./password.js";
import { tokenAuthKind } from "./token.js";
import type { AuthDeps, AuthKindModule, AuthProvider } from "./types.js";

/** Every auth kind, in the order `check-config` names them. */
export const AUTH_KINDS = [akskAuthKind, tokenAuthKind, passwordAuthKind] as const;

type ConfigOf<M> = M extends AuthKindModule<infer C> ? C : never;

/** The resolved `cloud.auth`: the config of one of the registered kinds. */
export type AuthConfig = ConfigOf<(typeof AUTH_KINDS)[number]>;

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
