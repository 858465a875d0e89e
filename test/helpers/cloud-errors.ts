import assert from "node:assert/strict";
import type { GetServerResult } from "../../src/cloud/client.js";
import { CloudError } from "../../src/cloud/errors.js";
import type { ImageServer } from "../../src/domain/types.js";

/** Awaits `promise`, asserts it rejects with a CloudError of `code`, and returns that error. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<CloudError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CloudError, `expected a CloudError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

/** Awaits a single GET, asserts it found the server, and returns the server. */
export async function okServer(promise: Promise<GetServerResult>): Promise<ImageServer> {
  const answer = await promise;
  assert.equal(answer.kind, "ok", `expected the server, got ${JSON.stringify(answer)}`);
  return (answer as { server: ImageServer }).server;
}
