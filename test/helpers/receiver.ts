/**
 * A loopback webhook receiver for tests (127.0.0.1, port 0). Every request is verified with the
 * `standardwebhooks` library; verified ones are recorded as deliveries. Responses can be scripted per
 * request: a status (with headers such as Retry-After), a delay, holding the request until released, or
 * destroying the socket.
 */
import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

/** What the receiver does with one request. */
export type ReceiverAction =
  | {
      status?: number;
      headers?: Record<string, string>;
      body?: string;
      /** Wait this long before answering (ms). */
      delayMs?: number;
      /** Wait until `release()` is called before answering. */
      hold?: boolean;
    }
  | { destroy: true };

/** One request as the receiver saw it. */
export interface ReceivedRequest {
  index: number;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The parsed payload when the signature verified, else undefined. */
  payload: { type: string; timestamp: string; data: Record<string, unknown> } | undefined;
  verified: boolean;
  verifyError?: string;
  /** Event id (`webhook-id`). */
  id: string | undefined;
  receivedAt: number;
  /** The action taken. */
  action: ReceiverAction;
}

export interface ReceiverOptions {
  /** The Standard Webhooks secret to verify with; without it nothing is verified (chat formats). */
  secret?: string;
  /** Actions for the first requests, in order; then `respond`, then 200. */
  script?: ReceiverAction[];
  /** Decides the action for a request (after the script ran out). Return undefined for the default 200. */
  respond?: (req: ReceivedRequest) => ReceiverAction | undefined;
  /** Status for an unverifiable request when a secret is set; default 401. */
  rejectStatus?: number;
}

export interface Receiver {
  url: string;
  port: number;
  /** Every request, in arrival order. */
  requests: ReceivedRequest[];
  /** Requests that verified and were answered 2xx: what a real receiver would have accepted. */
  accepted(): ReceivedRequest[];
  /** Appends actions to the script. */
  enqueue(...actions: ReceiverAction[]): void;
  /** Replaces the fallback responder. */
  setResponder(respond: ReceiverOptions["respond"]): void;
  /** Answers every held request (and the ones held later, until `hold` again). */
  release(): void;
  /** Number of requests currently held or delayed (not yet answered). */
  open(): number;
  /** The most requests ever held or delayed at once. */
  maxOpen(): number;
  /** Resolves once `predicate()` is true, polling; rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

/** Polls `predicate` every few ms until it holds; rejects with `what` after `timeoutMs`. */
export async function waitUntil(
  predicate: () => boolean,
  timeoutMs = 10_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Starts a receiver on 127.0.0.1:0. */
export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const script = [...(options.script ?? [])];
  let respond = options.respond;
  const requests: ReceivedRequest[] = [];
  const answeredStatus = new Map<number, number>();
  let releaseHeld: Array<() => void> = [];
  let openCount = 0;
  let maxOpenCount = 0;
  const verifier = options.secret ? new Webhook(options.secret) : undefined;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const id = typeof req.headers["webhook-id"] === "string" ? req.headers["webhook-id"] : undefined;
    const rec: ReceivedRequest = {
      index: requests.length,
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body,
      payload: undefined,
      verified: false,
      id,
      receivedAt: Date.now(),
      action: {},
    };
    if (verifier) {
      try {
        rec.payload = verifier.verify(
          body,
          req.headers as Record<string, string>,
        ) as ReceivedRequest["payload"];
        rec.verified = true;
      } catch (err) {
        rec.verifyError = err instanceof Error ? err.message : String(err);
      }
    } else {
      try {
        rec.payload = JSON.parse(body);
      } catch {
        rec.payload = undefined;
      }
    }
    requests.push(rec);

    let action: ReceiverAction;
    if (verifier && !rec.verified) action = { status: options.rejectStatus ?? 401, body: "bad signature" };
    else action = script.shift() ?? respond?.(rec) ?? { status: 200, body: "ok" };
    rec.action = action;

    if ("destroy" in action) {
      req.socket.destroy();
      return;
    }
    openCount++;
    maxOpenCount = Math.max(maxOpenCount, openCount);
    try {
      if (action.delayMs) await new Promise((r) => setTimeout(r, action.delayMs));
      if (action.hold) await new Promise<void>((r) => releaseHeld.push(r));
    } finally {
      openCount--;
    }
    const status = action.status ?? 200;
    answeredStatus.set(rec.index, status);
    if (res.destroyed) return;
    res.writeHead(status, { "content-type": "text/plain", ...(action.headers ?? {}) });
    res.end(action.body ?? (status < 300 ? "ok" : `status ${status}`));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      res.destroy();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    requests,
    accepted: () =>
      requests.filter((r) => {
        const status = answeredStatus.get(r.index);
        return (
          (verifier === undefined || r.verified) && status !== undefined && status >= 200 && status < 300
        );
      }),
    enqueue: (...actions) => {
      script.push(...actions);
    },
    setResponder: (fn) => {
      respond = fn;
    },
    release: () => {
      const held = releaseHeld;
      releaseHeld = [];
      for (const r of held) r();
    },
    open: () => openCount,
    maxOpen: () => maxOpenCount,
    waitFor: (predicate, timeoutMs = 10_000, what = "receiver condition") =>
      waitUntil(predicate, timeoutMs, what),
    close: async () => {
      const held = releaseHeld;
      releaseHeld = [];
      for (const r of held) r();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
