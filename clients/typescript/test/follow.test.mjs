// `follow`: over Server-Sent Events, by long polling, and falling back from the first to the
// second when there is no EventSource or when something blocks the stream.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { EventSource } from "eventsource";

import {
  LONG_REPORT,
  SLOW_REPORT,
  assertConsecutive,
  client,
  startBlockingProxy,
  startTcpProxy,
  within,
} from "../testing/harness.mjs";

/** Follows `job` with `herald`, recording every event reported. */
async function follow(herald, job, options = {}) {
  const events = [];
  const done = await within(
    90_000,
    `following ${job.id}`,
    herald.follow(job, { ...options, onEvent: (event) => events.push(event) }),
  );
  return { done, events };
}

/** The checks every follow of a report makes: it saw it run, and ends completed. */
function assertReportFollowed({ done, events }, what) {
  assert.equal(done.status, "completed", what);
  assert.ok(done.result_url, what);
  const types = events.map((event) => event.type);
  assert.ok(types.includes("job.progress"), `${what}: no progress among ${types.join(",")}`);
  assert.equal(types.at(-1), "job.completed", what);
  for (const event of events) {
    assert.equal(event.job.seq, event.seq, what);
    assert.equal(event.job.id, done.id, what);
  }
  const seqs = events.map((event) => event.seq);
  for (let i = 1; i < seqs.length; i += 1) {
    assert.ok(seqs[i] > seqs[i - 1], `${what}: seq went from ${seqs[i - 1]} to ${seqs[i]}`);
  }
}

