// Herald's web console in a real browser: headless Chromium (Debian's /usr/bin/chromium)
// driven by playwright-core over CDP, against a `herald serve` that tests/e2e/console.rs
// started. Each scenario waits on conditions in the page (never on fixed sleeps for
// correctness), and on failure saves a screenshot named after it.
//
// Environment:
//   HERALD_URL       the server, e.g. http://127.0.0.1:PORT
//   HERALD_KEY       an admin API key of the default tenant
//   HERALD_OPEN_URL  a second server on which no key exists (an open development install)
//   FAILURE_DIR      where failure screenshots go (console-failure-<name>.png)
//   DOCS_IMAGES_DIR  where the documentation's screenshots are written on success (optional)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import fs from "node:fs";
import { chromium } from "playwright-core";

const BASE = required("HERALD_URL");
const KEY = required("HERALD_KEY");
const FAILURE_DIR = process.env.FAILURE_DIR ?? ".";
const DOCS_IMAGES_DIR = process.env.DOCS_IMAGES_DIR;
const CONSOLE = `${BASE}/console/`;
/** A second server on which no key exists: an open development install. */
const OPEN_BASE = required("HERALD_OPEN_URL");
/** Generous: a loaded machine runs the browser, the server and the build at once. */
const TIMEOUT = 60_000;

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set (tests/e2e/console.rs sets it)`);
  return value;
}

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
});

after(async () => {
  await browser?.close();
});

// ---------------------------------------------------------------------------------------
// Helpers

/** Calls Herald's API directly (with the admin key unless told otherwise). */
async function api(method, route, body, key = KEY) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${BASE}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function submit(type, payload, extra = {}) {
  const answer = await api("POST", "/v1/jobs", { type, payload, ...extra });
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  return answer.body;
}

/** Polls `check` (an async function answering a truthy value) until it answers one. */
async function eventually(what, check, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last?.stack ?? JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Runs a scenario in a fresh browser context (its own sessionStorage), saving a screenshot
 * of the page when it fails.
 */
function scenario(name, body) {
  test(name, { timeout: 4 * TIMEOUT }, async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    const problems = [];
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    // The console must live within its Content-Security-Policy.
    page.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) problems.push(`CSP: ${message.text()}`);
    });
    try {
      await body(page, context);
      assert.deepEqual(problems, [], "the page threw");
    } catch (error) {
      const file = path.resolve(FAILURE_DIR, `console-failure-${name.replace(/[^a-z0-9]+/gi, "-")}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
      console.error(`screenshot of the failure: ${file}`);
      if (problems.length) console.error(problems.join("\n"));
      throw error;
    } finally {
      await context.close();
    }
  });
}

/** Opens the console and signs in with `key`; waits until the jobs page is live. */
async function signIn(page, key = KEY) {
  await page.goto(CONSOLE);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#nav").waitFor({ state: "visible" });
  await page.locator(".jobs-table").waitFor();
  await page.locator("#live.live-open").waitFor();
}

