import assert from "node:assert/strict";
import { CloudError } from "../../src/cloud/index.js";

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