describe("follow", () => {
  test("over an EventSource, replaying the whole history", async () => {
    const herald = client({ EventSource });
    const job = await herald.submit("demo.report", { rows: 40, rows_per_second: 40 });
    const followed = await follow(herald, job, { transport: "sse", from: 0 });
    assertReportFollowed(followed, "sse");
    // The history from the first event: every seq once, in order.
    assert.equal(followed.events[0].seq, 1);
    assert.equal(followed.events[0].type, "job.pending");
    assertConsecutive(
      followed.events.map((event) => event.seq),
      "sse",
    );
  });

  test("over an EventSource, from the current state on", async () => {
    const herald = client({ EventSource });
    const job = await herald.submit("demo.report", SLOW_REPORT);
    const followed = await follow(herald, job.id, { transport: "sse" });
    assertReportFollowed(followed, "sse from now");
    assertConsecutive(
      followed.events.map((event) => event.seq),
      "sse from now",
    );
  });

  test("by long polling", async () => {
    const herald = client({ EventSource });
    const job = await herald.submit("demo.report", SLOW_REPORT);
    assertReportFollowed(await follow(herald, job, { transport: "poll" }), "poll");
  });

  test("auto falls back to polling without an EventSource", async () => {
    const herald = client({ EventSource: null });
    const job = await herald.submit("demo.report", SLOW_REPORT);
    assertReportFollowed(await follow(herald, job), "auto without EventSource");
  });

  test("auto falls back to polling when a proxy refuses the stream", async () => {
    const proxy = await startBlockingProxy({ events: "502" });
    try {
      const herald = client({ baseUrl: proxy.url, EventSource });
      const job = await herald.submit("demo.report", SLOW_REPORT);
      assertReportFollowed(await follow(herald, job), "auto behind a 502");
      assert.ok(proxy.blocked >= 1, "the stream was never tried");
    } finally {
      await proxy.close();
    }
  });

  test("auto falls back to polling when a proxy holds the stream back", async () => {
    const proxy = await startBlockingProxy({ events: "silent" });
    try {
      const herald = client({ baseUrl: proxy.url, EventSource });
      // Well past the 1.5 s the stream is given for its first event.
      const job = await herald.submit("demo.report", LONG_REPORT);
      const followed = await follow(herald, job, { firstEventTimeout: 1500 });
      assertReportFollowed(followed, "auto behind a buffering proxy");
      assert.ok(proxy.blocked >= 1, "the stream was never tried");
    } finally {
      await proxy.close();
    }
  });

  test("transport sse fails rather than falls back", async () => {
    const proxy = await startBlockingProxy({ events: "502" });
    try {
      const herald = client({ baseUrl: proxy.url, EventSource });
      const job = await herald.submit("demo.sleep", { seconds: 0 });
      await assert.rejects(herald.follow(job, { transport: "sse" }), /event stream failed/);
    } finally {
      await proxy.close();
    }
  });

  test("a failing job resolves failed, whatever the transport", async () => {
    for (const options of [{ EventSource }, { EventSource: null }]) {
      const herald = client(options);
      const job = await herald.submit("demo.fail", { message: "on purpose" }, { max_attempts: 1 });
      const { done, events } = await follow(herald, job);
      assert.equal(done.status, "failed");
      assert.equal(done.error?.code, "handler_error");
      assert.match(done.error?.message ?? "", /on purpose/);
      assert.equal(events.at(-1)?.type, "job.failed");
    }
  });

  test("aborting rejects with the signal's reason", async () => {
    for (const transport of ["sse", "poll"]) {
      const herald = client({ EventSource });
      const job = await herald.submit("demo.sleep", { seconds: 30 });
      const controller = new AbortController();
      const following = herald.follow(job, {
        transport,
        signal: controller.signal,
        onEvent: () => controller.abort(new Error("enough")),
      });
      await assert.rejects(within(30_000, transport, following), /enough/);
      await herald.cancel(job.id);
    }
  });

  test("auto falls back to polling when the stream is silent while the job moves on", async () => {
    const proxy = await startTcpProxy();
    try {
      const herald = client({ baseUrl: proxy.url, EventSource });
      const job = await herald.submit("demo.report", LONG_REPORT);
      const events = [];
      let frozen = 0;
      const done = await within(
        90_000,
        "following through a frozen stream",
        herald.follow(job, {
          from: 0,
          stallTimeout: 1000,
          onEvent: (event) => {
            events.push(event);
            // The stream's connection stays open, but nothing more comes through it.
            if (event.type === "job.progress" && frozen === 0) {
              frozen = proxy.freeze(new RegExp(`/v1/jobs/${job.id}/events`));
            }
          },
        }),
      );
      assert.equal(frozen, 1, "no stream to freeze");
      assertReportFollowed({ done, events }, "auto through a frozen stream");
      assert.equal(events[0].seq, 1);
      const polls = proxy
        .requests()
        .filter((head) => head.startsWith(`GET /v1/jobs/${job.id}?`) && /wait=/.test(head));
      assert.ok(polls.length >= 1, "it never polled");
    } finally {
      await proxy.close();
    }
  });

  test("over SSE resumes after a cut connection, every event once", async () => {
    const proxy = await startTcpProxy();
    try {
      const herald = client({ baseUrl: proxy.url, EventSource });
      const job = await herald.submit("demo.report", LONG_REPORT);
      const events = [];
      let cutAfter;
      const done = await within(
        90_000,
        "following through the proxy",
        herald.follow(job, {
          transport: "sse",
          from: 0,
          onEvent: (event) => {
            events.push(event);
            if (event.type === "job.progress" && cutAfter === undefined) {
              cutAfter = event.seq;
              proxy.cut();
            }
          },
        }),
      );
      assertReportFollowed({ done, events }, "sse through a cut");
      assert.equal(events[0].seq, 1);
      assertConsecutive(
        events.map((event) => event.seq),
        "sse through a cut",
      );
      // The EventSource came back, saying where it was.
      const resumed = proxy
        .requests()
        .filter((head) => head.includes(`/v1/jobs/${job.id}/events`))
        .slice(1);
      assert.ok(resumed.length >= 1, "the stream was not reopened");
      assert.match(resumed[0], new RegExp(`^last-event-id: ${cutAfter}\\r$`, "im"));
    } finally {
      await proxy.close();
    }
  });
});
