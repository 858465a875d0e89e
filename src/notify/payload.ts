/**
 * Webhook request builders, one per `format` (DESIGN.md §6). Pure functions of the event, the webhook's
 * config and the attempt time: each attempt is built and signed afresh, so a retry carries a new
 * timestamp and signature while the id and body stay the same.
 */
import { Webhook } from "standardwebhooks";
import type { WebhookConfig } from "../config/types.js";
import type { DomainEvent } from "../domain/types.js";
import { AppError } from "../lib/errors.js";
import {
  buildAlertmanager,
  buildDingtalk,
  buildFeishu,
  buildSlack,
  buildWecom,
  type FormattedRequest,
} from "./chat-formats.js";

/** One HTTP POST to send. `url` is set only when the format signs the URL itself. */
export interface WebhookRequest {
  body: string;
  headers: Record<string, string>;
  url?: string;
}

/** The Standard Webhooks body: `{type, timestamp, data}`. */
export interface StandardPayload {
  type: string;
  /** When imagewatch observed the event (ISO 8601), not the attempt time. */
  timestamp: string;
  data: DomainEvent["data"];
}

/** The body of a `format: standard` delivery; the same string on every attempt. */
export function buildStandardBody(event: DomainEvent): string {
  const payload: StandardPayload = {
    type: event.type,
    timestamp: new Date(event.occurredAt).toISOString(),
    data: event.data,
  };
  return JSON.stringify(payload);
}

/** Lower-cases the names of the webhook's static headers, so they cannot duplicate ours under another case. */
function staticHeaders(webhook: WebhookConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(webhook.headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

/**
 * Signs `body` the Standard Webhooks way. Throws a non-retryable AppError (which never quotes the secret)
 * when the secret is missing or not `whsec_<base64>`.
 */
export function signStandard(
  secret: string | undefined,
  msgId: string,
  attemptAtMs: number,
  body: string,
): string {
  if (secret === undefined || secret === "") {
    throw new AppError("CONFIG_INVALID", "format standard needs a secret (whsec_<base64>)");
  }
  let signer: Webhook;
  try {
    signer = new Webhook(secret);
  } catch {
    throw new AppError("CONFIG_INVALID", "webhook secret is not a valid whsec_<base64> secret");
  }
  return signer.sign(msgId, new Date(attemptAtMs), body);
}

function buildStandard(
  event: DomainEvent,
  webhook: WebhookConfig,
  attemptAtMs: number,
  version: string,
): WebhookRequest {
  const body = buildStandardBody(event);
  const signature = signStandard(webhook.secret, event.id, attemptAtMs, body);
  return {
    body,
    headers: {
      "content-type": "application/json",
      "user-agent": `imagewatch/${version}`,
      ...staticHeaders(webhook),
      // Last, so a static header can never replace the signature headers.
      "webhook-id": event.id,
      "webhook-timestamp": String(Math.floor(attemptAtMs / 1000)),
      "webhook-signature": signature,
    },
  };
}

function withJsonHeaders(webhook: WebhookConfig, version: string, req: FormattedRequest): WebhookRequest {
  return {
    ...req,
    headers: {
      "content-type": "application/json",
      "user-agent": `imagewatch/${version}`,
      ...staticHeaders(webhook),
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
  switch (webhook.format) {
    case "standard":
      return buildStandard(event, webhook, attemptAtMs, version);
    case "slack":
      return withJsonHeaders(webhook, version, buildSlack(event));
    case "wecom":
      return withJsonHeaders(webhook, version, buildWecom(event));
    case "dingtalk":
      return withJsonHeaders(webhook, version, buildDingtalk(event, webhook, attemptAtMs));
    case "feishu":
      return withJsonHeaders(webhook, version, buildFeishu(event, webhook, attemptAtMs));
    case "alertmanager":
      return withJsonHeaders(webhook, version, buildAlertmanager(event, webhook));
    default:
      throw new AppError("NOT_IMPLEMENTED", `format ${String(webhook.format)} not implemented`);
  }
}
