/**
 * The one list of names that hold credentials: the logger redacts them, cloud errors scrub them, the
 * config never quotes them and reads each config key also from `<key>File`. An auth kind's credential
 * fields must be listed here (a test checks it).
 */

/** Config keys holding a credential; each also accepts `<key>File` (DESIGN §2). */
export const CONFIG_CREDENTIAL_KEYS = [
  "accessKey",
  "secretKey",
  "securityToken",
  "token",
  "password",
  "secret",
  "bearerToken",
] as const;

/** Every field name whose value is a credential wherever it appears: the config keys, and signatures. */
export const CREDENTIAL_FIELDS: readonly string[] = [
  ...CONFIG_CREDENTIAL_KEYS,
  "signature",
  "authorization",
  // Temporary credentials as the metadata service and IAM answer them (`credential.securitytoken`),
  // and the metadata service's session token.
  "securitytoken",
  "metadataToken",
];

/** HTTP header names whose values are credentials (lower-case, as undici and node:http report them). */
export const CREDENTIAL_HEADERS: readonly string[] = [
  "authorization",
  "x-auth-token",
  "x-subject-token",
  "x-security-token",
  "x-metadata-token",
];

/** What a masked credential is shown as (`check-config`). */
export const MASK = "***";
