import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AlertTracker,
  deriveAlerts,
  failedJobInputs,
  JOB_ALERT_MS,
  type JobAlertInput,
  leaseMs,
  RESOLVED_RESEND_MS,
} from "../../src/alertmanager/alert-set.js";
import type { JobRecord } from "../../src/domain/observe-jobs.js";
import type { ServerState } from "../../src/domain/types.js";

const T0 = Date.parse("2026-11-27T10:00:00.000Z");

function server(over: Partial<ServerState> = {}): ServerState {
  return {
    projectId: "p1",
    serverId: "s1",
    name: "build-7",
    status: "BUILDING",
    statusSince: T0 - 7_200_000,
    present: true,
    stuck: true,
    stuckNotifiedAt: null,
    stuckCount: 1,
    consecutiveFailures: 0,
    pollFailedNotified: false,
    lastPollAt: T0,
    lastPollOk: true,
    lastSuccessAt: T0,
    lastError: null,
    server: null,
    ...over,
  };
}

const derive = (servers: ServerState[], now = T0, jobs: JobAlertInput[] = []) =>
  deriveAlerts({ servers, targets: [], jobs, now });

describe("alert set", () => {
  it("stuck, ERROR and poll failing each fire from state; startsAt of stuck = when the status began", () => {
    const alerts = derive([
      server(),
      server({ serverId: "s2", status: "ERROR", stuck: false, pollFailedNotified: true }),
    ]);
    assert.deepEqual(
      alerts.map((a) => `${a.labels.alertname}/${a.labels.server_id}/${a.labels.severity}`),
      ["ImageServerStuck/s1/warning", "ImageServerError/s2/critical", "ImageServerPollFailing/s2/warning"],
    );
    assert.equal(alerts[0]?.startsAt, T0 - 7_200_000);
  });

  it("a failed job fires for 1h, then ends", () => {
    const job = {
      projectId: "p1",
      jobId: "j1",
      jobType: "CREATE_IMAGE",
      serverId: "s1",
      name: "b",
      failedAt: T0,
      reason: "x",
    };
    assert.equal(derive([], T0 + 3_599_000, [job]).length, 1);
    assert.equal(derive([], T0 + 3_600_000, [job]).length, 0);
  });

  it("firing alerts carry a lease; an ended one is sent resolved at when it ended, for 5 minutes", () => {
    const tracker = new AlertTracker();
    assert.deepEqual(tracker.update(derive([server()]), T0), { started: 1, ended: 0 });
    const lease = leaseMs(60_000, 30_000);
    assert.equal(lease, 240_000);
    assert.equal(tracker.postable(T0, lease)[0]?.endsAt, new Date(T0 + lease).toISOString());
    assert.deepEqual(tracker.update(derive([server({ stuck: false })]), T0 + 1000), { started: 0, ended: 1 });
    assert.equal(tracker.postable(T0 + 2000, lease)[0]?.endsAt, new Date(T0 + 1000).toISOString());
    tracker.update([], T0 + 1000 + RESOLVED_RESEND_MS);
    assert.deepEqual(tracker.postable(T0 + 1000 + RESOLVED_RESEND_MS, lease), []);
  });

  it("after a restart the set rebuilt from the same state is the same, and nothing is sent resolved", () => {
    const before = new AlertTracker();
    before.update(derive([server()]), T0);
    const after = new AlertTracker();
    after.update(derive([server()], T0 + 60_000), T0 + 60_000);
    const posted = after.postable(T0 + 60_000, 240_000);
    assert.equal(posted.length, 1);
    assert.equal(posted[0]?.startsAt, before.postable(T0, 240_000)[0]?.startsAt);
    assert.ok(Date.parse(posted[0]?.endsAt ?? "") > T0 + 60_000, "firing, not resolved");
  });

  it("failed jobs from the store feed ImageJobFailed: failing, owned, failed less than an hour ago", () => {
    const job = (over: Partial<JobRecord>): JobRecord => ({
      projectId: "p1",
      jobId: "j1",
      jobType: "CREATE_SERVER_IMAGE",
      status: "FAILED",
      beginTime: T0 - 600_000,
      endTime: T0 - 60_000,
      serverId: "s1",
      name: "build-7",
      resources: [],
      subJobsSeen: true,
      failures: [
        {
          sub_job_id: "sj",
          status: "FAILED",
          error_code: "WKS.0127",
          error_message: "disk quota exceeded",
          resource_id: "s1",
          resource_name: "build-7",
        },
      ],
      outcomeHandled: true,
      stuckCount: 0,
      firstSeenAt: T0 - 600_000,
      ...over,
    });
    const records = [
      job({}),
      job({ jobId: "old", endTime: T0 - JOB_ALERT_MS }),
      job({ jobId: "ok", status: "SUCCESS", failures: [] }),
      job({ jobId: "other-shard", serverId: "s2" }),
      job({ jobId: "no-end", endTime: null, firstSeenAt: T0 - 1000, serverId: "", failures: [] }),
    ];
    const inputs = failedJobInputs(records, T0, (key) => key !== "s2");
    assert.deepEqual(inputs, [
      {
        projectId: "p1",
        jobId: "j1",
        jobType: "CREATE_SERVER_IMAGE",
        serverId: "s1",
        name: "build-7",
        failedAt: T0 - 60_000,
        reason: "WKS.0127 disk quota exceeded",
      },
      {
        projectId: "p1",
        jobId: "no-end",
        jobType: "CREATE_SERVER_IMAGE",
        serverId: "",
        name: "build-7",
        failedAt: T0 - 1000,
        reason: "",
      },
    ]);
    const alerts = derive([], T0, inputs).filter((a) => a.labels.alertname === "ImageJobFailed");
    assert.deepEqual(
      alerts.map((a) => a.labels.job_id),
      ["j1", "no-end"],
    );
  });
});
