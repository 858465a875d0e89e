/**
 * `imagewatch webhook test`: one signed `imagewatch.test` event, sent once, no retries.
 */
import { randomUUID } from "node:crypto";
import type { Dispatcher } from "undici";
import type { WebhookConfig } from "../config/types.js";
import type { DomainEvent } from "../domain/types.js";
import type { Clock } from "../lib/clock.js";
import { AppError } from "../lib/errors.js";
import { webhookFormat } from "./formats/index.js";
import { buildRequest } from "./payload.js";
import { describeAttemptFailure } from "./retry-policy.js";
import { sendWebhookRequest } from "./send.js";

/** A synthetic `imagewatch.test` event with a fresh id, occurring at `now`. */
function createTestEvent(now: number, webhookName: string): DomainEvent {
  const id = `evt_test_${randomUUID().replaceAll("-", "")}`;
  return {
    id,
    type: "imagewatch.test",
    occurredAt: now,
    projectId: "",
    serverId: "",
    data: {
      event_id: id,
      project_id: "",
      server_id: "",
      name: "",
      status: null,
      webhook: webhookName,
      message: "imagewatch test event: this webhook is configured correctly",
    },
  };
}

/** What the receiver answered to a test event. */
export interface TestEventResult {
  status: number;
  /** The response body, at most a few KiB. */
  body: string;
  durationMs: number;
  /** The id the test event was sent with. */
  eventId: string;
  /** For chat formats: the error a 2xx body reported (the platform refused the message). */
  platformError?: string;
}

/**
 * Sends one `imagewatch.test` event to `webhook`, once, through `deps.dispatcher` (the caller's; it stays
 * open). Resolves with the receiver's answer whatever its status; rejects with an AppError
 * (`WEBHOOK_FAILED`, retryable) on a network error or timeout, and with the builder's error when the
 * request cannot be built (missing secret, unsupported format).
 */
export async function sendTestEvent(
  webhook: WebhookConfig,
  deps: { clock: Clock; dispatcher: Dispatcher; version: string },
): Promise<TestEventResult> {
  const now = deps.clock.now();
  const event = createTestEvent(now, webhook.name);
  const req = buildRequest(event, webhook, now, deps.version);
  const result = await sendWebhookRequest(req.url ?? webhook.url, req, {
    dispatcher: deps.dispatcher,
    timeoutMs: webhook.timeout,
  });
  if (result.kind === "response") {
    const out: TestEventResult = {
      status: result.status,
      body: result.body,
      durationMs: result.durationMs,
      eventId: event.id,
    };
    if (result.status >= 200 && result.status <= 299) {
      const refused = webhookFormat(webhook.format).platformError(result.body);
      if (refused) out.platformError = refused.message;
    }
    return out;
  }
  const message = result.kind === "aborted" ? "aborted" : describeAttemptFailure(result);
  throw new AppError("WEBHOOK_FAILED", message, { retryable: true });
}
