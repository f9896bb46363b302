// `stream`: the tenant's many-job stream read with fetch, resumed after a cut connection.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Herald, HeraldError, SseParser } from "../dist/index.js";
import {
  LONG_REPORT,
  assertConsecutive,
  baseUrl,
  client,
  eventually,
  startTcpProxy,
  within,
} from "../testing/harness.mjs";

describe("stream", () => {
  test("resumes with Last-Event-ID after a cut connection, every event once", async () => {
    const proxy = await startTcpProxy();
    const controller = new AbortController();
    try {
      const herald = client({ baseUrl: proxy.url });
      const job = await herald.submit("demo.report", LONG_REPORT);
      const events = [];
      const states = [];
      let cutAfter;
      const streaming = herald.stream({
        jobs: [job.id],
        signal: controller.signal,
        onState: (state) => states.push(state),
        onEvent: (event) => {
          events.push(event);
          if (event.type === "job.progress" && cutAfter === undefined) {
            cutAfter = event.id;
            proxy.cut();
          }
        },
      });
      await eventually(90_000, "the job's terminal event", () =>
        events.some((event) => event.type === "job.completed"),
      );
      controller.abort();
      await within(10_000, "the stream to end once aborted", streaming);

      assert.deepEqual(states.slice(0, 3), ["open", "reconnecting", "open"]);
      assert.ok(events.every((event) => event.job.id === job.id));
      for (const { type, job } of events) {
        const expected = type === "job.progress" ? "processing" : type.slice("job.".length);
        assert.equal(job.status, expected, type);
      }
      assertConsecutive(
        events.map((event) => event.job.seq),
        "the stream through a cut",
      );
      assert.equal(events.at(-1).type, "job.completed");
      assert.equal(new Set(events.map((event) => event.id)).size, events.length);

      const streams = proxy.requests().filter((head) => head.startsWith("GET /v1/events/stream"));
      assert.ok(streams.length >= 2, "the stream was not reopened");
      assert.doesNotMatch(streams[0], /^last-event-id:/im);
      assert.match(streams[1], new RegExp(`^last-event-id: ${cutAfter}\\r$`, "im"));
      assert.match(streams[1], /^authorization: Bearer hk_/im);
    } finally {
      controller.abort();
      await proxy.close();
    }
  });

  test("filters by event type and resumes from a given cursor", async () => {
    const herald = client();
    const job = await herald.submit("demo.sleep", { seconds: 0 });
    await within(60_000, "the job", herald.follow(job, { transport: "poll" }));
    const page = await herald.events({ jobs: [job.id] });
    const pending = page.data.find((event) => event.type === "job.pending");
    assert.ok(pending, JSON.stringify(page));

    const controller = new AbortController();
    const events = [];
    const streaming = herald.stream({
      jobs: [job.id],
      types: ["job.completed"],
      lastEventId: pending.id,
      signal: controller.signal,
      onEvent: (event) => {
        events.push(event);
        controller.abort();
      },
    });
    await within(30_000, "the replayed event", streaming);
    assert.equal(events.length, 1);
    assert.equal(events[0].type, "job.completed");
    assert.equal(events[0].job.id, job.id);
    assert.equal(events[0].id, page.data.find((event) => event.type === "job.completed").id);
  });

  test("says when the feed no longer reaches back to the cursor", async () => {
    // A stand-in for the server: the feed was trimmed past the cursor the client sends.
    const heads = [];
    const fakeFetch = async (_url, init) => {
      heads.push({ ...init.headers });
      const body = new ReadableStream({
        start(stream) {
          init.signal.addEventListener("abort", () => stream.error(init.signal.reason));
          stream.enqueue(
            new TextEncoder().encode(
              'retry: 10\n\nid: 9-0\nevent: job.completed\ndata: {"id":"j","seq":3}\n\n',
            ),
          );
        },
      });
      return new Response(body, {
        headers: { "Content-Type": "text/event-stream", "Last-Event-ID": "earliest" },
      });
    };
    const herald = new Herald({ baseUrl: "http://herald.invalid", key: "k", fetch: fakeFetch });
    const controller = new AbortController();
    let missed = 0;
    const events = [];
    await within(
      10_000,
      "the stream",
      herald.stream({
        lastEventId: "1-0",
        signal: controller.signal,
        onMissed: () => {
          missed += 1;
        },
        onEvent: (event) => {
          events.push(event);
          controller.abort();
        },
      }),
    );
    assert.equal(missed, 1);
    assert.deepEqual(
      events.map((event) => [event.id, event.type]),
      [["9-0", "job.completed"]],
    );
    assert.equal(heads[0]["Last-Event-ID"], "1-0");
  });

  test("a refused stream rejects with the HeraldError", async () => {
    const stranger = new Herald({ baseUrl, key: `hk_0123456789abcdef_${"B".repeat(64)}` });
    const error = await stranger
      .stream({ signal: new AbortController().signal, onEvent: () => {} })
      .then(
        () => assert.fail("an unknown key streamed"),
        (error) => error,
      );
    assert.ok(error instanceof HeraldError);
    assert.equal(error.status, 401);
  });

  test("an error thrown by onEvent ends the stream with it", async () => {
    const herald = client();
    const job = await herald.submit("demo.sleep", { seconds: 0 });
    const streaming = herald.stream({
      jobs: [job.id],
      signal: new AbortController().signal,
      onEvent: () => {
        throw new Error("the caller gave up");
      },
    });
    await assert.rejects(within(30_000, "the stream", streaming), /the caller gave up/);
  });
});

describe("SseParser", () => {
  test("refuses an event that never ends rather than holding it all", () => {
    const parser = new SseParser(() => assert.fail("no event"));
    const chunk = "x".repeat(1024 * 1024);
    parser.push("data: ");
    assert.throws(() => {
      for (let i = 0; i < 9; i += 1) parser.push(chunk);
    }, /longer than/);
  });

  test("reads events split anywhere, with CRLF, comments and multi-line data", () => {
    const events = [];
    const retries = [];
    const parser = new SseParser(
      (event) => events.push(event),
      (ms) => retries.push(ms),
    );
    const text =
      "\uFEFFretry: 3000\r\n\r\n: keep-alive\r\nid: 7\r\nevent: job.progress\r\ndata: {\"a\":\r\n" +
      "data: 1}\r\n\r\ndata: plain\n\nid\nevent: x\rdata:no space\r\r";
    for (let i = 0; i < text.length; i += 3) parser.push(text.slice(i, i + 3));
    assert.deepEqual(retries, [3000]);
    assert.deepEqual(events, [
      { id: "7", type: "job.progress", data: '{"a":\n1}' },
      { id: "7", type: "message", data: "plain" },
      { id: "", type: "x", data: "no space" },
    ]);
  });
});
