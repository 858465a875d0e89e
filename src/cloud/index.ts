/**
 * The Workspace API client (DESIGN.md §1, API.md): what the rest of imagewatch imports from `cloud/`.
 */
export { type AuthProvider, createAuthProvider, TOKEN_REFRESH_MARGIN_MS } from "./auth.js";
export {
  type CloudClient,
  type CloudClientDeps,
  createCloudClient,
  LIST_LIMIT,
  type ListFilter,
  listAllPages,
} from "./client.js";
export {
  CloudError,
  type CloudErrorDetails,
  excerpt,
  type FailureOutcome,
  scrubSecrets,
  toPollError,
} from "./errors.js";
export { normaliseStatus, parseImageServer, parseListPage, parseTimestamp, ShapeError } from "./parse.js";
export { createRateLimiter, type RateLimiter, realSleep, type Sleep } from "./rate-limiter.js";
export { backoffDelay, parseRetryAfter, RETRYABLE_STATUSES } from "./retry-policy.js";
export { createDefaultDispatcher, sendHttp } from "./transport.js";