/** A webhook endpoint on loopback whose answer the test changes mid-way. */
async function receiver() {
  const received = [];
  let status = 500;
  const server = http.createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      received.push({ id: request.headers["webhook-id"], body: JSON.parse(body || "null"), answered: status });
      response.writeHead(status, { "Content-Type": "text/plain" });
      response.end(status === 200 ? "thanks" : "receiver is failing on purpose");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    received,
    answer(next) {
      status = next;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * A TCP proxy in front of Herald on loopback that can cut every connection through it and
 * refuse new ones for a while, as a network drop would.
 */
async function cuttableProxy() {
  const target = new URL(BASE);
  const sockets = new Set();
  let down = false;
  const server = net.createServer((client) => {
    if (down) return client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    drop() {
      down = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      down = false;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The share link the console builds for a job, read from its job page. */
async function shareLinkFromPage(page) {
  await page.getByRole("button", { name: "Copy share link" }).click();
  const input = page.locator("#job-share-link");
  await input.waitFor();
  return input.inputValue();
}

// ---------------------------------------------------------------------------------------
// Scenarios

scenario("signs in with a key and out again", async (page) => {
  await signIn(page);
  // The skip link comes first, shows when focused, and takes the keyboard to the content.
  const skip = page.locator("a.skip-link");
  assert.equal(await page.evaluate(() => document.querySelector("a[href], button, input")?.className), "skip-link");
  const route = await page.evaluate(() => location.hash);
  await skip.focus();
  assert.ok((await skip.boundingBox()).y >= 0, "visible when focused");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "main");
  assert.equal(await page.evaluate(() => location.hash), route, "the route stays");
  await page.locator("h1", { hasText: "Jobs" }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("herald.console.key")), KEY);
  // An admin key sees the keys section.
  await page.locator("#nav-keys").waitFor({ state: "visible" });
  // A reload keeps the session (the key is in this tab's sessionStorage).
  await page.reload();
  await page.locator(".jobs-table").waitFor();
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("API key").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("herald.console.key")), null);
});

scenario("lets anyone in on an open install without a key", async (page) => {
  await page.goto(`${OPEN_BASE}/console/`);
  await page.locator(".jobs-table").waitFor();
  await page.locator("#live.live-open").waitFor();
  assert.equal(await page.getByLabel("API key").count(), 0, "no sign-in form");
  assert.equal(await page.locator("#who").textContent(), "Open install");
  assert.equal(await page.getByRole("button", { name: "Sign out" }).isVisible(), false);
  // Everything is open there, the admin API included.
  await page.locator("#nav-keys").waitFor({ state: "visible" });
});

scenario("refuses a wrong key with the server's reason", async (page) => {
  const wrong = `hk_0123456789abcdef_${"A".repeat(64)}`;
  const refused = await api("GET", "/v1/jobs?limit=1", undefined, wrong);
  assert.equal(refused.status, 401);
  await page.goto(CONSOLE);
  await page.getByLabel("API key").fill(wrong);
  await page.getByRole("button", { name: "Sign in" }).click();
  const error = page.locator("#sign-in-error [role=alert]");
  await error.waitFor();
  const text = await error.textContent();
  assert.ok(text.includes(refused.body.detail), `"${text}" should carry the 401 detail "${refused.body.detail}"`);
  assert.equal(await page.locator("#nav").isVisible(), false, "no section opens");
  assert.equal(await page.getByLabel("API key").getAttribute("aria-invalid"), "true");
});

let shareLink;
let sharedJob;

scenario("shows a job's progress live until it completes", async (page) => {
  await signIn(page);
  // A few finished jobs, so the table and its counts have something to show.
  await submit("demo.sleep", { seconds: 0 });
  await submit("demo.fail", { message: "the printer is on fire" });
  const job = await submit("demo.report", { rows: 60, rows_per_second: 20 });

  // The new job reaches the table through the live stream (no reload, no polling).
  const row = page.locator(`tr[data-id="${job.id}"]`);
  await row.waitFor();
  await page.evaluate(() => {
    window.__notReloaded = true;
  });
  await row.getByRole("link").click();
  await page.locator("#job-progress").waitFor();

  // Watch the bar from inside the page: every value it shows, until the job completes.
  await page.evaluate(() => {
    window.__seen = [];
    const bar = document.getElementById("job-progress");
    new MutationObserver(() => window.__seen.push(Number(bar.value))).observe(bar, { attributes: true });
    window.__seen.push(Number(bar.value));
  });
  await page.waitForFunction(
    () => document.querySelector("#job-status")?.textContent === "completed" && document.getElementById("job-progress").value === 100,
    null,
    { timeout: TIMEOUT },
  );
  assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page was not reloaded");
  const seen = await page.evaluate(() => window.__seen);
  assert.ok(seen.some((v) => v > 0 && v < 100), `the bar moved through intermediate values: ${seen}`);
  assert.match(await page.locator("#job-progress-text").textContent(), /^100 %/);

  // The timeline is the whole history: seq 1, 2, … with no gap, ending in job.completed.
  const items = await page.locator("#job-timeline li").evaluateAll((lis) => lis.map((li) => ({ seq: Number(li.dataset.seq), type: li.dataset.type })));
  assert.deepEqual(items.map((i) => i.seq), items.map((_, n) => n + 1), JSON.stringify(items));
  assert.equal(items[0].type, "job.pending");
  assert.equal(items.at(-1).type, "job.completed");
  assert.ok(items.some((i) => i.type === "job.progress"));
  const final = await api("GET", `/v1/jobs/${job.id}`);
  assert.equal(items.length, final.body.seq);

  // Cancel is off for a finished job, retry and the result are on.
  assert.equal(await page.locator("#job-cancel").isDisabled(), true);
  assert.equal(await page.locator("#job-retry").isEnabled(), true);
  assert.equal(await page.locator("#job-result").isEnabled(), true);

  // The result downloads.
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#job-result").click()]);
  assert.match(download.suggestedFilename(), /\.csv$/);

  shareLink = await shareLinkFromPage(page);
  sharedJob = job.id;
  assert.ok(shareLink.startsWith(`${BASE}/console/#/jobs/${job.id}?token=`), shareLink);

  if (DOCS_IMAGES_DIR) {
    fs.mkdirSync(DOCS_IMAGES_DIR, { recursive: true });
    await page.locator("#job-share-link").evaluate((el) => el.closest(".share-box").replaceChildren());
    await page.screenshot({ path: path.join(DOCS_IMAGES_DIR, "console-job.png"), fullPage: true });
  }

  // Back on the table, the counts follow the live events.
  await page.getByRole("link", { name: "Jobs", exact: true }).first().click();
  await page.locator(`tr[data-id="${job.id}"][data-status="completed"]`).waitFor();
  const listed = await api("GET", "/v1/jobs?status=completed&limit=100");
  await page.waitForFunction(
    (n) => document.querySelector('.count[data-status="completed"] .count-n')?.textContent === String(n),
    listed.body.data.length,
  );
  if (DOCS_IMAGES_DIR) {
    // For the picture, one job still running part-way, which is canceled afterwards.
    const running = await submit("demo.report", { rows: 400, rows_per_second: 20 });
    await page.locator(`tr[data-id="${running.id}"] progress`).waitFor();
    await page.waitForFunction((id) => Number(document.querySelector(`tr[data-id="${id}"] progress`)?.value) >= 25, running.id);
    await page.setViewportSize({ width: 1280, height: 640 });
    await page.screenshot({ path: path.join(DOCS_IMAGES_DIR, "console-jobs.png") });
    await api("POST", `/v1/jobs/${running.id}/cancel`);
  }
});

scenario("cancels a running job from its page", async (page) => {
  await signIn(page);
  const job = await submit("demo.sleep", { seconds: 60 });
  await page.goto(`${CONSOLE}#/jobs/${job.id}`);
  await page.waitForFunction(() => document.querySelector("#job-status")?.textContent === "processing");
  const cancel = page.locator("#job-cancel");
  assert.equal(await cancel.isEnabled(), true);
  assert.equal(await page.locator("#job-retry").isDisabled(), true);
  await cancel.click();
  await page.waitForFunction(() => document.querySelector("#job-status")?.textContent === "canceled");
  await page.locator("#job-timeline li[data-type='job.canceled']").waitFor();
  const after = await api("GET", `/v1/jobs/${job.id}`);
  assert.equal(after.body.status, "canceled");

  // Retry runs it again: the timeline goes on from the next seq, live.
  const retry = page.locator("#job-retry");
  assert.equal(await retry.isEnabled(), true);
  await retry.click();
  await page.locator(`#job-timeline li[data-seq="${after.body.seq + 1}"][data-type="job.pending"]`).waitFor();
  await page.locator(`#job-timeline li[data-seq="${after.body.seq + 2}"][data-type="job.processing"]`).waitFor();
  await page.waitForFunction(() => document.querySelector("#job-status")?.textContent === "processing");
  await cancel.click();
  await page.waitForFunction(() => document.querySelector("#job-status")?.textContent === "canceled");
});

scenario("follows a job's own webhook delivery on its page", async (page) => {
  const endpoint = await receiver();
  try {
    await signIn(page);
    const job = await submit("demo.fail", { message: "nope" }, { webhook: { url: endpoint.url } });
    await page.goto(`${CONSOLE}#/jobs/${job.id}`);
    await page.locator("#job-timeline li[data-type='job.failed']").waitFor();
    // Failing, then retried per the schedule (1s,1s) until it dies: the page keeps up.
    await page.locator("#job-webhook .badge-dead").waitFor();
    assert.match(await page.locator("#job-webhook").textContent(), /Attempts\s*3/);
    assert.equal(endpoint.received.length, 3);
    assert.match(await page.locator("#job-attempts").textContent(), /handler_error: nope/);
  } finally {
    await endpoint.close();
  }
});

scenario("creates, pauses, edits and rotates a subscription", async (page) => {
  const endpoint = await receiver();
  try {
    await signIn(page);
    await page.locator('#nav a[data-section="webhooks"]').click();
    await page.getByText("New subscription").click();
    await page.getByLabel("Endpoint URL").fill(endpoint.url);
    await page.getByLabel("job.progress").uncheck();
    await page.getByRole("button", { name: "Create subscription" }).click();
    // The secret, shown once, in a panel that takes the focus.
    const secret = await page.locator(".secret-panel input").inputValue();
    assert.match(secret, /^whsec_/);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Signing secret");
    const listed = (await api("GET", "/v1/webhooks")).body.data.find((w) => w.url === endpoint.url);
    assert.ok(listed, "created");
    assert.ok(!listed.events.includes("job.progress"));

    await page.getByRole("link", { name: "Open the subscription" }).click();
    const toggle = page.locator("#webhook-toggle");
    await toggle.click();
    await page.getByText("Disabled: its scheduled deliveries die unsent.").waitFor();
    assert.equal((await api("GET", `/v1/webhooks/${listed.id}`)).body.enabled, false);
    await toggle.click();
    await page.getByText("Enabled.", { exact: true }).waitFor();
    assert.equal((await api("GET", `/v1/webhooks/${listed.id}`)).body.enabled, true);

    await page.getByText("Edit", { exact: true }).click();
    await page.getByLabel("Job types").fill("demo.report, demo.sleep");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("Saved.").waitFor();
    assert.deepEqual((await api("GET", `/v1/webhooks/${listed.id}`)).body.job_types, ["demo.report", "demo.sleep"]);

    await page.getByText("Rotate the secret").click();
    await page.getByRole("button", { name: "Rotate secret" }).click();
    const rotated = await page.locator(".secret-panel input").inputValue();
    assert.match(rotated, /^whsec_/);
    assert.notEqual(rotated, secret);

    // Delete asks first, then the list no longer has it.
    page.once("dialog", (dialog) => dialog.accept());
    await page.getByRole("button", { name: "Delete" }).click();
    await page.locator("#subs-h").waitFor();
    assert.equal((await api("GET", `/v1/webhooks/${listed.id}`)).status, 404);
  } finally {
    await endpoint.close();
  }
});

scenario("retries a dead delivery and replays a window", async (page) => {
  const endpoint = await receiver();
  try {
    const created = await api("POST", "/v1/webhooks", { url: endpoint.url, events: ["job.completed"], job_types: ["demo.sleep"] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const webhook = created.body;
    const job = await submit("demo.sleep", { seconds: 0 });
    // The endpoint answers 500 until the schedule (1s,1s) runs out: the delivery dies.
    const dead = await eventually("a dead delivery", async () => {
      const page = await api("GET", `/v1/webhooks/${webhook.id}/deliveries?status=dead`);
      return page.body.data.find((d) => d.job_id === job.id);
    });
    assert.equal(dead.attempts.every((a) => a.status_code === 500), true);

    await signIn(page);
    await page.locator('#nav a[data-section="webhooks"]').click();
    // The dead deliveries at a glance link to it.
    const deadLink = page.locator(`a[href="#/webhooks/${webhook.id}?delivery=${dead.id}"]`);
    await deadLink.waitFor();
    await deadLink.click();
    const item = page.locator(`details.delivery[data-id="${dead.id}"]`);
    await item.locator("table").waitFor();
    assert.equal(await item.locator("tbody tr").count(), dead.attempt_count);
    assert.match(await item.locator("tbody").textContent(), /500/);
    assert.match(await item.locator("tbody").textContent(), /receiver is failing on purpose/);

    endpoint.answer(200);
    await item.locator(`[data-retry="${dead.id}"]`).click();
    // The new attempt appears: delivered, one attempt more, a 200 among them.
    const delivered = page.locator(`details.delivery[data-id="${dead.id}"][data-state="delivered"]`);
    await delivered.waitFor();
    assert.equal(await delivered.locator("tbody tr").count(), dead.attempt_count + 1);
    assert.match(await delivered.locator("tbody").textContent(), /200/);
    assert.ok(endpoint.received.some((r) => r.id === dead.id && r.answered === 200));

    // Replay the last ten minutes: a new delivery of the job's completion, due at once.
    const before = endpoint.received.length;
    const since = new Date(Date.now() - 10 * 60_000);
    const pad = (n) => String(n).padStart(2, "0");
    const local = `${since.getFullYear()}-${pad(since.getMonth() + 1)}-${pad(since.getDate())}T${pad(since.getHours())}:${pad(since.getMinutes())}:${pad(since.getSeconds())}`;
    await page.getByLabel("From").fill(local);
    await page.locator("#replay-button").click();
    const result = page.locator("#replay-result [role=status]");
    await result.waitFor();
    const replayed = Number(/Replayed (\d+)/.exec(await result.textContent())[1]);
    assert.ok(replayed >= 1, await result.textContent());
    await eventually("the replayed deliveries to arrive", async () => endpoint.received.length >= before + replayed);
    const fresh = endpoint.received.slice(before);
    assert.ok(fresh.every((r) => r.id !== dead.id), "a replay sends new deliveries");
    assert.ok(fresh.some((r) => r.body.data.id === job.id));
    // Leave no subscription behind for the scenarios after this one.
    assert.equal((await api("DELETE", `/v1/webhooks/${webhook.id}`)).status, 204);
  } finally {
    await endpoint.close();
  }
});

scenario("opens one job from a read-token link and nothing else", async (page) => {
  assert.ok(shareLink, "the progress scenario made a share link");
  const requests = [];
  page.on("request", (request) => requests.push(new URL(request.url()).pathname + new URL(request.url()).search));
  await page.goto(shareLink);
  await page.waitForFunction(() => document.querySelector("#job-status")?.textContent === "completed");
  await page.locator("#job-timeline li[data-type='job.completed']").waitFor();
  assert.equal(await page.locator("#nav").isVisible(), false, "no sections");
  assert.equal(await page.locator("#job-cancel").count(), 0, "no cancel");
  assert.equal(await page.locator("#job-retry").count(), 0, "no retry");
  assert.equal(await page.getByLabel("API key").count(), 0, "no sign-in form");
  // The job's result is readable with the token.
  assert.equal(await page.locator("#job-result").isEnabled(), true);

  // Another section is not shown, and not asked for.
  await page.evaluate(() => {
    location.hash = "#/webhooks";
  });
  await page.getByRole("heading", { name: "One job only" }).waitFor();
  const api = requests.filter((r) => r.startsWith("/v1/"));
  assert.ok(api.length > 0);
  for (const request of api) {
    assert.ok(request.startsWith(`/v1/jobs/${sharedJob}`), `only the job's own routes are read: ${request}`);
    assert.ok(request.includes("token="), `with the token: ${request}`);
  }
});

scenario("says it is reconnecting and misses nothing across a dropped stream", async (page) => {
  const proxy = await cuttableProxy();
  try {
    const streams = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname === "/v1/events/stream") streams.push(request.headers()["last-event-id"]);
    });
    await page.goto(`${proxy.base}/console/`);
    await page.getByLabel("API key").fill(KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator(".jobs-table").waitFor();
    await page.locator("#live.live-open").waitFor();
    // One event through the stream, so it has an id to resume from.
    const seen = await submit("demo.sleep", { seconds: 0 });
    await page.locator(`tr[data-id="${seen.id}"][data-status="completed"]`).waitFor();

    proxy.drop();
    await page.locator("#live.live-reconnecting").waitFor();
    assert.match(await page.locator("#live").textContent(), /Reconnecting/);
    // While the console is cut off, a job runs from start to end.
    const missed = await submit("demo.sleep", { seconds: 0 });
    await eventually("the job to complete", async () => (await api("GET", `/v1/jobs/${missed.id}`)).body.status === "completed");

    proxy.restore();
    await page.locator("#live.live-open").waitFor();
    // The stream resumed after the last event it had: the job shows up, completed.
    await page.locator(`tr[data-id="${missed.id}"][data-status="completed"]`).waitFor();
    const resumed = streams.slice(1);
    assert.ok(resumed.length > 0 && resumed.every((id) => id), `every reconnection sends Last-Event-ID: ${JSON.stringify(streams)}`);
  } finally {
    await proxy.close();
  }
});

scenario("makes no request while nothing changes", async (page) => {
  await signIn(page);
  // Settled: the table is drawn and the stream is open. Then count every request.
  await page.waitForLoadState("networkidle").catch(() => undefined);
  const requests = [];
  page.on("request", (request) => requests.push(`${request.method()} ${request.url()}`));
  const window = 6_000;
  await page.waitForTimeout(window);
  assert.deepEqual(requests, [], `requests while idle for ${window} ms`);
  assert.equal(await page.locator("#live.live-open").count(), 1, "the stream stayed open");
});

scenario("hides keys from a non-admin key and lets an admin make one", async (page) => {
  const made = await api("POST", "/v1/admin/keys", { tenant: "default", name: "console-test", admin: false });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  await signIn(page, made.body.key);
  assert.equal(await page.locator("#nav-keys").isVisible(), false, "no keys section for a non-admin key");
  await page.getByRole("button", { name: "Sign out" }).click();

  await signIn(page);
  await page.locator('#nav a[data-section="keys"]').click();
  await page.locator(`tr[data-id="${made.body.id}"]`).waitFor();
  await page.getByText("New key").click();
  await page.getByLabel("Name (optional)").fill("from-the-console");
  await page.getByRole("button", { name: "Create key" }).click();
  const shown = page.locator(".secret-panel input");
  await shown.waitFor();
  const key = await shown.inputValue();
  assert.match(key, /^hk_[0-9a-f]{16}_/);
  assert.equal((await api("GET", "/v1/jobs?limit=1", undefined, key)).status, 200, "the key shown works");

  // Revoking asks first; the key is refused from then on.
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: `Revoke key ${made.body.id}` }).click();
  await page.locator(`tr[data-id="${made.body.id}"]`).waitFor({ state: "detached" });
  assert.equal((await api("GET", "/v1/jobs?limit=1", undefined, made.body.key)).status, 401, "the revoked key is refused");
});

