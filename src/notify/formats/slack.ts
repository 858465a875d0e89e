/** `format: slack`: a Slack incoming webhook, `{"text": …}`. */
import type { WebhookConfig } from "../../config/types.js";
import type { DomainEvent } from "../../domain/types.js";
import { chatText } from "./event-line.js";
import { DIGEST_GROUP, jsonObject, type WebhookFormatModule } from "./format.js";

function slackBody(events: readonly DomainEvent[], webhook: WebhookConfig): { body: string } {
  return { body: JSON.stringify({ text: chatText(events, webhook.externalURL) }) };
}

/** Slack incoming webhooks (the URL path is the token). */
export const slackFormat: WebhookFormatModule<"slack"> = {
  name: "slack",
  build: (event, webhook) => slackBody([event], webhook),
  buildDigest: slackBody,
  /** Slack truncates `text` beyond 40,000 characters. */
  maxBodyBytes: 40_000,
  /**
   * Incoming webhooks answer `ok` (errors are 4xx); Slack's JSON answers (workflow triggers) say
   * `{"ok": false, "error": …}` with a 200. Its rate limit is HTTP 429, or `rate_limited` there.
   */
  platformError(body) {
    const parsed = jsonObject(body);
    if (parsed?.ok !== false) return undefined;
    const error = typeof parsed.error === "string" ? parsed.error : "";
    return { message: `slack error: ${error}`.trim(), retryable: error === "rate_limited" };
  },
  secret: { use: "unused" },
  urlPathIsCredential: true,
  defaults: { group: DIGEST_GROUP, rateLimit: { count: 1, per: 1000 } },
};
