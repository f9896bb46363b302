// The job routes, errors, the feed and the admin API, against a live herald.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";

import { Herald, HeraldError } from "../dist/index.js";
import { baseUrl, client, startBlockingProxy, within } from "../testing/harness.mjs";

const herald = client();

describe("jobs", () => {
  test("submit answers the stored job, with read-token links", async () => {
    const job = await herald.submit("demo.sleep", { seconds: 0 }, { metadata: { order: "42" } });
    assert.equal(job.type, "demo.sleep");
    assert.equal(job.status, "pending");
    assert.equal(job.seq, 1);
    assert.deepEqual(job.metadata, { order: "42" });
    assert.match(job.links.self, new RegExp(`^/v1/jobs/${job.id}\\?token=v2\\.`));
    assert.match(job.links.events, new RegExp(`^/v1/jobs/${job.id}/events\\?token=v2\\.`));
  });

  test("an idempotency key answers the job it created first", async () => {
    const idempotencyKey = randomUUID();
    const first = await herald.submit("demo.sleep", { seconds: 0 }, { idempotencyKey });
    const again = await herald.submit("demo.sleep", { seconds: 0 }, { idempotencyKey });
    assert.equal(again.id, first.id);
  });

  test("get reads a job, and with an etag waits until it changed", async () => {
    const job = await herald.submit("demo.sleep", { seconds: 1 });
    const read = await herald.get(job.id);
    assert.equal(read.id, job.id);
    assert.ok(read.seq >= job.seq);
    // Held at the first version, the long poll answers with a later one.
    const polled = herald.get(job.id, { etag: "1", wait: 20 });
    const changed = await within(30_000, "a long poll", polled);
    assert.ok(changed.seq > 1, `seq ${changed.seq} after a poll held at 1`);
    assert.notEqual(changed.status, "pending");
  });

  test("get sends a long poll again when one goes unanswered", async () => {
    const proxy = await startBlockingProxy({ holdPolls: 1 });
    try {
      const job = await herald.submit("demo.sleep", { seconds: 0 });
      const throughProxy = client({ baseUrl: proxy.url });
      // Held at the first version; the first poll is lost, the second one answers.
      const changed = await within(
        30_000,
        "a long poll after a lost one",
        throughProxy.get(job.id, { etag: "1", wait: 1 }),
      );
      assert.ok(changed.seq > 1, `seq ${changed.seq}`);
      assert.equal(proxy.held, 1);
    } finally {
      await proxy.close();
    }
  });

  test("a read token alone reads its job, and nothing else", async () => {
    const job = await herald.submit("demo.sleep", { seconds: 0 });
    const token = new URL(job.links.self, baseUrl).searchParams.get("token");
    const browser = new Herald({ baseUrl, token });
    assert.equal((await browser.get(job.id)).id, job.id);
    const refused = await browser.list().then(
      () => assert.fail("a read token listed jobs"),
      (error) => error,
    );
    assert.ok(refused instanceof HeraldError);
    assert.equal(refused.status, 401);
  });

  test("list pages through jobs, newest first, filtered", async () => {
    // A tenant of its own, so that no other test's jobs come between.
    const tenant = `list-${randomUUID().slice(0, 8)}`;
    const { key, id } = await herald.keys.create({ tenant });
    const theirs = new Herald({ baseUrl, key });
    const type = "demo.sleep";
    const a = await theirs.submit(type, { seconds: 0 });
    const b = await theirs.submit(type, { seconds: 0 });
    await theirs.submit("demo.report", { rows: 1 });
    const all = await theirs.list({ type });
    assert.deepEqual(
      all.data.map((job) => job.id),
      [b.id, a.id],
    );
    assert.equal(all.next_cursor, null);
    const first = await theirs.list({ type, limit: 1 });
    assert.deepEqual(
      first.data.map((job) => job.id),
      [b.id],
    );
    assert.equal(typeof first.next_cursor, "string");
    const second = await theirs.list({ type, limit: 1, cursor: first.next_cursor });
    assert.deepEqual(
      second.data.map((job) => job.id),
      [a.id],
    );
    await herald.keys.revoke(id);
  });

  test("cancel stops a job, and retry runs it again", async () => {
    const job = await herald.submit("demo.sleep", { seconds: 30 });
    const canceling = await herald.cancel(job.id);
    assert.ok(["canceled", "processing"].includes(canceling.status), canceling.status);
    const following = herald.follow(job.id, { transport: "poll" });
    const canceled = await within(60_000, "the cancel", following);
    assert.equal(canceled.status, "canceled");
    assert.equal(canceled.error?.code, "canceled");

    const again = await herald.retry(job.id);
    assert.equal(again.id, job.id);
    assert.equal(again.status, "pending");
    assert.ok(again.seq > canceled.seq);
    await herald.cancel(job.id);
  });

  test("result answers the raw result of a completed job", async () => {
    const job = await herald.submit("demo.report", { rows: 3, rows_per_second: 1000 });
    const done = await within(60_000, "the report", herald.follow(job, { transport: "poll" }));
    assert.equal(done.status, "completed");
    const response = await herald.result(job.id);
    assert.match(response.headers.get("content-type") ?? "", /^text\/csv/);
    const csv = await response.text();
    assert.equal(csv.split("\n")[0], "row,value");
    // With only the job's link (and its token), a browser reads it too.
    const browser = new Herald({ baseUrl });
    assert.equal(await (await browser.result(job)).text(), csv);
  });
});

