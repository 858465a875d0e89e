/**
 * The request of one delivery attempt (DESIGN §6): the format's body (and URL or signature headers) plus
 * the headers every format sends. Pure: each attempt is built and signed afresh, so a retry carries a new
 * timestamp and signature while the id and body stay the same.
 */
import type { WebhookConfig } from "../config/types.js";
import type { DomainEvent } from "../domain/types.js";
import { AppError } from "../lib/errors.js";
import { webhookFormat } from "./formats/index.js";

/** One HTTP POST to send. `url` is set only when the format signs the URL itself. */
export interface WebhookRequest {
  body: string;
  headers: Record<string, string>;
  url?: string;
}

/** Lower-cases the names of the webhook's static headers, so they cannot duplicate ours under another case. */
function staticHeaders(webhook: WebhookConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(webhook.headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

function withHeaders(
  built: { body: string; url?: string; headers?: Record<string, string> },
  webhook: WebhookConfig,
  version: string,
): WebhookRequest {
  return {
    body: built.body,
    ...(built.url !== undefined ? { url: built.url } : {}),
    headers: {
      "content-type": "application/json",
      "user-agent": `imagewatch/${version}`,
      ...staticHeaders(webhook),
      // Last, so a static header can never replace the format's own (signature) headers.
      ...built.headers,
    },
  };
}

/**
 * Builds the request for one attempt at delivering `event` to `webhook`, at `attemptAtMs` (the attempt's
 * time: Standard Webhooks' `webhook-timestamp`, DingTalk's and Feishu's signing time). Throws a
 * non-retryable AppError when the request cannot be built (a standard webhook without a valid secret; code
 * `NOT_IMPLEMENTED` for an unknown format): the delivery is then dead-lettered with that message.
 */
export function buildRequest(
  event: DomainEvent,
  webhook: WebhookConfig,
  attemptAtMs: number,
  version = "dev",
): WebhookRequest {
  return withHeaders(webhookFormat(webhook.format).build(event, webhook, attemptAtMs), webhook, version);
}

/**
 * The request of one message carrying `events` (DESIGN §10): a digest when there are several and the format
 * builds digests, else `buildRequest` of the first. Throws like {@link buildRequest}.
 */
export function buildMessageRequest(
  events: readonly DomainEvent[],
  webhook: WebhookConfig,
  attemptAtMs: number,
  version = "dev",
): WebhookRequest {
  const format = webhookFormat(webhook.format);
  const [first] = events;
  if (first === undefined) throw new AppError("WEBHOOK_FAILED", "a message needs at least one event");
  if (events.length === 1 || format.buildDigest === undefined)
    return buildRequest(first, webhook, attemptAtMs, version);
  return withHeaders(format.buildDigest(events, webhook, attemptAtMs), webhook, version);
}
