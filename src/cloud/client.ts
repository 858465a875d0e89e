/**
 * The Workspace image-server client: a single GET and the paginated list (API §1–2) of image
 * servers, and the image-job calls (API §6), with
 * credentials (auth/), shared flow control (rate-limiter.ts), retries (p-retry, retry-policy.ts) and
 * strict response classification (classify.ts). One client serves every target of a process.
 */
import { performance } from "node:perf_hooks";
import pRetry, { AbortError } from "p-retry";
import type { Dispatcher } from "undici";
import type { CloudConfig } from "../config/types.js";
import type { ImageJob, ImageJobDetail, ImageSubJob, JobType } from "../domain/jobs.js";
import type { ImageServer, RequestOutcome, ServerPollResult } from "../domain/types.js";
import type { Clock } from "../lib/clock.js";
import { settleLimit } from "../lib/concurrency.js";
import type { Logger } from "../lib/logger.js";
import { parseRetryAfter } from "../lib/retry-after.js";
import { createAuthProvider } from "./auth/kinds.js";
import type { AuthProvider } from "./auth/types.js";
import { type CallKind, classifyStatus, FAILURES } from "./classify.js";
import { CloudError, excerpt } from "./errors.js";
import { digestOf, ListingMemo, type PageMemo } from "./page-memo.js";
import {
  type ListPage,
  parseImageJobDetail,
  parseImageServer,
  parseJobListPage,
  parseListPage,
  parseSubJobListPage,
  readApiError,
  ShapeError,
} from "./parse.js";
import { createRateLimiter, realSleep, type Sleep } from "./rate-limiter.js";
import { cloudRetryDelay } from "./retry-policy.js";
import {
  createDefaultDispatcher,
  describeRequest,
  type HttpRequest,
  type HttpResponse,
  sendHttp,
} from "./transport.js";
import { exportWarmListings, type HeldServer, seedWarmListings, type WarmListings } from "./warm-listings.js";

/** The answer of the single GET: the server, or that it does not exist (a 404 is an answer). */
export type GetServerResult = Exclude<ServerPollResult, { kind: "failed" }>;