describe("errors", () => {
  test("a bad submission is a 422 HeraldError carrying the problem", async () => {
    const error = await herald.submit("no.such-type", {}).then(
      () => assert.fail("an unknown type was accepted"),
      (error) => error,
    );
    assert.ok(error instanceof HeraldError);
    assert.ok(error instanceof Error);
    assert.equal(error.status, 422);
    assert.equal(error.problem.status, 422);
    assert.equal(error.problem.type, "https://herald.dev/problems/validation-error");
    assert.equal(typeof error.problem.title, "string");
    assert.equal(typeof error.problem.detail, "string");
    assert.ok(
      error.problem.errors?.some((field) => field.field === "type"),
      JSON.stringify(error.problem),
    );
    assert.match(error.message, new RegExp(error.problem.title));
  });

  test("a wrong key is a 401 HeraldError", async () => {
    const stranger = new Herald({ baseUrl, key: `hk_0123456789abcdef_${"A".repeat(64)}` });
    const error = await stranger.list().then(
      () => assert.fail("an unknown key listed jobs"),
      (error) => error,
    );
    assert.ok(error instanceof HeraldError);
    assert.equal(error.status, 401);
    assert.equal(error.problem.type, "https://herald.dev/problems/unauthorized");
  });

  test("an unknown job is a 404, a finished one cannot be canceled (409)", async () => {
    const missing = await herald.get(randomUUID()).then(
      () => assert.fail("a job nobody made was found"),
      (error) => error,
    );
    assert.equal(missing.status, 404);
    assert.equal(missing.problem.type, "https://herald.dev/problems/not-found");

    const job = await herald.submit("demo.sleep", { seconds: 0 });
    await within(60_000, "the job", herald.follow(job, { transport: "poll" }));
    const conflict = await herald.cancel(job.id).then(
      () => assert.fail("a finished job was canceled"),
      (error) => error,
    );
    assert.equal(conflict.status, 409);
    assert.equal(conflict.problem.type, "https://herald.dev/problems/job-state-conflict");
  });
});

describe("the event feed", () => {
  test("events pages through the feed, filtered by job and type", async () => {
    const job = await herald.submit("demo.sleep", { seconds: 0 });
    await within(60_000, "the job", herald.follow(job, { transport: "poll" }));
    const page = await herald.events({ jobs: [job.id], types: ["job.pending", "job.completed"] });
    assert.equal(page.missed, false);
    assert.equal(typeof page.next_cursor, "string");
    assert.deepEqual(
      page.data.map((event) => event.type),
      ["job.pending", "job.completed"],
    );
    assert.ok(page.data.every((event) => event.data.id === job.id));
    // Nothing follows the last event: a short long poll answers an empty page.
    const rest = await herald.events({ jobs: [job.id], after: page.next_cursor, wait: 1 });
    assert.deepEqual(rest.data, []);
  });
});

describe("the admin API", () => {
  test("keys are created, listed and revoked", async () => {
    const tenant = `client-${randomUUID().slice(0, 8)}`;
    const created = await herald.keys.create({ tenant, name: "ci" });
    assert.match(created.key, /^hk_[0-9a-f]{16}_/);
    assert.equal(created.tenant, tenant);
    const listed = await herald.keys.list({ tenant });
    assert.deepEqual(
      listed.data.map((key) => key.id),
      [created.id],
    );
    assert.equal(listed.data[0].key, undefined);

    const theirs = new Herald({ baseUrl, key: created.key });
    assert.deepEqual((await theirs.list()).data, []);
    const forbidden = await theirs.keys.list().then(
      () => assert.fail("a plain key listed keys"),
      (error) => error,
    );
    assert.equal(forbidden.status, 403);

    await herald.keys.revoke(created.id);
    const revoked = await theirs.list().then(
      () => assert.fail("a revoked key still works"),
      (error) => error,
    );
    assert.equal(revoked.status, 401);
  });
});
