/**
 * Small HTTP helpers shared by the simulator's API and control handlers: bodies, JSON replies and
 * cancellable delays that `stop()` can cut short.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** Largest request body the simulator reads. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Content type of every JSON answer (as Huawei's gateway sends it). */
export const JSON_TYPE = "application/json;charset=UTF-8";

/** Reads a request body; rejects above MAX_BODY_BYTES. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("request body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Parses a JSON body; `undefined` for an empty one, throws SyntaxError for bad JSON. */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  return JSON.parse(body.toString("utf8"));
}

/** Writes a complete JSON (or text) answer unless the socket is gone. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.writableEnded) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, {
    ...(text === "" ? {} : { "Content-Type": JSON_TYPE }),
    "Content-Length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Real-time sleeps that can all be cancelled at once (on `stop()`), resolving `false` when cancelled. */
export interface Sleeper {
  sleep(ms: number): Promise<boolean>;
  cancelAll(): void;
}

/** Creates a Sleeper. Delays of injected faults are real time, not the simulator clock. */
export function createSleeper(): Sleeper {
  const waiting = new Set<{ timer: NodeJS.Timeout; resolve: (done: boolean) => void }>();
  return {
    sleep(ms) {
      if (ms <= 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const entry = {
          timer: setTimeout(() => {
            waiting.delete(entry);
            resolve(true);
          }, ms),
          resolve,
        };
        waiting.add(entry);
      });
    },
    cancelAll() {
      for (const entry of waiting) {
        clearTimeout(entry.timer);
        entry.resolve(false);
      }
      waiting.clear();
    },
  };
}
