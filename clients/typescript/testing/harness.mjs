// What the tests share: the server they run against, and the local proxies and receiver they
// put in its way. Kept outside `test/` so that `node --test test/` does not take it for a test.

import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";

import { Herald } from "../dist/index.js";

function required(name) {
  const value = process.env[name];
  assert.ok(
    value,
    `${name} is not set: the tests run against a live herald (HERALD_URL, e.g. ` +
      `http://127.0.0.1:8080) started with --bootstrap-admin-key HERALD_KEY and ` +
      `--webhook-allow-private-targets`,
  );
  return value;
}

/** The herald under test and its admin key. */
export const baseUrl = required("HERALD_URL").replace(/\/+$/, "");
export const key = required("HERALD_KEY");

/** A client of the server under test (or of `options.baseUrl`), with the admin key. */
export function client(options = {}) {
  return new Herald({ baseUrl, key, ...options });
}

/**
 * A report slow enough (about 4 s, a progress report every 200 ms) for a poller to see it
 * run whatever the machine's load.
 */
export const SLOW_REPORT = { rows: 40, rows_per_second: 10 };

/**
 * A report of about 10 s: long enough that a stream cut at its first progress report is cut
 * while the job still runs, so that it has something to resume.
 */
export const LONG_REPORT = { rows: 100, rows_per_second: 10 };

/** `promise`, or a failure naming `what` after `ms`. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves once `predicate()` holds, checking every 50 ms, or fails after `ms`. */
export async function eventually(ms, what, predicate) {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Asserts `seqs` rise by one each time: no gap, no duplicate. */
export function assertConsecutive(seqs, what) {
  assert.ok(seqs.length > 0, `${what}: no events`);
  for (let i = 1; i < seqs.length; i += 1) {
    assert.equal(seqs[i], seqs[i - 1] + 1, `${what}: a gap or a duplicate in ${seqs.join(",")}`);
  }
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server.address().port));
  });
}

/**
 * A TCP proxy to the server that can cut every connection through it at once, as a network
 * failure would, or freeze some (the server's bytes stop reaching the client, but the
 * connection stays open, as when a route dies without a word). `requests()` lists the
 * request heads that went through, in order.
 */
export async function startTcpProxy() {
  const target = new URL(baseUrl);
  const sockets = new Set();
  const sent = [];
  const server = net.createServer((downstream) => {
    const upstream = net.connect(Number(target.port || 80), target.hostname);
    const connection = { text: "", downstream, upstream };
    sent.push(connection);
    for (const socket of [downstream, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {
        downstream.destroy();
        upstream.destroy();
      });
    }
    downstream.on("data", (chunk) => {
      connection.text += chunk.toString("latin1");
    });
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    /** The request heads sent through the proxy so far. */
    requests() {
      const head = /^[A-Z]+ [^\r\n]* HTTP\/1\.1\r\n[\s\S]*?\r\n\r\n/gm;
      return sent.flatMap(({ text }) => text.match(head) ?? []);
    },
    /** Stops the server's bytes on every open connection whose requests match `pattern`. */
    freeze(pattern) {
      let frozen = 0;
      for (const { text, downstream, upstream } of sent) {
        if (!pattern.test(text) || downstream.destroyed) continue;
        upstream.unpipe(downstream);
        upstream.pause();
        frozen += 1;
      }
      return frozen;
    },
    /** Cuts every open connection. */
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * An HTTP proxy to the server that blocks the job event streams, as some proxies do:
 * `events: "502"` refuses them, `events: "silent"` answers `200 text/event-stream` and never
 * sends a byte. With `holdPolls: n`, the first `n` long polls of a job (`?wait=`) are never
 * answered. Every other request goes through. `blocked` counts the streams held back, `held`
 * the polls.
 */
export async function startBlockingProxy({ events, holdPolls = 0 }) {
  const target = new URL(baseUrl);
  let blocked = 0;
  let held = 0;
  const server = http.createServer((request, response) => {
    if (held < holdPolls && /^\/v1\/jobs\/[^/?]+\?(.*&)?wait=/.test(request.url ?? "")) {
      held += 1;
      return; // Never answered.
    }
    if (events && /^\/v1\/jobs\/[^/?]+\/events/.test(request.url ?? "")) {
      blocked += 1;
      if (events === "502") {
        response.writeHead(502, { "Content-Type": "text/plain" }).end("event streams are blocked");
      } else {
        response.writeHead(200, { "Content-Type": "text/event-stream" });
        response.flushHeaders();
      }
      return;
    }
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on("error", () => response.destroy());
    request.pipe(upstream);
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    get blocked() {
      return blocked;
    },
    get held() {
      return held;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** An HTTP receiver of webhooks on loopback: records each request (raw body) and answers 204. */
export async function startReceiver() {
  const received = [];
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      received.push({
        method: request.method,
        headers: request.headers,
        body: new Uint8Array(Buffer.concat(chunks)),
      });
      response.writeHead(204).end();
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
