/**
 * Delivery benchmark (DESIGN §10): 10,000 events committed at once to the outbox, delivered to a loopback
 * receiver by the real delivery service from a real SQLite file, two ways:
 * - a rate-limited chat webhook (`wecom`: digests of up to 50, cut to WeCom's 2048 bytes) with a FAST custom
 *   `rateLimit` of 100 messages per 100 ms, so it finishes in a second rather than the hours WeCom's own
 *   20 per minute would take, and `group.wait` 100 ms instead of 5 s (the last, partial digest waits it out);
 * - `standard`: one signed request per event, 4 in flight.
 * Baseline of each, in the same run and interleaved: a bare undici `request` loop POSTing the very bodies
 * the service sent (same receiver, same concurrency: 1 for the chat webhook, 4 for standard), without
 * store, signing or limits. Also checked: every event arrived, every row is delivered.
 *
 * Run alone: `node --import tsx bench/delivery.ts`.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Agent, request } from "undici";
import type { WebhookConfig } from "../src/config/types.js";
import type { DomainEvent } from "../src/domain/types.js";
import { systemClock } from "../src/lib/clock.js";
import { createSilentLogger } from "../src/lib/logger.js";
import { createDeliveryService } from "../src/notify/delivery-service.js";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import { median, round2, runWhenMain, serverId } from "./helpers.js";
import type { BenchResult } from "./metrics-scrape.js";

const EVENTS = 10_000;
const ROUNDS = 3;
const CHAT_LIMIT = { count: 100, per: 100 };
/** A short digest wait, so the last, partial digest does not sit out the default 5 s. */
const CHAT_GROUP = { wait: 100, max: 50 };
const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

interface Received {
  bodies: Array<{ body: string; headers: Record<string, string> }>;
}

