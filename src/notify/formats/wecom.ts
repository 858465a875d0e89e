/** `format: wecom`: a WeCom (企业微信) group robot, `{"msgtype":"text","text":{"content":…}}`. */
import type { WebhookConfig } from "../../config/types.js";
import type { DomainEvent } from "../../domain/types.js";
import { chatText } from "./event-line.js";
import { codedError, DIGEST_GROUP, jsonObject, type WebhookFormatModule } from "./format.js";

function wecomBody(events: readonly DomainEvent[], webhook: WebhookConfig): { body: string } {
  return {
    body: JSON.stringify({ msgtype: "text", text: { content: chatText(events, webhook.externalURL) } }),
  };
}

/** WeCom group robots (the URL's `key` is the credential; no signing). */
export const wecomFormat: WebhookFormatModule<"wecom"> = {
  name: "wecom",
  build: (event, webhook) => wecomBody([event], webhook),
  buildDigest: wecomBody,
  /** `text.content` takes at most 2048 bytes; measuring the whole body keeps the cut on the safe side. */
  maxBodyBytes: 2048,
  /** `{"errcode": 0}` is success; 45009 is its frequency limit. */
  platformError(body) {
    const parsed = jsonObject(body);
    return parsed && codedError("wecom", parsed.errcode, parsed.errmsg, [45009]);
  },
  secret: { use: "unused" },
  urlPathIsCredential: false,
  defaults: { group: DIGEST_GROUP, rateLimit: { count: 20, per: 60_000 } },
};
