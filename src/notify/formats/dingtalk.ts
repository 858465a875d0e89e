/** `format: dingtalk`: a DingTalk custom robot, optionally signed ("加签"). */
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

function dingtalkRequest(
  events: readonly DomainEvent[],
  webhook: WebhookConfig,
  attemptAtMs: number,
): FormatRequest {
  const body = JSON.stringify({ msgtype: "text", text: { content: chatText(events, webhook.externalURL) } });
  if (!webhook.secret) return { body };
  const timestamp = String(Math.floor(attemptAtMs));
  const sign = createHmac("sha256", webhook.secret)
    .update(`${timestamp}\n${webhook.secret}`)
    .digest("base64");
  const url = new URL(webhook.url);
  url.searchParams.set("timestamp", timestamp);
  url.searchParams.set("sign", sign);
  return { body, url: url.toString() };
}

/**
 * DingTalk custom robots. With a secret, the URL gets `timestamp` (ms) and
 * `sign = base64(HMAC-SHA256(secret, timestamp + "\n" + secret))`.
 */
export const dingtalkFormat: WebhookFormatModule<"dingtalk"> = {
  name: "dingtalk",
  build: (event, webhook, attemptAtMs) => dingtalkRequest([event], webhook, attemptAtMs),
  buildDigest: dingtalkRequest,
  /** A text message takes about 20,000 bytes. */
  maxBodyBytes: 20_000,
  /** `{"errcode": 0}` is success; 130101 is its frequency limit. */
  platformError(body) {
    const parsed = jsonObject(body);
    return parsed && codedError("dingtalk", parsed.errcode, parsed.errmsg, [130101]);
  },
  secret: { use: "optional" },
  urlPathIsCredential: false,
  defaults: { group: DIGEST_GROUP, rateLimit: { count: 20, per: 60_000 } },
};
