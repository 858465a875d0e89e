/**
 * What one webhook format is (DESIGN §6, §10): how it builds a request, how it reads a 2xx answer, what its
 * secret must be, whether its URL is a credential, and its delivery defaults. Each format is one module in
 * this folder; `index.ts` is the registry that config, masking and delivery read.
 */
import type { WebhookConfig } from "../../config/types.js";
import type { DomainEvent } from "../../domain/types.js";

/** A format's part of one attempt's request; the delivery adds the common headers. */
export interface FormatRequest {
  body: string;
  /** Set when the format signs the URL itself (DingTalk); otherwise the webhook's URL is used. */
  url?: string;
  /** Headers the format sets itself; they come last, so a static header cannot replace them. */
  headers?: Record<string, string>;
}

/** An error a platform reported in a 2xx body; `retryable` for its frequency limits. */
export interface PlatformError {
  message: string;
  retryable: boolean;
}

/** What a format asks of `webhooks[].secret`. */
export interface SecretRules {
  /** `required`: must be set; `optional`: a signing secret, used when set; `unused`: ignored (a warning). */
  use: "required" | "optional" | "unused";
  /** The config error for a missing (`undefined`) or malformed secret, or undefined when it is fine. Never quotes it. */
  problem?(secret: string | undefined): string | undefined;
  /** A warning about a valid secret (e.g. too short), or undefined. Never quotes it. */
  advice?(secret: string): string | undefined;
}

/** Delivery defaults of a format (DESIGN §10), in milliseconds. */
export interface FormatDefaults {
  /** Digest window and size: events due within `wait` go out together, up to `max` (wait 0 = one per request). */
  group: { wait: number; max: number };
  /** Messages per window, or null for no limit. */
  rateLimit: { count: number; per: number } | null;
}

/** One webhook format. */
export interface WebhookFormatModule<Name extends string = string> {
  /** The `format:` value of the config. */
  readonly name: Name;
  /**
   * The body (and URL or headers, when the format signs them) of one attempt at `attemptAtMs`. Pure; throws
   * a non-retryable AppError when the request cannot be built (a secret the format cannot use).
   */
  build(event: DomainEvent, webhook: WebhookConfig, attemptAtMs: number): FormatRequest;
  /**
   * Formats that send digests (DESIGN §10): the request for several events in one message, in order. Pure,
   * like `build`; `buildDigest([event])` equals `build(event)`. Without it the format sends one event per
   * request (`standard`), and its `group` cannot be configured.
   */
  buildDigest?(events: readonly DomainEvent[], webhook: WebhookConfig, attemptAtMs: number): FormatRequest;
  /** The largest body the platform accepts (bytes): a digest is cut to fit. Default: no limit. */
  readonly maxBodyBytes?: number;
  /** The error a 2xx `body` reports (chat platforms answer 200 with an error code), or undefined for success. */
  platformError(body: string): PlatformError | undefined;
  readonly secret: SecretRules;
  /** True when the URL path beyond its first segment is the credential (masked like a secret). */
  readonly urlPathIsCredential: boolean;
  /** The `group` and `rateLimit` of a webhook that does not set them (DESIGN §10). */
  readonly defaults: FormatDefaults;
}

/** `group` of the chat formats and alertmanager: wait 5s, at most 50 events per message. */
export const DIGEST_GROUP = { wait: 5000, max: 50 } as const;

/** The body as a JSON object, or undefined when it is not one (nothing to check: the 2xx stands). */
export function jsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The platform error of a body whose `code` is non-zero: `<format> error <code>: <msg>`, retryable when the
 * code is one of the platform's frequency limits.
 */
export function codedError(
  format: string,
  code: unknown,
  msg: unknown,
  frequencyLimits: readonly number[],
): PlatformError | undefined {
  if (code === undefined || code === null || code === 0 || code === "0") return undefined;
  return {
    message: `${format} error ${String(code)}: ${typeof msg === "string" ? msg : ""}`.trim(),
    retryable: frequencyLimits.includes(Number(code)),
  };
}
