/** Webhook notification: filters, payload builders and signing, and the outbox delivery workers (DESIGN.md §6). */
export {
  buildAlertmanager,
  buildDingtalk,
  buildFeishu,
  buildSlack,
  buildWecom,
  chatLine,
  describeEvent,
  platformError,
} from "./chat-formats.js";
export {
  createDeliveryService,
  type DeliveryOutcome,
  type DeliveryService,
  type DeliveryServiceDeps,
} from "./delivery-service.js";
export { matchesWebhook, STATUS_FILTERED_TYPES, type WebhookFilter } from "./match.js";
export {
  buildRequest,
  buildStandardBody,
  type StandardPayload,
  signStandard,
  type WebhookRequest,
} from "./payload.js";
export {
  type AttemptDecision,
  type AttemptResult,
  backoffDelay,
  decideAfterAttempt,
  isRetryableStatus,
  MIN_RETRY_DELAY_MS,
  parseRetryAfter,
} from "./retry-policy.js";
export { RESPONSE_BODY_KEEP_BYTES, type SendResult, sendWebhookRequest } from "./send.js";
export { createTestEvent, sendTestEvent, type TestEventResult } from "./test-event.js";