/** The Workspace API operations imagewatch uses. */
export interface CloudClient {
  /** One image server, or `not_found`. Throws CloudError only for failures. */
  getImageServer(
    projectId: string,
    serverId: string,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<GetServerResult>;
  /**
   * Every image server of a project matching the filter, across all pages (`limit=100`), each once,
   * sorted by id. A list is only returned when complete. Throws CloudError. A page whose body is
   * byte-for-byte that of the same page in the last complete listing of this project and filter is not
   * parsed: it gives the same objects as then (page-memo.ts).
   */
  listImageServers(
    projectId: string,
    filter?: ListFilter,
    options?: {
      signal?: AbortSignal | undefined;
      /**
       * The server the caller already holds for an id. An answer field-wise equal to its `raw` is not
       * parsed: the list holds the held object, so an unchanged answer's objects die young.
       */
      held?: (id: string) => ImageServer | undefined;
    },
  ): Promise<ImageServer[]>;
  /**
   * One page of ListImageJobs (default offset 0, limit 100): the API's total `count` (undefined when it
   * sent none) and the jobs of that page, without sub-jobs, in the API's (undocumented) order.
   */
  listImageJobs(
    projectId: string,
    query: JobPageQuery,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<ListPage<ImageJob>>;
  /**
   * Every job of a type (and status) across all pages (`limit=100`), each once, sorted by id; the same
   * completeness rules as `listImageServers`. Throws CloudError.
   */
  listAllImageJobs(
    projectId: string,
    filter: JobFilter,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<ImageJob[]>;
  /** Every sub-job of a type (and status, and job) across all pages, each once, sorted by id. */
  listImageSubJobs(
    projectId: string,
    filter: SubJobFilter,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<ImageSubJob[]>;
  /** One job with its sub-jobs, or `not_found`. Throws CloudError only for failures. */
  showImageJob(
    projectId: string,
    jobId: string,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<ShowJobResult>;
  /**
   * What this client remembers of its server listings, for the next process (warm-listings.ts): the
   * pages whose every server is, now, the very object `held` gives for its id.
   */
  exportListings(held: HeldServer): WarmListings;
  /**
   * Remembers the pages of listings a previous process exported (`exportListings`): their servers are
   * the held objects of their ids; a page naming a server not held, or a value this code did not write,
   * is ignored.
   */
  seedListings(warm: unknown, held: HeldServer): void;
  /** Closes the dispatcher if the client created it. */
  close(): Promise<void>;
}

/** The filter of the job lists: `job_type` is required by the API (400 without it). */
export interface JobFilter {
  jobType: JobType;
  status?: string | undefined;
}

/** One page of ListImageJobs. */
export interface JobPageQuery extends JobFilter {
  offset?: number | undefined;
  limit?: number | undefined;
}

/** The filter of ListImageSubJobs. */
export interface SubJobFilter extends JobFilter {
  jobId?: string | undefined;
}

/** The answer of ShowImageJob: the job, or that it does not exist (a 404 is an answer). */
export type ShowJobResult = { kind: "ok"; job: ImageJobDetail } | { kind: "not_found"; requestId?: string };

/** Filters of the list call (`server_name` is a partial match). */
export interface ListFilter {
  serverName?: string | undefined;
  enterpriseProjectId?: string | undefined;
}

/** What a client needs from its owner. */
export interface CloudClientDeps {
  clock: Clock;
  logger: Logger;
  /** Injected undici dispatcher (Pool/Agent/MockAgent); default: created from config and `env`. */
  dispatcher?: Dispatcher;
  /** Proxy variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) for the default dispatcher. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Called once per HTTP request sent to the Workspace API (each retry counts). */
  onRequest?: (r: { projectId: string; outcome: RequestOutcome; durationSeconds: number }) => void;
  /** Called once per IAM token request. */
  onTokenRefresh?: (outcome: "success" | "failure") => void;
  /** Jitter source in [0, 1). Default Math.random. */
  random?: () => number;
  /** Waits between retries and for the rate limiter. Default: a real, abortable timer. */
  sleep?: Sleep;
  /** The rate limiter's monotonic ms time source. Default performance.now. */
  now?: () => number;
}

/** The list call's page size (the API maximum). */
export const LIST_LIMIT = 100;
/** List pages in flight at once once the first page told the count (a restart reads 100 pages). */
export const LIST_CONCURRENCY = 4;
/** A listing never reads more pages than this (100,000 servers). */
const MAX_LIST_PAGES = 1000;
const REFRESH_CODES = new Set(["APIGW.0301", "APIG.0301"]);

interface CallSpec<T> {
  projectId: string;
  path: string;
  query?: Record<string, string>;
  /** The column of the classification table that judges the answers. */
  call: Exclude<CallKind, "iam">;
  parse: (body: unknown) => T;
  /** The value of a "not found" answer (single GETs only). */
  notFound?: (requestId: string | undefined) => T;
  /** What a byte-identical 2xx body parsed to before (list pages): such a body is not parsed again. */
  memo?: PageMemo<T>;
}

/** What one exchange produced: the value, and the outcome it counts as. */
interface Answer<T> {
  value: T;
  outcome: "success" | "not_found";
  /** The body was byte-for-byte the remembered one (page-memo.ts): not parsed. */
  unchanged?: true;
}

/** Creates a client. The caller owns an injected dispatcher; a default one is closed by `close()`. */
export function createCloudClient(config: CloudConfig, deps: CloudClientDeps): CloudClient {
  const logger = deps.logger.child({ component: "cloud" });
  const ownsDispatcher = deps.dispatcher === undefined;
  const dispatcher = deps.dispatcher ?? createDefaultDispatcher(config, deps.env ?? {});
  const sleep = deps.sleep ?? realSleep;
  const random = deps.random ?? Math.random;
  const retry = config.retry;
  const attempts = Math.max(1, Math.floor(retry.attempts));
  const limiter = createRateLimiter({
    ratePerSecond: config.maxRequestsPerSecond,
    cooldownMs: retry.maxDelay,
    now: deps.now ?? (() => performance.now()),
    sleep,
  });
  const auth: AuthProvider = createAuthProvider(config.auth, {
    clock: deps.clock,
    logger,
    dispatcher,
    timeoutMs: config.requestTimeout,
    iamEndpoint: config.iamEndpoint,
    region: config.region,
    refreshRetryMs: retry.minDelay,
    ...(deps.onTokenRefresh ? { onTokenRefresh: deps.onTokenRefresh } : {}),
  });
  let closed = false;
  /** The pages of the last complete listing of each project and filter (see page-memo.ts). */
  const listings = new ListingMemo<ListPage, readonly ImageServer[]>();

  /** The API error object of a body, if the body is one. */
  function apiErrorOf(res: HttpResponse): ReturnType<typeof readApiError> {
    try {
      return readApiError(JSON.parse(res.text));
    } catch {
      return undefined;
    }
  }

  /**
   * Judges a non-2xx answer (or a 2xx carrying an error object) by the classification table: a
   * "not found" answer, or the CloudError to throw.
   */
  function judgeError<T>(req: HttpRequest, res: HttpResponse, spec: CallSpec<T>): Answer<T> {
    const apiError = apiErrorOf(res);
    const errorCode = apiError?.errorCode;
    const requestId = res.requestId ?? apiError?.requestId;
    const status = res.status;
    const verdict = classifyStatus(status, spec.call, errorCode);
    if (verdict === "not_found" && spec.notFound) {
      return { value: spec.notFound(requestId), outcome: "not_found" };
    }
    // A call without a "not found" answer reads that 404 as the list does: a client error.
    const failure = verdict === "not_found" ? classifyStatus(status, "list", errorCode) : verdict;
    const errorMsg =
      apiError?.errorMsg === undefined ? undefined : excerpt(apiError.errorMsg, auth.secrets());
    const detail = [errorCode, errorMsg].filter((s) => s !== undefined).join(": ");
    // A body that is no API error object (a proxy's HTML page) is quoted briefly instead.
    const quoted =
      apiError === undefined && res.text.trim() !== ""
        ? `; body: ${excerpt(res.text, auth.secrets(), 120)}`
        : "";
    const hint = errorCode === "APIGW.0303" ? " (signature expired: is the clock more than 15 min off?)" : "";
    const message =
      status >= 200 && status < 300
        ? `${describeRequest(req)}: error object in a ${status} answer${detail ? ` (${detail})` : ""}`
        : `${describeRequest(req)}: HTTP ${status}${detail ? ` ${detail}` : ""}${hint}${quoted}`;
    const retryAfterMs = failure.retryable
      ? parseRetryAfter(res.headers["retry-after"], deps.clock.now())
      : undefined;
    throw new CloudError(failure, message, {
      httpStatus: status,
      ...(errorCode === undefined ? {} : { errorCode }),
      ...(errorMsg === undefined ? {} : { errorMsg }),
      ...(requestId === undefined ? {} : { requestId }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }

  /** Classifies a response: the parsed value (or "not found"), or a thrown CloudError. */
  function interpret<T>(req: HttpRequest, res: HttpResponse, spec: CallSpec<T>): Answer<T> {
    if (res.status < 200 || res.status >= 300) return judgeError(req, res, spec);
    const digest = spec.memo === undefined ? undefined : digestOf(res.chunks);
    const recalled = digest === undefined ? undefined : spec.memo?.recall(digest);
    if (recalled !== undefined) return { value: recalled, outcome: "success", unchanged: true };
    const invalid = (why: string) =>
      new CloudError(
        FAILURES.invalid_response,
        `${describeRequest(req)}: ${why}; body: ${excerpt(res.text, auth.secrets()) || "(empty)"}`,
        {
          httpStatus: res.status,
          ...(res.requestId === undefined ? {} : { requestId: res.requestId }),
        },
      );
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      throw invalid("malformed JSON");
    }
    if (readApiError(body)?.errorCode !== undefined) return judgeError(req, res, spec);
    try {
      const value = spec.parse(body);
      if (digest !== undefined) spec.memo?.remember(digest, value);
      return { value, outcome: "success" };
    } catch (err) {
      if (err instanceof ShapeError) throw invalid(`unexpected shape (${err.message})`);
      throw err;
    }
  }

  /** The unsigned request of a call. */
  function buildRequest(spec: CallSpec<unknown>): HttpRequest {
    const url = new URL(`${config.endpoint}${spec.path}`);
    for (const [k, v] of Object.entries(spec.query ?? {})) url.searchParams.set(k, v);
    return { method: "GET", url, headers: { Accept: "application/json" } };
  }

  /** One HTTP exchange of an authorized request: send, classify, report to onRequest and the debug log. */
  async function exchange<T>(
    req: HttpRequest,
    spec: CallSpec<T>,
    attempt: number,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const started = performance.now();
    let outcome: RequestOutcome | undefined;
    let status: number | undefined;
    let requestId: string | undefined;
    let unchanged = false;
    try {
      const res = await sendHttp(req, {
        dispatcher,
        timeoutMs: config.requestTimeout,
        ...(signal ? { signal } : {}),
      });
      status = res.status;
      requestId = res.requestId;
      const answer = interpret(req, res, spec);
      outcome = answer.outcome;
      unchanged = answer.unchanged === true;
      return answer.value;
    } catch (err) {
      if (err instanceof CloudError) {
        outcome = err.outcome;
        requestId ??= err.requestId;
      }
      throw err;
    } finally {
      const durationSeconds = (performance.now() - started) / 1000;
      // A request the caller aborted is no outcome of the cloud's: not counted.
      if (outcome !== undefined) deps.onRequest?.({ projectId: spec.projectId, outcome, durationSeconds });
      logger.debug(
        {
          method: req.method,
          path: req.url.pathname,
          status,
          outcome: outcome ?? "aborted",
          requestId,
          attempt,
          durationMs: Math.round(durationSeconds * 1000),
          ...(unchanged ? { unchanged } : {}),
        },
        "cloud request",
      );
    }
  }

  /**
   * One try of a call: wait for the shared limiter, authorize, exchange; on a 401 `APIGW.0301` with a
   * refreshable token, drop that token, fetch a new one (shared by every waiter) and send once more.
   * AK/SK and static-token 401s fail at once (AK/SK lockout after repeated failures, API §4).
   */
  async function attemptOnce<T>(
    spec: CallSpec<T>,
    attempt: number,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const plain = buildRequest(spec);
    // Every HTTP request to the endpoint passes the shared limiter; a 429 throttles them all.
    const send = async (headers: Record<string, string>) => {
      await limiter.acquire(signal);
      try {
        return await exchange({ ...plain, headers }, spec, attempt, signal);
      } catch (err) {
        if (err instanceof CloudError && err.outcome === "throttled") {
          limiter.throttled(Math.min(err.retryAfterMs ?? retry.minDelay, retry.maxDelay));
        }
        throw err;
      }
    };
    const first = await auth.authorize(plain, spec.projectId, signal);
    try {
      return await send(first.headers);
    } catch (err) {
      const canRefresh =
        err instanceof CloudError &&
        auth.refreshable &&
        err.httpStatus === 401 &&
        err.errorCode !== undefined &&
        REFRESH_CODES.has(err.errorCode);
      if (!canRefresh) throw err;
      logger.info({ requestId: err.requestId, errorCode: err.errorCode }, "token rejected, refreshing");
      auth.invalidate(first.credential);
      const second = await auth.authorize(plain, spec.projectId, signal);
      return await send(second.headers);
    }
  }

  /** A call with retries (API §5): `retry.attempts` tries in all; non-retryable failures stop at once. */
  async function call<T>(spec: CallSpec<T>, signal: AbortSignal | undefined): Promise<T> {
    if (closed) throw new CloudError(FAILURES.network, "cloud client is closed");
    let tries = 0;
    try {
      return await pRetry(
        async (attemptNumber) => {
          tries = attemptNumber;
          try {
            return await attemptOnce(spec, attemptNumber, signal);
          } catch (err) {
            if (err instanceof CloudError && !err.retryable) throw new AbortError(err);
            if (!(err instanceof CloudError))
              throw new AbortError(err instanceof Error ? err : new Error(String(err)));
            throw err;
          }
        },
        {
          retries: attempts - 1,
          // p-retry's own timer is unused (0 ms): the delay is ours, in onFailedAttempt, so it can honour
          // Retry-After and use the injected sleep and jitter source.
          minTimeout: 0,
          factor: 1,
          ...(signal ? { signal } : {}),
          onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
            if (!(error instanceof CloudError) || retriesLeft <= 0) return;
            const delayMs =
              error.retryAfterMs !== undefined
                ? Math.min(error.retryAfterMs, retry.maxDelay)
                : cloudRetryDelay(attemptNumber, retry, random);
            logger.warn(
              {
                requestId: error.requestId,
                attempt: attemptNumber,
                code: error.code,
                httpStatus: error.httpStatus,
                errorCode: error.errorCode,
                delayMs,
              },
              "cloud request failed, retrying",
            );
            if (delayMs > 0) await sleep(delayMs, signal);
          },
        },
      );
    } catch (err) {
      if (err instanceof CloudError) {
        err.attempts = tries;
        logger.debug(
          {
            requestId: err.requestId,
            attempts: tries,
            code: err.code,
            httpStatus: err.httpStatus,
            errorCode: err.errorCode,
          },
          "cloud call failed",
        );
      }
      throw err;
    }
  }

  /** Every page of one of the job lists (`limit=100`), with the listing rules of `listAllPages`. */
  function listAllJobPages<T extends { id: string }>(
    projectId: string,
    resource: "image-server-jobs" | "image-server-sub-jobs",
    query: Record<string, string>,
    parse: (body: unknown) => ListPage<T>,
    jobType: string,
    what: "jobs" | "sub-jobs",
    signal: AbortSignal | undefined,
  ): Promise<T[]> {
    const fetchPage = (offset: number) =>
      call<ListPage<T>>(
        {
          projectId,
          path: `/v1/${encodeURIComponent(projectId)}/${resource}`,
          query: { ...query, limit: String(LIST_LIMIT), offset: String(offset) },
          call: "list",
          parse,
        },
        signal,
      );
    return listAllPages(
      fetchPage,
      (info) =>
        logger.info({ ...info, jobType, list: what }, "job count changed during listing, listing again"),
      what,
    );
  }
  return {
    getImageServer(projectId, serverId, options) {
      return call<GetServerResult>(
        {
          projectId,
          path: `/v1/${encodeURIComponent(projectId)}/image-servers/${encodeURIComponent(serverId)}`,
          call: "get",
          parse: (body) => ({ kind: "ok", server: parseImageServer(body) }),
          notFound: (requestId) =>
            requestId === undefined ? { kind: "not_found" } : { kind: "not_found", requestId },
        },
        options?.signal,
      );
    },

    async listImageServers(projectId, filter = {}, options) {
      const signal = options?.signal;
      const query: Record<string, string> = { limit: String(LIST_LIMIT) };
      if (filter.serverName) query.server_name = filter.serverName;
      if (filter.enterpriseProjectId) query.enterprise_project_id = filter.enterpriseProjectId;
      const held = options?.held;
      const parse = (body: unknown): ListPage => parseListPage(body, held);
      const round = listings.begin(JSON.stringify([projectId, query]));
      const fetchPage = (offset: number) =>
        call<ListPage>(
          {
            projectId,
            path: `/v1/${encodeURIComponent(projectId)}/image-servers`,
            query: { ...query, offset: String(offset) },
            call: "list",
            parse,
            memo: round.page(offset),
          },
          signal,
        );
      // Every page unchanged: the last result, copied (the caller owns what it gets; the memo keeps its own).
      let kept: readonly ImageServer[] | undefined;
      const servers = await listAllPages(
        fetchPage,
        (info) => logger.info(info, "server count changed during listing, listing again"),
        "servers",
        () => {
          kept = round.unchanged();
          return kept?.slice();
        },
      );
      round.complete(kept ?? servers.slice());
      return servers;
    },

    listImageJobs(projectId, query, options) {
      return call<ListPage<ImageJob>>(
        {
          projectId,
          path: `/v1/${encodeURIComponent(projectId)}/image-server-jobs`,
          query: {
            ...jobQuery(query),
            offset: String(query.offset ?? 0),
            limit: String(query.limit ?? LIST_LIMIT),
          },
          call: "list",
          parse: (body) => parseJobListPage(body, query.jobType),
        },
        options?.signal,
      );
    },

    listAllImageJobs(projectId, filter, options) {
      return listAllJobPages(
        projectId,
        "image-server-jobs",
        jobQuery(filter),
        (body) => parseJobListPage(body, filter.jobType),
        filter.jobType,
        "jobs",
        options?.signal,
      );
    },

    listImageSubJobs(projectId, filter, options) {
      const query = jobQuery(filter);
      if (filter.jobId) query.job_id = filter.jobId;
      return listAllJobPages(
        projectId,
        "image-server-sub-jobs",
        query,
        (body) => parseSubJobListPage(body, filter.jobType),
        filter.jobType,
        "sub-jobs",
        options?.signal,
      );
    },

    showImageJob(projectId, jobId, options) {
      return call<ShowJobResult>(
        {
          projectId,
          path: `/v1/${encodeURIComponent(projectId)}/image-server-jobs/${encodeURIComponent(jobId)}`,
          call: "get",
          parse: (body) => ({ kind: "ok", job: parseImageJobDetail(body) }),
          notFound: (requestId) =>
            requestId === undefined ? { kind: "not_found" } : { kind: "not_found", requestId },
        },
        options?.signal,
      );
    },

    exportListings: (held) => exportWarmListings(listings, held),

    seedListings: (warm, held) => seedWarmListings(listings, warm, held),

    async close() {
      if (closed) return;
      closed = true;
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}

/** The `job_type` and `status` query of the job lists. */
function jobQuery(filter: JobFilter): Record<string, string> {
  const query: Record<string, string> = { job_type: filter.jobType };
  if (filter.status) query.status = filter.status;
  return query;
}

/**
 * Reads every page by offset (image servers, jobs or sub-jobs: `noun` names them in errors). Items are
 * deduplicated by id (a page repeating ids, or items added mid-way shifting others forward). When the
 * total `count` changes between pages, items may have shifted backwards past our offset, so the listing
 * restarts from offset 0 once, keeping what it already saw: an item removed mid-way may then still be
 * returned (it disappears on the next poll), but none is lost.
 *
 * The offset advances by the items a page held, so a server that caps pages below `limit` loses
 * nothing. The listing ends when the offset reaches the latest count, or — without a count — at the
 * first short page. A page that brings no items while `count` says more remain is CLOUD_INVALID_RESPONSE
 * ("list ended at N of M"): a partial list would report every later item as gone. At most 1000 pages.
 * Sorted by id. `reuse`, asked once the listing is complete, may give the result instead (the previous
 * listing's, when every page came back unchanged).
 */
export async function listAllPages<T extends { id: string } = ImageServer>(
  fetchPage: (offset: number) => Promise<ListPage<T>>,
  onRestart: (info: { previousCount: number; count: number }) => void = () => {},
  noun = "servers",
  reuse?: () => T[] | undefined,
): Promise<T[]> {
  /** Every page's items, in the order they were taken (a later answer for an id wins). */
  const taken: T[][] = [];
  let restarted = false;
  let firstCount: number | undefined;
  let offset = 0;
  /** The size of the first page, and whether every page so far was that full under the first count. */
  let step = 0;
  let steady = true;
  for (let pages = 0; ; pages++) {
    if (pages >= MAX_LIST_PAGES) {
      throw new CloudError(FAILURES.invalid_response, `list did not end after ${MAX_LIST_PAGES} pages`);
    }
    // Two pages agreed on the count and the page size: the rest is fetched LIST_CONCURRENCY at a time,
    // then taken in offset order under the same rules as below (a short page or a changed count ends the
    // batch, and the listing reads on one page at a time from there).
    if (pages === 2 && steady && !restarted && firstCount !== undefined && offset < firstCount) {
      const offsets: number[] = [];
      for (let o = offset; o < firstCount; o += step) offsets.push(o);
      if (pages + offsets.length > MAX_LIST_PAGES) {
        throw new CloudError(FAILURES.invalid_response, `list did not end after ${MAX_LIST_PAGES} pages`);
      }
      // A failed page fails the listing, and no further page is asked for: the ones in flight are
      // waited for, so none is still being sent (and counted) when the next poll starts.
      const answers = await settleLimit(offsets, LIST_CONCURRENCY, fetchPage);
      pages += offsets.length;
      let consistent = true;
      for (const [i, o] of offsets.entries()) {
        const page = answers[i] as ListPage<T>;
        if (page.count !== firstCount) {
          consistent = false; // the sequential loop below re-reads this offset and restarts
          break;
        }
        taken.push(page.items);
        offset = o + page.items.length;
        if (page.items.length < step) {
          consistent = offset >= firstCount; // a short page: read on from its end, one at a time
          break;
        }
      }
      if (consistent && offset >= firstCount) break;
      if (pages >= MAX_LIST_PAGES) {
        throw new CloudError(FAILURES.invalid_response, `list did not end after ${MAX_LIST_PAGES} pages`);
      }
    }
    const page = await fetchPage(offset);
    taken.push(page.items);
    const count = page.count;
    if (pages === 0) step = page.items.length;
    else if (page.items.length !== step || count !== firstCount) steady = false;
    if (firstCount === undefined) firstCount = count;
    if (!restarted && count !== undefined && firstCount !== undefined && count !== firstCount) {
      restarted = true;
      onRestart({ previousCount: firstCount, count });
      firstCount = count;
      offset = 0;
      continue;
    }
    offset += page.items.length;
    if (count === undefined) {
      if (page.items.length < LIST_LIMIT) break;
      continue;
    }
    if (offset >= count) break;
    if (page.items.length === 0) {
      throw new CloudError(FAILURES.invalid_response, `list ended at ${offset} of ${count} ${noun}`);
    }
  }
  return reuse?.() ?? sortedById(taken);
}

/**
 * The items of every page, each id once (its last answer), sorted by id. No Map of every item: at
 * 10,000 servers its table would be a large object, allocated anew on every poll.
 */
function sortedById<T extends { id: string }>(pages: readonly T[][]): T[] {
  const all = pages.flat();
  // Stable: items of one id stay in the order they were taken, so the last of each run is the latest.
  all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let n = 0;
  for (let i = 0; i < all.length; i++) {
    const item = all[i] as T;
    if (i + 1 < all.length && (all[i + 1] as T).id === item.id) continue;
    all[n++] = item;
  }
  all.length = n;
  return all;
}
