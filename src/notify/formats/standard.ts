/**
 * `format: standard`: Standard Webhooks (DESIGN §6). The body is `{type, timestamp, data}`, the same string
 * on every attempt; each attempt is signed afresh with its own time as `webhook-timestamp`.
 */
import { Webhook } from "standardwebhooks";
import type { DomainEvent } from "../../domain/types.js";
import { AppError } from "../../lib/errors.js";
import type { WebhookFormatModule } from "./format.js";

const WHSEC = /^whsec_([A-Za-z0-9+/]+={0,2})$/;
/** Standard Webhooks recommends 24 to 64 random bytes. */
const RECOMMENDED_SECRET_BYTES = 24;

/** The bytes of a `whsec_<base64>` secret: canonical, non-empty base64, else undefined. */
function secretBytes(secret: string): number | undefined {
  const m = WHSEC.exec(secret);
  if (!m) return undefined;
  const b64 = m[1] as string;
  const bytes = Buffer.from(b64, "base64");
  return bytes.length > 0 && bytes.toString("base64") === b64 ? bytes.length : undefined;
}

/** The body of a `format: standard` delivery: `{type, timestamp (when observed), data}`. */
function standardBody(event: DomainEvent): string {
  return JSON.stringify({
    type: event.type,
    timestamp: new Date(event.occurredAt).toISOString(),
    data: event.data,
  });
}

/**
 * Standard Webhooks: headers `webhook-id` (the event id), `webhook-timestamp` (the attempt, seconds) and
 * `webhook-signature`; one event per request, no rate limit. The secret `whsec_<base64>` is required.
 */
export const standardFormat: WebhookFormatModule<"standard"> = {
  name: "standard",
  build(event, webhook, attemptAtMs) {
    // The config schema refuses both; a delivery built from a config it did not check is dead-lettered.
    if (webhook.secret === undefined || webhook.secret === "") {
      throw new AppError("CONFIG_INVALID", "format standard needs a secret (whsec_<base64>)");
    }
    let signer: Webhook;
    try {
      signer = new Webhook(webhook.secret);
    } catch {
      // Never quotes the secret.
      throw new AppError("CONFIG_INVALID", "webhook secret is not a valid whsec_<base64> secret");
    }
    const body = standardBody(event);
    const signature = signer.sign(event.id, new Date(attemptAtMs), body);
    return {
      body,
      headers: {
        "webhook-id": event.id,
        "webhook-timestamp": String(Math.floor(attemptAtMs / 1000)),
        "webhook-signature": signature,
      },
    };
  },
  platformError: () => undefined,
  secret: {
    use: "required",
    problem(secret) {
      if (secret === undefined || secret === "") return "required for format standard (whsec_<base64>)";
      return secretBytes(secret) === undefined ? "must look like whsec_<base64>" : undefined;
    },
    advice(secret) {
      const bytes = secretBytes(secret);
      return bytes !== undefined && bytes < RECOMMENDED_SECRET_BYTES
        ? `only ${bytes} bytes; Standard Webhooks recommends 24 to 64 random bytes`
        : undefined;
    },
  },
  urlPathIsCredential: false,
  defaults: { group: { wait: 0, max: 1 }, rateLimit: null },
};
