/** `format: slack`: a Slack incoming webhook, `{"text": …}`. */

import { chatLine } from "./event-line.js";
import { DIGEST_GROUP, jsonObject, type WebhookFormatModule } from "./format.js";

/** Slack incoming webhooks (the URL path is the token). */
export const slackFormat: WebhookFormatModule<"slack"> = {
  name: "slack",
  build: (event) => ({ body: JSON.stringify({ text: chatLine(event) }) }),
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