scenario("lists a source's requests with their outcomes and replays them", async (page) => {
  const name = `console-test-${Date.now()}`;
  const created = await api("POST", "/v1/sources", {
    name,
    job_type: "demo.fail",
    verify: { scheme: "basic", username: "provider", password: "hunter2-hunter2" },
    dedupe: { json_pointer: "/id" },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const source = created.body;
  const post = (auth) =>
    fetch(`${BASE}${source.ingest_url}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(auth ? { Authorization: `Basic ${Buffer.from(auth).toString("base64")}` } : {}) },
      body: JSON.stringify({ id: "evt_1" }),
    });
  assert.ok((await post("provider:hunter2-hunter2")).ok);
  assert.ok((await post("provider:hunter2-hunter2")).ok);
  assert.equal((await post("provider:wrong")).status, 401);

  await signIn(page);
  await page.locator('#nav a[data-section="sources"]').click();
  await page.getByRole("link", { name }).click();
  await page.locator("#requests tbody tr").first().waitFor();
  const outcomes = await page.locator("#requests tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.outcome));
  assert.deepEqual(outcomes, ["rejected", "duplicate", "accepted"]);
  const rejected = await page.locator('#requests tr[data-outcome="rejected"]').textContent();
  assert.ok(rejected.length > "rejected".length + 10, `the reason is shown: ${rejected}`);

  // The accepted request's job fails (demo.fail): replay retries it.
  const accepted = (await api("GET", `/v1/sources/${source.id}/requests?outcome=accepted`)).body.data[0];
  await eventually("the source's job to fail", async () => (await api("GET", `/v1/jobs/${accepted.job_id}`)).body.status === "failed");
  await page.getByRole("button", { name: "Replay", exact: true }).click();
  await page.getByText(/Retried 1 job/).waitFor();

  // Edit: a new name, and every request a new event (no deduplication).
  await page.getByText("Edit", { exact: true }).click();
  await page.getByLabel("Name", { exact: true }).fill(`${name}-renamed`);
  await page.getByLabel("Deduplicate by").selectOption("");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved.").waitFor();
  await page.getByRole("heading", { name: `${name}-renamed` }).waitFor();
  const edited = (await api("GET", `/v1/sources/${source.id}`)).body;
  assert.equal(edited.name, `${name}-renamed`);
});
