/**
 * One HTTP exchange with undici: send, read the whole body, and turn transport failures into
 * CloudErrors. `requestTimeout` bounds the whole exchange — connect (TCP and TLS), response headers and
 * every byte of the body — through one AbortSignal, with undici's own headers/body timeouts as a
 * second line.
 */
import type { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import { Agent, type Dispatcher, EnvHttpProxyAgent } from "undici";
import type { CloudConfig } from "../config/types.js";
import { FAILURES } from "./classify.js";
import { CloudError } from "./errors.js";

/** Largest response body read (a page of 100 servers is ~100 KiB). */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** A request to send. `path` is path plus query, shown in errors and logs. */
export interface HttpRequest {
  method: "GET" | "POST" | "PUT";
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

/** A response with its whole body read. Header names are lower-case. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as received, chunk by chunk (joined only if `text` is read). */
  chunks: readonly Buffer[];
  /** The body decoded as UTF-8 (decoded once, when first read). */
  readonly text: string;
  /** `X-Request-Id`, when sent. */
  requestId?: string;
}

/**
 * A response whose chunks are joined and decoded only when read: a caller that recognises them (a list
 * page seen before, by its digest) never copies a ~150 KB body nor turns it into a string.
 */
class ReadResponse implements HttpResponse {
  #text: string | undefined;
  requestId?: string;
  constructor(
    readonly status: number,
    readonly headers: Record<string, string | string[] | undefined>,
    readonly chunks: readonly Buffer[],
  ) {}

  get text(): string {
    this.#text ??= (
      this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks)
    ).toString("utf8");
    return this.#text;
  }
}

/** How the exchange is bounded. */
export interface SendOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
  /** The caller's signal: its abort rejects with its reason, unclassified. */
  signal?: AbortSignal;
}

const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** A short label of a request for messages: `GET /v1/…/image-servers/…`. */
export function describeRequest(req: HttpRequest): string {
  return `${req.method} ${req.url.pathname}`;
}

/**
 * `host:port` of a request's URL, the port always shown (`443` for https by default): what a connection
 * error names. Never userinfo, path or query.
 */
