/** The job metrics and the time-in-status histogram (DESIGN §5). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyPollToMetrics } from "../../src/metrics/apply-poll.js";
import { createMetrics } from "../../src/metrics/metrics.js";

const P = "p1";

async function scrape(m: ReturnType<typeof createMetrics>): Promise<string> {
  return (await m.render()).body;
}

describe("job metrics", () => {
  it("exports finished counters and active gauges from zero for configured targets × 3 types", async () => {
    const m = createMetrics({ version: "t", collectDefault: false });
    m.configure({ targets: [{ projectId: P, cloud: "default", region: "r" }], webhooks: [] });
    const body = await scrape(m);
    for (const type of ["CREATE_SERVER", "CREATE_SERVER_IMAGE", "DELETE_SERVER"]) {
      for (const status of ["SUCCESS", "FAILED"]) {
        assert.match(
          body,
          new RegExp(
            `^imagewatch_image_jobs_finished_total\\{project_id="p1",job_type="${type}",status="${status}"\\} 0$`,
            "m",
          ),
        );
      }
      for (const status of ["WAITING", "RUNNING"]) {
        assert.match(
          body,
          new RegExp(
            `^imagewatch_image_jobs\\{project_id="p1",job_type="${type}",status="${status}"\\} 0$`,
            "m",
          ),
        );
      }
    }
    m.configure({ targets: [], webhooks: [] });
    assert.doesNotMatch(await scrape(m), /project_id="p1"/, "a removed target's job series leave");
  });

  it("a job tick sets image_jobs, counts and times finished jobs; a status change times the status it left", async () => {
    const m = createMetrics({ version: "t", collectDefault: false });
    m.configure({ targets: [{ projectId: P, cloud: "default", region: "r" }], webhooks: [] });
    await applyPollToMetrics(m, [], [{ from: "BUILDING", to: "BUILT", seconds: 1380 }], {
      projectId: P,
      active: [
        { jobType: "CREATE_SERVER", status: "RUNNING" },
        { jobType: "CREATE_SERVER", status: "RUNNING" },
      ],
      finished: [{ jobType: "CREATE_SERVER_IMAGE", status: "FAILED", durationSeconds: 1380 }],
    });
    const body = await scrape(m);
    assert.match(
      body,
      /^imagewatch_image_jobs\{project_id="p1",job_type="CREATE_SERVER",status="RUNNING"\} 2$/m,
    );
    assert.match(
      body,
      /^imagewatch_image_jobs_finished_total\{project_id="p1",job_type="CREATE_SERVER_IMAGE",status="FAILED"\} 1$/m,
    );
    assert.match(
      body,
      /^imagewatch_image_job_duration_seconds_bucket\{le="1800",job_type="CREATE_SERVER_IMAGE",status="FAILED"\} 1$/m,
    );
    assert.match(
      body,
      /^imagewatch_image_job_duration_seconds_bucket\{le="1200",job_type="CREATE_SERVER_IMAGE",status="FAILED"\} 0$/m,
    );
    assert.match(
      body,
      /^imagewatch_image_server_status_duration_seconds_bucket\{le="1800",status="BUILDING",next_status="BUILT"\} 1$/m,
    );
    assert.match(
      body,
      /^imagewatch_image_server_status_duration_seconds_sum\{status="BUILDING",next_status="BUILT"\} 1380$/m,
    );
    assert.match(body, /^imagewatch_image_server_transitions_total\{from="BUILDING",to="BUILT"\} 1$/m);

    // The next tick without active jobs puts the gauge back to 0.
    await applyPollToMetrics(m, [], [], { projectId: P, active: [], finished: [] });
    assert.match(
      await scrape(m),
      /^imagewatch_image_jobs\{project_id="p1",job_type="CREATE_SERVER",status="RUNNING"\} 0$/m,
    );
  });
});