async function startReceiver(): Promise<{ server: Server; url: string; got: Received }> {
  const got: Received = { bodies: [] };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      got.bodies.push({
        body: Buffer.concat(chunks).toString("utf8"),
        headers: req.headers as Record<string, string>,
      });
      res.writeHead(200, { "content-type": "application/json" }).end('{"errcode":0}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

function makeEvents(): DomainEvent[] {
  const at = Date.parse("2026-11-27T10:00:00Z");
  return Array.from({ length: EVENTS }, (_, i) => {
    const sid = serverId(i);
    const id = `evt_bench_${i}`;
    return {
      id,
      type: "image_server.status_changed",
      occurredAt: at,
      projectId: "proj",
      serverId: sid,
      data: {
        event_id: id,
        project_id: "proj",
        server_id: sid,
        name: `build-${i}`,
        previous_status: "BUILDING",
        status: "BUILT",
      },
    };
  });
}

/** One candidate run: commit the events, start the service, wait until every row is delivered. */
async function runService(
  webhook: WebhookConfig,
  events: DomainEvent[],
): Promise<{ ms: number; messages: number; bodies: Received["bodies"] }> {
  const dir = mkdtempSync(join(tmpdir(), "imagewatch-bench-delivery-"));
  const { server, url, got } = await startReceiver();
  const store = openSqliteStore(join(dir, "state.db"));
  const hook = { ...webhook, url };
  let delivered = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  const service = createDeliveryService({
    store,
    getWebhooks: () => [hook],
    clock: systemClock,
    logger: createSilentLogger(),
    version: "bench",
    onOutcome: (_w, outcome) => {
      if (outcome !== "delivered") throw new Error(`unexpected outcome ${outcome}`);
      if (++delivered === events.length) resolveDone();
    },
  });
  try {
    store.commitPoll({
      servers: [],
      events,
      deliveries: events.map((e) => ({ eventId: e.id, webhook: hook.name })),
      now: Date.now(),
    });
    const t0 = performance.now();
    service.start();
    await done;
    const ms = performance.now() - t0;
    const depth = store.queueStats().get(hook.name)?.depth ?? 0;
    if (depth !== 0) throw new Error(`${depth} rows still pending`);
    return { ms, messages: got.bodies.length, bodies: got.bodies };
  } finally {
    await service.stop(1000);
    store.close();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The baseline: POST `bodies` with a bare undici loop, `concurrency` at a time. */
async function runBareLoop(bodies: Received["bodies"], concurrency: number): Promise<number> {
  const { server, url } = await startReceiver();
  const dispatcher = new Agent();
  try {
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (next < bodies.length) {
        const b = bodies[next++] as Received["bodies"][number];
        const headers: Record<string, string> = { "content-type": "application/json" };
        for (const h of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
          if (b.headers[h]) headers[h] = b.headers[h];
        }
        const res = await request(url, { method: "POST", body: b.body, headers, dispatcher });
        await res.body.text();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return performance.now() - t0;
  } finally {
    await dispatcher.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** Events the chat messages carried: the lines after each title, by server id. Throws on a loss or a double. */
function checkChat(bodies: Received["bodies"]): { perMessage: number[] } {
  const seen = new Set<string>();
  const perMessage: number[] = [];
  for (const { body } of bodies) {
    const lines = String((JSON.parse(body) as { text: { content: string } }).text.content).split("\n");
    const items = lines.length === 1 ? lines : lines.slice(1);
    const title = lines[0] ?? "";
    // The title may begin with the digest's severity emoji.
    const counted = /^(?:\S+ )?\[imagewatch\] (\d+) image servers/.exec(title)?.[1];
    if (lines.length > 1 && counted !== String(items.length)) {
      throw new Error(`title does not count its events: ${title}`);
    }
    for (const line of items) {
      const id = /\(([0-9a-f-]{36})\)/.exec(line)?.[1];
      if (!id || seen.has(id)) throw new Error(`lost or doubled: ${line}`);
      seen.add(id);
    }
    perMessage.push(items.length);
  }
  if (seen.size !== EVENTS) throw new Error(`chat: ${seen.size} of ${EVENTS} events arrived`);
  return { perMessage };
}

function checkStandard(bodies: Received["bodies"]): void {
  const ids = new Set(bodies.map((b) => b.headers["webhook-id"]));
  if (ids.size !== EVENTS || bodies.length !== EVENTS) {
    throw new Error(`standard: ${ids.size} distinct of ${bodies.length} requests, want ${EVENTS}`);
  }
}

/** This benchmark's result with its extra figures. */
export interface DeliveryBenchResult extends BenchResult {
  moreRows: BenchResult[];
  events: number;
  chat: {
    messages: number;
    eventsPerMessage: { min: number; median: number; max: number };
    rateLimit: string;
  };
  standard: { messages: number };
  rounds: number;
}

/** Runs the benchmark: ROUNDS interleaved rounds of each candidate and its baseline. */
export async function run(): Promise<DeliveryBenchResult> {
  const events = makeEvents();
  const base: Omit<WebhookConfig, "format" | "name"> = {
    url: "",
    events: ["status_changed"],
    statuses: [],
    headers: {},
    timeout: 10_000,
    retry: { minDelay: 1000, maxDelay: 60_000 },
    maxAge: 3_600_000,
  };
  const chatHook: WebhookConfig = {
    ...base,
    name: "chat",
    format: "wecom",
    rateLimit: CHAT_LIMIT,
    group: CHAT_GROUP,
  };
  const stdHook: WebhookConfig = { ...base, name: "std", format: "standard", secret: SECRET };
  const times = {
    chat: [] as number[],
    chatBase: [] as number[],
    std: [] as number[],
    stdBase: [] as number[],
  };
  let chatMessages = 0;
  let perMessage: number[] = [];
  let stdMessages = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order so drift hits candidate and baseline alike.
    const chat = await runService(chatHook, events);
    perMessage = checkChat(chat.bodies).perMessage;
    chatMessages = chat.messages;
    const chatBase = await runBareLoop(chat.bodies, 1);
    const stdBase =
      round % 2 === 0 ? undefined : await runBareLoop((await runService(stdHook, events)).bodies, 4);
    const std = await runService(stdHook, events);
    checkStandard(std.bodies);
    stdMessages = std.messages;
    times.chat.push(chat.ms);
    times.chatBase.push(chatBase);
    times.std.push(std.ms);
    times.stdBase.push(stdBase ?? (await runBareLoop(std.bodies, 4)));
  }
  const m = (xs: number[]) => round2(median(xs));
  const sorted = [...perMessage].sort((a, b) => a - b);
  const chatRow: BenchResult = {
    name: "delivery, wecom digests (rateLimit 100/100ms)",
    baseline: {
      label: `bare undici POST loop of the same ${chatMessages} bodies, 1 at a time`,
      medianMs: m(times.chatBase),
    },
    candidate: {
      label: `delivery service: ${EVENTS} events → ${chatMessages} digests`,
      medianMs: m(times.chat),
    },
    ratio: round2(median(times.chat) / median(times.chatBase)),
    ratioNote: "candidate / baseline (wall time; the rate limit is a floor)",
    method: `${EVENTS} events committed at once to a SQLite outbox; wall time until every row is delivered; median of ${ROUNDS}`,
  };
  const stdRow: BenchResult = {
    name: "delivery, standard (one event per request)",
    baseline: {
      label: `bare undici POST loop of the same ${EVENTS} signed bodies, 4 at a time`,
      medianMs: m(times.stdBase),
    },
    candidate: { label: `delivery service: ${EVENTS} signed requests, 4 in flight`, medianMs: m(times.std) },
    ratio: round2(median(times.std) / median(times.stdBase)),
    ratioNote: "candidate / baseline (wall time)",
    method: chatRow.method,
  };
  return {
    ...chatRow,
    moreRows: [stdRow],
    events: EVENTS,
    chat: {
      messages: chatMessages,
      eventsPerMessage: {
        min: sorted[0] ?? 0,
        median: median(sorted),
        max: sorted.at(-1) ?? 0,
      },
      rateLimit: `${CHAT_LIMIT.count} per ${CHAT_LIMIT.per} ms (a fast custom limit; WeCom's own is 20 per minute), group.wait ${CHAT_GROUP.wait} ms`,
    },
    standard: { messages: stdMessages },
    rounds: ROUNDS,
  };
}

runWhenMain(import.meta.url, run);
