/** `format: feishu`: a Feishu / Lark custom bot, optionally signed. */
import { createHmac } from "node:crypto";
import type { WebhookConfig } from "../../config/types.js";
import type { DomainEvent } from "../../domain/types.js";
import { chatText } from "./event-line.js";
import {
  codedError,
  DIGEST_GROUP,
  type FormatRequest,
  jsonObject,
  type WebhookFormatModule,
} from "./format.js";

function feishuRequest(
  events: readonly DomainEvent[],
  webhook: WebhookConfig,
  attemptAtMs: number,
): FormatRequest {
  const message = { msg_type: "text", content: { text: chatText(events, webhook.externalURL) } };
  if (!webhook.secret) return { body: JSON.stringify(message) };
  const timestamp = String(Math.floor(attemptAtMs / 1000));
  const sign = createHmac("sha256", `${timestamp}\n${webhook.secret}`).update("").digest("base64");
  return { body: JSON.stringify({ timestamp, sign, ...message }) };
}

/**
 * Feishu / Lark custom bots (the URL path is the token). With a secret, the body gets `timestamp`
 * (seconds) and `sign = base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = ""))`.
 */
export const feishuFormat: WebhookFormatModule<"feishu"> = {
  name: "feishu",
  build: (event, webhook, attemptAtMs) => feishuRequest([event], webhook, attemptAtMs),
  buildDigest: feishuRequest,
  /** A custom bot's request body takes at most 20 KB. */
  maxBodyBytes: 20_000,
  /** `{"code": 0}` (or the older `{"StatusCode": 0}`) is success; 9499 and 11232 are its frequency limits. */
  platformError(body) {
    const parsed = jsonObject(body);
    return (
      parsed &&
      codedError(
        "feishu",
        parsed.code ?? parsed.StatusCode,
        parsed.msg ?? parsed.StatusMessage,
        [9499, 11232],
      )
    );
  },
  secret: { use: "optional" },
  urlPathIsCredential: true,
  defaults: { group: DIGEST_GROUP, rateLimit: { count: 5, per: 1000 } },
};