export function hostPort(url: URL): string {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname}:${port}`;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function errorCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Throws `CLOUD_TIMEOUT` / `CLOUD_NETWORK` for a failed exchange (or the caller's abort reason). */
function classifyTransportError(
  err: unknown,
  req: HttpRequest,
  phase: "connect or headers" | "body",
  timedOut: boolean,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  requestId: string | undefined,
): never {
  if (signal?.aborted && !timedOut) throw signal.reason;
  const code = errorCodeOf(err);
  const extra = requestId === undefined ? {} : { requestId };
  const where = `${describeRequest(req)} to ${hostPort(req.url)}`;
  if (timedOut || (code !== undefined && TIMEOUT_CODES.has(code))) {
    const what = phase === "body" ? "response body not complete" : "no response headers";
    throw new CloudError(FAILURES.timeout, `${where}: ${what} within ${timeoutMs} ms`, {
      cause: err,
      ...extra,
    });
  }
  const detail = code ?? (err instanceof Error ? err.name : "error");
  throw new CloudError(FAILURES.network, `${where}: network error (${detail})`, { cause: err, ...extra });
}

/**
 * Sends one request and reads its whole body. Never retries. Rejects with a CloudError of code
 * `CLOUD_TIMEOUT` or `CLOUD_NETWORK` (retryable), `CLOUD_INVALID_RESPONSE` for an oversized body, or
 * with the caller's abort reason.
 */
export async function sendHttp(req: HttpRequest, options: SendOptions): Promise<HttpResponse> {
  // One controller for the timeout and the caller's signal, and one promise that rejects when it
  // aborts: undici notices an abort only once the connection is up (nodejs/undici#386), so a stalled
  // connect or TLS handshake would outlive the timeout unless the wait for headers races it.
  const controller = new AbortController();
  let stop: (reason: unknown) => void = () => {};
  const stopped = new Promise<never>((_, reject) => {
    stop = reject;
  });
  stopped.catch(() => {}); // raced below; a stop after the answer is nobody's error
  let timedOut = false;
  const abort = (reason: unknown) => {
    controller.abort(reason);
    stop(reason);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    abort(new Error("request timeout"));
  }, options.timeoutMs);
  // The listener is removed afterwards, so a long-lived caller signal (the daemon's shutdown signal)
  // does not collect one per request.
  const onCallerAbort = () => abort(options.signal?.reason);
  if (options.signal?.aborted) onCallerAbort();
  else options.signal?.addEventListener("abort", onCallerAbort, { once: true });
  let phase: "connect or headers" | "body" = "connect or headers";
  let requestId: string | undefined;
  try {
    const pending = options.dispatcher.request({
      origin: req.url.origin,
      path: `${req.url.pathname}${req.url.search}`,
      method: req.method,
      headers: req.headers,
      ...(req.body === undefined ? {} : { body: req.body }),
      signal: controller.signal,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    const res = await Promise.race([pending, stopped]).catch((err: unknown) => {
      // The loser may still answer: drain it so its connection is freed.
      pending.then(
        (late) => late.body.dump().catch(() => {}),
        () => {},
      );
      throw err;
    });
    phase = "body";
    requestId = firstHeader(res.headers["x-request-id"]);
    // Once connected, an abort destroys the body stream, which rejects readBody.
    const chunks = await readBody(
      res.body,
      () =>
        new CloudError(
          FAILURES.invalid_response,
          `${describeRequest(req)}: response body larger than ${MAX_BODY_BYTES} bytes`,
          {
            httpStatus: res.statusCode,
            ...(requestId === undefined ? {} : { requestId }),
          },
        ),
    );
    const out = new ReadResponse(res.statusCode, res.headers, chunks);
    if (requestId !== undefined) out.requestId = requestId;
    return out;
  } catch (err) {
    if (err instanceof CloudError) throw err;
    return classifyTransportError(err, req, phase, timedOut, options.timeoutMs, options.signal, requestId);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onCallerAbort);
  }
}

/**
 * Collects a body's chunks (events, not async iteration: one promise per body, not one per chunk),
 * without joining them.
 * Past MAX_BODY_BYTES the stream is destroyed and the promise rejects with `tooLarge()`.
 */
function readBody(body: Readable, tooLarge: () => Error): Promise<Buffer[]> {
  return new Promise<Buffer[]>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(tooLarge());
        body.destroy();
        return;
      }
      chunks.push(chunk);
    });
    body.once("error", reject);
    body.once("end", () => resolve(chunks));
  });
}

/** What the default dispatcher needs from outside the cloud config. */
export interface DispatcherEnv {
  HTTPS_PROXY?: string | undefined;
  https_proxy?: string | undefined;
  HTTP_PROXY?: string | undefined;
  http_proxy?: string | undefined;
  NO_PROXY?: string | undefined;
  no_proxy?: string | undefined;
}

/**
 * The default dispatcher of a client: a keep-alive Agent (trusting the `ca` bundle that config loading
 * read from `caFile`, in addition to the system CAs), or an EnvHttpProxyAgent when `env` names a proxy
 * (`HTTPS_PROXY`/`HTTP_PROXY`, with `NO_PROXY` exceptions). `env` is passed in; process.env is never
 * read here, and no file is: building a client cannot fail on a file (a reload swaps only what it built).
 */
export function createDefaultDispatcher(
  config: Pick<CloudConfig, "ca" | "requestTimeout">,
  env: Readonly<Record<string, string | undefined>> = {},
): Dispatcher {
  const connect: { timeout: number; ca?: string[] } = { timeout: config.requestTimeout };
  // Extra CAs are added to Node's bundled roots, as NODE_EXTRA_CA_CERTS would.
  if (config.ca !== undefined) connect.ca = [...rootCertificates, config.ca];
  const common = { keepAliveTimeout: 30_000, keepAliveMaxTimeout: 60_000, connect };
  const httpsProxy = env.HTTPS_PROXY ?? env.https_proxy ?? "";
  const httpProxy = env.HTTP_PROXY ?? env.http_proxy ?? "";
  if (httpsProxy === "" && httpProxy === "") return new Agent(common);
  // Empty strings (not undefined) so undici does not fall back to reading process.env itself.
  return new EnvHttpProxyAgent({
    ...common,
    httpProxy,
    httpsProxy: httpsProxy === "" ? httpProxy : httpsProxy,
    noProxy: env.NO_PROXY ?? env.no_proxy ?? "",
    ...(connect.ca === undefined ? {} : { requestTls: { ca: connect.ca } }),
  });
}
