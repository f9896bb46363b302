// The inbound source routes: a source is created, receives a request, logs it, and replays
// its job.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";

import { baseUrl, client, within } from "../testing/harness.mjs";

const herald = client();

describe("sources", () => {
  test("are created, fed, listed, changed, rotated, replayed and removed", async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const source = await herald.sources.create({
      name: `client-${randomUUID().slice(0, 8)}`,
      job_type: "demo.sleep",
      verify: { scheme: "basic", username: "provider" },
    });
    try {
      assert.equal(typeof source.secret, "string");
      assert.match(source.ingest_url, /^\/in\//);
      assert.ok((await herald.sources.list()).data.some((s) => s.id === source.id));
      assert.equal((await herald.sources.get(source.id)).job_type, "demo.sleep");

      // A provider's request, as a provider would send it.
      const credentials = Buffer.from(`provider:${source.secret}`).toString("base64");
      const ingested = await fetch(`${baseUrl}${source.ingest_url}`, {
        method: "POST",
        headers: { Authorization: `Basic ${credentials}`, "Content-Type": "application/json" },
        body: JSON.stringify({ hello: "world" }),
      });
      assert.ok(ingested.ok, `ingest answered ${ingested.status}`);
      const { id: jobId } = await ingested.json();
      const log = await herald.sources.requests(source.id, { outcome: "accepted" });
      assert.deepEqual(
        log.data.map((entry) => entry.job_id),
        [jobId],
      );
      const finished = await within(
        60_000,
        "the source's job",
        herald.follow(jobId, { transport: "poll" }),
      );
      // demo.sleep refuses a capture as its payload: the job fails, which is as good a finish.
      assert.ok(["completed", "failed"].includes(finished.status), finished.status);

      const renamed = await herald.sources.update(source.id, { name: "renamed" });
      assert.equal(renamed.name, "renamed");
      const rotated = await herald.sources.rotateSecret(source.id, { grace_s: 0 });
      assert.notEqual(rotated.secret, source.secret);

      const replay = await herald.sources.replay(source.id, { since });
      assert.deepEqual(replay, { replayed: 1, skipped: 0, truncated: false });
      const again = await herald.get(jobId);
      assert.ok(again.seq > finished.seq, "the replay did not run the job again");
    } finally {
      await herald.sources.remove(source.id);
    }
  });
});
