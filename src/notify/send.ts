/**
 * One HTTP POST of a webhook request through an injected undici dispatcher. Failures are results
 * (data), not exceptions: the caller classifies them with the retry policy.
 */
import type { Dispatcher } from "undici";
import { coerceError } from "../lib/errors.js";
import type { AttemptResult } from "./retry-policy.js";

/** How many bytes of a response body are kept (the rest is read and dropped, so the connection is reusable). */
const RESPONSE_BODY_KEEP_BYTES = 4096;

/** {@link AttemptResult} plus the case where the caller aborted the attempt (shutdown). */
export type SendResult = (AttemptResult | { kind: "aborted" }) & { durationMs: number };

/** Options of {@link sendWebhookRequest}. */
export interface SendOptions {
  dispatcher: Dispatcher;
  /** Whole-attempt timeout: connect, headers and body (ms). */
  timeoutMs: number;
  /** Aborts the attempt (shutdown); reported as `{kind: "aborted"}`. */
  signal?: AbortSignal;
  /** Measures the duration; a monotonic source by default. */
  now?: () => number;
}

const TIMEOUT = Symbol("timeout");

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * POSTs `body` with `headers` to `url`. Always consumes the response body, keeping its first
 * {@link RESPONSE_BODY_KEEP_BYTES} bytes. Never throws: network errors, timeouts and aborts come back as
 * results. Error texts never include the URL (chat webhook URLs carry tokens).
 */
export async function sendWebhookRequest(
  url: string,
  req: { body: string; headers: Record<string, string> },
  options: SendOptions,
): Promise<SendResult> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) return { kind: "aborted", durationMs: 0 };
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const timer = setTimeout(() => controller.abort(TIMEOUT), options.timeoutMs);
  try {
    const target = new URL(url);
    const res = await options.dispatcher.request({
      origin: target.origin,
      path: `${target.pathname}${target.search}`,
      method: "POST",
      body: req.body,
      headers: req.headers,
      signal: controller.signal,
    });
    const chunks: Buffer[] = [];
    let kept = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (kept < RESPONSE_BODY_KEEP_BYTES) {
        const part = chunk.subarray(0, RESPONSE_BODY_KEEP_BYTES - kept);
        chunks.push(part);
        kept += part.length;
      }
    }
    return {
      kind: "response",
      status: res.statusCode,
      body: Buffer.concat(chunks).toString("utf8"),
      retryAfter: headerValue(res.headers["retry-after"]),
      durationMs: now() - started,
    };
  } catch (err) {
    const durationMs = now() - started;
    if (controller.signal.aborted) {
      if (controller.signal.reason === TIMEOUT)
        return { kind: "timeout", timeoutMs: options.timeoutMs, durationMs };
      return { kind: "aborted", durationMs };
    }
    const e = coerceError(err);
    const code = (e as { code?: unknown }).code;
    const message =
      typeof code === "string" && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
    return { kind: "network", message, durationMs };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onOuterAbort);
  }
}
