/** The dispatcher webhooks are sent through, by the daemon and by `webhook test` alike. */
import type { Dispatcher } from "undici";
import { createDefaultDispatcher } from "../cloud/transport.js";

/** Connect timeout of webhook connections (ms); each attempt's whole timeout is the webhook's `timeout`. */
const WEBHOOK_CONNECT_TIMEOUT_MS = 30_000;

/**
 * A keep-alive dispatcher for webhooks that honours `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` from `env`
 * (passed in, never read from process.env), like the cloud client. The caller closes it.
 */
export function createWebhookDispatcher(env: Readonly<Record<string, string | undefined>>): Dispatcher {
  return createDefaultDispatcher({ requestTimeout: WEBHOOK_CONNECT_TIMEOUT_MS }, env);
}
