// Jobs: the table (filtered by status and type, counted per status, kept current by the
// tenant's event stream) and one job's page (its timeline from its whole event history, a
// live progress bar, attempts, its webhook's delivery, result, cancel and retry).

import {
  h,
  replace,
  field,
  notice,
  statusLine,
  busy,
  badge,
  time,
  duration,
  table,
  copyBox,
  actionForm,
  refreshButton,
  rereadOn,
  problemMessage,
} from "./ui.js";

export const STATUSES = ["pending", "processing", "completed", "failed", "canceled"];
const TERMINAL = new Set(["completed", "failed", "canceled"]);
const PAGE = 100;

/** Whether a job's status is final (until a retry by hand). */
export function isTerminal(job) {
  return TERMINAL.has(job.status);
}

/**
 * The jobs the console knows: the newest pages of the list, plus every job the live stream
 * has told about since. Counts per status are derived from it, so they need no polling.
 */
export class JobStore {
  constructor() {
    this.jobs = new Map();
    /** Whether the newest page was read; `cursor` continues the unfiltered list. */
    this.loaded = false;
    this.cursor = null;
    this.listeners = new Set();
  }

  /** Takes a job resource (from a list, a poll or an event); an older `seq` never wins. */
  apply(job) {
    const known = this.jobs.get(job.id);
    if (known && known.seq > job.seq) return false;
    const merged = { ...job };
    // Event snapshots carry neither the webhook's state nor tokens on their links.
    if (known && !("webhook" in job) && "webhook" in known) merged.webhook = known.webhook;
    if (known?.links && job.links && !String(job.links.self ?? "").includes("token=")) {
      merged.links = known.links;
    }
    this.jobs.set(job.id, merged);
    for (const listener of this.listeners) listener(merged);
    return true;
  }

  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  counts() {
    const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    for (const job of this.jobs.values()) counts[job.status] = (counts[job.status] ?? 0) + 1;
    return counts;
  }

  types() {
    return [...new Set([...this.jobs.values()].map((job) => job.type))].sort();
  }

  /** The jobs matching the filters, newest first (ids are UUIDv7: they sort by creation). */
  matching({ status, type }) {
    return [...this.jobs.values()]
      .filter((job) => (!status || job.status === status) && (!type || job.type === type))
      .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  /** Reads the newest page of the unfiltered list, once per session. */
  async loadNewest(client) {
    if (this.loaded) return;
    const page = await client.list({ limit: PAGE });
    for (const job of page.data) this.apply(job);
    this.cursor = page.next_cursor;
    this.loaded = true;
  }
}

/** `0193a…` → its last twelve characters, the random (distinctive) part of a UUIDv7. */
export function shortId(id) {
  return id.length > 12 ? `…${id.slice(-12)}` : id;
}

function progressText(job) {
  const progress = job.progress;
  if (!progress) return job.status === "completed" ? "100 %" : "";
  const message = progress.message ? ` — ${progress.message}` : "";
  return `${progress.percent} %${message}`;
}

function percentOf(job) {
  if (job.status === "completed") return 100;
  return job.progress?.percent ?? 0;
}

// ---------------------------------------------------------------------------------------
// The jobs table

export async function renderJobs(container, app, query, signal) {
  const filters = { status: query.get("status") || "", type: query.get("type") || "" };
  const heading = h("h1", {}, "Jobs");
  document.title = "Jobs · Herald console";
  replace(container, heading, h("p", { class: "loading" }, "Loading jobs…"));

  await app.store.loadNewest(app.client);
  // A filtered view also reads the newest matching jobs, which may be older than the page.
  let filteredCursor = null;
  if (filters.status || filters.type) {
    const page = await app.client.list({ status: filters.status || undefined, type: filters.type || undefined, limit: PAGE });
    for (const job of page.data) app.store.apply(job);
    filteredCursor = page.next_cursor;
  }
  if (signal.aborted) return;

  const countsList = h("ul", { class: "counts", "aria-label": "Jobs by status" });
  const countsNote = h("p", { class: "hint counts-note" });
  const typeList = h("datalist", { id: "job-types" });
  const rows = new Map();
  const tbody = h("tbody");
  const empty = h("p", { class: "empty", hidden: true }, "No jobs match.");
  const more = h("button", { type: "button", class: "button" }, "Load older jobs");
  const moreStatus = statusLine();

  const statusSelect = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "Any status"),
    STATUSES.map((s) => h("option", { value: s, selected: s === filters.status }, s)),
  );
  const typeInput = h("input", {
    type: "search",
    name: "type",
    list: "job-types",
    value: filters.type,
    placeholder: "Any type",
    autocomplete: "off",
  });
  const applyFilters = (event) => {
    event?.preventDefault();
    const params = new URLSearchParams();
    if (statusSelect.value) params.set("status", statusSelect.value);
    if (typeInput.value.trim()) params.set("type", typeInput.value.trim());
    const search = params.toString();
    location.hash = `#/jobs${search ? `?${search}` : ""}`;
  };
  statusSelect.addEventListener("change", applyFilters);
  const filterForm = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter jobs", onsubmit: applyFilters },
    field("Status", statusSelect),
    field("Type", typeInput),
    typeList,
    h("div", { class: "filters-actions" }, h("button", { type: "submit", class: "button" }, "Filter"), filters.status || filters.type ? h("a", { href: "#/jobs", class: "button button-quiet" }, "Clear") : null),
  );

  const grid = h(
    "div",
    { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Jobs table" },
    h(
      "table",
      { class: "jobs-table" },
      h("caption", { class: "visually-hidden" }, "Jobs, newest first; updated live"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Job", "Type", "Status", "Progress", "Attempt", "Created", "Updated"].map((name) => h("th", { scope: "col" }, name)),
        ),
      ),
      tbody,
    ),
  );

  // The chips are made once and updated in place, so a focused one keeps the focus.
  const chips = new Map();
  for (const status of ["", ...STATUSES]) {
    const params = new URLSearchParams();
    if (status) params.set("status", status);
    if (filters.type) params.set("type", filters.type);
    const search = params.toString();
    const current = (filters.status || "") === status;
    const n = h("span", { class: "count-n" }, "0");
    chips.set(status, n);
    countsList.append(
      h(
        "li",
        {},
        h(
          "a",
          {
            class: `count count-${status || "all"}`,
            href: `#/jobs${search ? `?${search}` : ""}`,
            "aria-current": current ? "true" : null,
            "data-status": status || "all",
          },
          n,
          h("span", { class: "count-label" }, status || "all"),
        ),
      ),
    );
  }

  function renderCounts() {
    const counts = app.store.counts();
    const total = app.store.jobs.size;
    for (const [status, n] of chips) {
      const value = String(status ? counts[status] : total);
      if (n.textContent !== value) n.textContent = value;
    }
    countsNote.textContent =
      `Counted over the ${total} job${total === 1 ? "" : "s"} loaded` +
      (app.store.cursor ? " (the newest; older ones are not counted until loaded)." : ", every job Herald holds for this tenant.");
    const types = app.store.types();
    if (typeList.children.length !== types.length) replace(typeList, types.map((type) => h("option", { value: type })));
  }

  // A row is made once; an update rewrites its cells but the first, whose link may hold
  // the focus.
  function row(job) {
    let tr = rows.get(job.id);
    if (!tr) {
      tr = h(
        "tr",
        { dataset: { id: job.id } },
        h("td", {}, h("a", { href: `#/jobs/${job.id}`, class: "mono", "aria-label": `Job ${job.id}`, title: job.id }, shortId(job.id))),
        ...Array.from({ length: 6 }, () => h("td")),
      );
      rows.set(job.id, tr);
    }
    const version = `${job.seq} ${JSON.stringify(job.webhook ?? null)}`;
    if (tr.dataset.version === version) return tr;
    tr.dataset.version = version;
    tr.dataset.status = job.status;
    const bar = h("progress", { max: "100", value: String(percentOf(job)), "aria-label": `Progress of job ${job.id}` });
    const showBar = job.status === "processing" || job.progress;
    const [, type, status, progress, attempt, created, updated] = tr.children;
    replace(type, job.type);
    replace(status, badge(job.status));
    replace(progress, showBar ? h("div", { class: "progress-cell" }, bar, h("span", { class: "progress-text" }, `${percentOf(job)} %`)) : h("span", { class: "muted" }, "—"));
    attempt.className = "num";
    replace(attempt, `${job.attempt}/${job.max_attempts}`);
    replace(created, time(job.created_at));
    replace(updated, time(job.updated_at));
    return tr;
  }

  // Rows never move relative to each other (ids sort by creation), so an update only adds
  // and removes rows: a focused link stays focused while the table changes around it.
  function renderRows() {
    const jobs = app.store.matching(filters);
    const keep = new Set(jobs.map((j) => j.id));
    for (const [id, tr] of rows) {
      if (!keep.has(id)) {
        tr.remove();
        rows.delete(id);
      }
    }
    let previous = null;
    for (const job of jobs) {
      const tr = row(job);
      const expected = previous ? previous.nextSibling : tbody.firstChild;
      if (tr !== expected) tbody.insertBefore(tr, expected);
      previous = tr;
    }
    empty.hidden = jobs.length > 0;
    const cursor = filters.status || filters.type ? filteredCursor : app.store.cursor;
    more.hidden = !cursor;
  }

  let scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      if (signal.aborted) return;
      renderCounts();
      renderRows();
    });
  }

  more.addEventListener("click", () =>
    busy(more, moreStatus, async () => {
      if (filters.status || filters.type) {
        const page = await app.client.list({
          status: filters.status || undefined,
          type: filters.type || undefined,
          limit: PAGE,
          cursor: filteredCursor,
        });
        for (const job of page.data) app.store.apply(job);
        filteredCursor = page.next_cursor;
      } else {
        const page = await app.client.list({ limit: PAGE, cursor: app.store.cursor });
        for (const job of page.data) app.store.apply(job);
        app.store.cursor = page.next_cursor;
      }
      schedule();
    }),
  );

  const stop = app.store.onChange(schedule);
  signal.addEventListener("abort", stop);

  replace(
    container,
    heading,
    countsList,
    countsNote,
    submitForm(app),
    filterForm,
    grid,
    empty,
    h("div", { class: "actions" }, more),
    moreStatus.el,
  );
  renderCounts();
  renderRows();
}

/** A small form to submit a job, for trying types out from the console. */
function submitForm(app) {
  const type = h("input", { type: "text", name: "type", list: "job-types", required: true, value: "demo.report", autocomplete: "off" });
  const payload = h("textarea", { name: "payload", rows: "3", class: "mono", spellcheck: "false" });
  payload.value = '{"rows": 60, "rows_per_second": 20}';
  const webhook = h("input", { type: "url", name: "webhook", placeholder: "https://client.example/hooks", autocomplete: "off" });
  const form = actionForm(
    {
      submit: "Submit",
      class: "stack",
      action: async (status) => {
        let body;
        try {
          body = payload.value.trim() ? JSON.parse(payload.value) : undefined;
        } catch (error) {
          throw new Error(`The payload is not JSON: ${error.message}`);
        }
        const options = webhook.value.trim() ? { webhook: { url: webhook.value.trim() } } : undefined;
        const job = await app.client.submit(type.value.trim(), body, options);
        app.store.apply(job);
        const secret = job.webhook?.secret;
        replace(
          status.el,
          notice(
            "success",
            "Submitted ",
            h("a", { href: `#/jobs/${job.id}` }, `job ${shortId(job.id)}`),
            ".",
            secret ? ` Its webhook's generated secret (shown once): ${secret}` : "",
          ),
        );
      },
    },
    h("div", { class: "form-grid" }, field("Type", type), field("Webhook URL (optional)", webhook)),
    field("Payload (JSON)", payload),
  );
  return h("details", { class: "card disclosure" }, h("summary", {}, "Submit a job"), form);
}

// ---------------------------------------------------------------------------------------
// One job

/** The read token on a job's links (`links.self` ends in `?token=` while keys are in force). */
export function tokenOf(job) {
  const self = job?.links?.self;
  if (!self) return null;
  try {
    return new URL(self, location.origin).searchParams.get("token");
  } catch {
    return null;
  }
}

/** The expiry a `v2.` token carries in its readable payload, or `null`. */
function tokenExpiry(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const payload = atob(parts[1].replace(/-/g, "+").replace(/_/g, "/"));
    const seconds = Number(payload.split(".")[1]);
    return Number.isFinite(seconds) ? new Date(seconds * 1000) : null;
  } catch {
    return null;
  }
}

function shareLink(id, token) {
  return `${location.origin}/console/#/jobs/${encodeURIComponent(id)}?token=${encodeURIComponent(token)}`;
}

function eventSummary(type, job) {
  switch (type) {
    case "job.pending":
      return job.attempt > 0 ? `queued again (after attempt ${job.attempt})` : "queued";
    case "job.processing":
      return `attempt ${job.attempt} of ${job.max_attempts} started`;
    case "job.progress":
      return progressText(job);
    case "job.completed":
      return job.result_url ? "completed with a result" : "completed";
    case "job.failed":
    case "job.canceled":
      return job.error ? `${job.error.code}: ${job.error.message}` : type.slice(4);
    default:
      return "";
  }
}

/**
 * Re-reads something after a change, at growing intervals, until `settled` says it has
 * settled (or the intervals run out): used where Herald has no stream, such as a webhook
 * delivery after its job finished. Started by a change, never by the clock alone.
 */
export async function watchUntilSettled(read, settled, signal, delays = [500, 1000, 2000, 4000, 8000, 15000]) {
  for (const delay of delays) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, delay);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (signal.aborted) return;
    const value = await read();
    if (signal.aborted || settled(value)) return;
  }
}

/** Past this, a scheduled attempt is too far away to wait for: the Refresh button reads it. */
const DUE_HORIZON_MS = 10 * 60_000;

/**
 * Calls `read` once, a moment after the time `at` (RFC 3339) at which Herald said something
 * will happen (a delivery's next attempt), when that is soon. Returns the function that
 * cancels it. `overdue` counts reads in a row that found the time already past, so a
 * notifier that runs late is not asked again and again.
 */
export function readWhenDue(at, read, signal, overdue = 0) {
  if (!at || overdue >= 3) return () => undefined;
  const due = Date.parse(at) - Date.now();
  if (!(due <= DUE_HORIZON_MS)) return () => undefined;
  const timer = setTimeout(() => {
    if (!signal.aborted) read(due < 0 ? overdue + 1 : 0);
  }, Math.max(due, 0) + 1500);
  const cancel = () => clearTimeout(timer);
  signal.addEventListener("abort", cancel, { once: true });
  return cancel;
}

export async function renderJob(container, app, id, signal) {
  const readOnly = app.mode === "token";
  document.title = "Job · Herald console";
  replace(container, h("p", { class: "loading" }, "Loading the job…"));
  let job;
  try {
    job = await app.client.get(id, { signal });
  } catch (error) {
    if (signal.aborted) return;
    replace(
      container,
      h("h1", {}, "Job not available"),
      notice("error", problemMessage(error)),
      readOnly ? h("p", {}, "Ask for a fresh link: read-only links expire.") : h("p", {}, h("a", { href: "#/jobs" }, "Back to the jobs")),
    );
    return;
  }
  if (signal.aborted) return;
  if (!readOnly) app.store.apply(job);

  const heading = h("h1", {}, job.type, " ", h("span", { class: "mono heading-id" }, shortId(job.id)));
  document.title = `${job.type} ${shortId(job.id)} · Herald console`;
  const statusBadge = h("span", { id: "job-status", role: "status", "aria-live": "polite" });
  const bar = h("progress", { id: "job-progress", max: "100", value: "0", "aria-labelledby": "job-progress-label" });
  const barText = h("span", { id: "job-progress-text", class: "progress-text" });
  const actionsStatus = statusLine();
  const cancel = h("button", { type: "button", class: "button button-danger", id: "job-cancel" }, "Cancel");
  const retry = h("button", { type: "button", class: "button", id: "job-retry" }, "Retry");
  const download = h("button", { type: "button", class: "button", id: "job-result" }, "Download result");
  const share = h("button", { type: "button", class: "button", id: "job-share" }, "Copy share link");
  const shareBox = h("div", { class: "share-box" });
  const details = h("dl", { class: "details" });
  const attemptsBox = h("div", { id: "job-attempts" });
  const webhookBox = h("div", { id: "job-webhook" });
  const timeline = h("ol", { class: "timeline", id: "job-timeline", "aria-label": "Events, oldest first" });
  const timelineNote = h("p", { class: "hint", "aria-live": "polite" });
  const seen = new Set();

  function render() {
    // Rewritten only when it changes: it is a live region, and each rewrite is read out.
    if (statusBadge.textContent !== job.status) replace(statusBadge, badge(job.status));
    bar.value = percentOf(job);
    bar.setAttribute("aria-valuetext", progressText(job) || `${percentOf(job)} %`);
    barText.textContent = progressText(job) || `${percentOf(job)} %`;
    cancel.disabled = isTerminal(job);
    retry.disabled = !isTerminal(job);
    download.disabled = !job.result_url;
    replace(
      details,
      dt("Id"), dd(h("span", { class: "mono" }, job.id)),
      dt("Type"), dd(job.type),
      dt("Attempt"), dd(`${job.attempt} of ${job.max_attempts}`),
      dt("Timeout"), dd(`${job.timeout_s} s`),
      dt("Created"), dd(time(job.created_at)),
      dt("Started"), dd(time(job.started_at)),
      dt("Finished"), dd(time(job.finished_at)),
      dt("Updated"), dd(time(job.updated_at)),
      dt("Seq"), dd(String(job.seq)),
      job.error ? [dt("Error"), dd(h("span", { class: "error-text" }, `${job.error.code}: ${job.error.message}`))] : null,
      job.metadata && Object.keys(job.metadata).length ? [dt("Metadata"), dd(h("code", { class: "mono" }, JSON.stringify(job.metadata)))] : null,
    );
    renderAttempts();
    renderWebhook();
  }

  function renderAttempts() {
    const attempts = job.attempts ?? [];
    if (attempts.length === 0) {
      replace(attemptsBox, h("p", { class: "muted" }, "No attempt yet."));
      return;
    }
    const anyHttp = attempts.some((a) => "http_status" in a || "response_excerpt" in a);
    const headers = ["#", "Started", "Finished", "Duration", "Outcome", "Error"];
    if (anyHttp) headers.push("HTTP status", "Response");
    replace(
      attemptsBox,
      table(
        "Attempts, oldest first",
        headers,
        attempts.map((a) =>
          h(
            "tr",
            {},
            h("td", { class: "num" }, String(a.attempt)),
            h("td", {}, time(a.started_at)),
            h("td", {}, time(a.finished_at)),
            h("td", { class: "num" }, duration(a.duration_ms)),
            h("td", {}, a.outcome ? badge(a.outcome) : h("span", { class: "muted" }, "running")),
            h("td", { class: a.error ? "error-text" : "muted" }, a.error ? `${a.error.code}: ${a.error.message}` : "—"),
            anyHttp ? h("td", { class: "num" }, a.http_status ?? "—") : null,
            anyHttp ? h("td", {}, a.response_excerpt ? h("pre", { class: "excerpt" }, a.response_excerpt) : "—") : null,
          ),
        ),
        { captionHidden: true },
      ),
    );
  }

  const webhookStatus = statusLine();
  const refreshWebhook = refreshButton();
  rereadOn(webhookStatus, reread, refreshWebhook);

  // A retrying delivery's next attempt is announced: read the job again just after it.
  let cancelDue = () => undefined;
  let overdue = 0;
  function followWebhookAttempts() {
    cancelDue();
    if (job.webhook?.state !== "retrying") return;
    cancelDue = readWhenDue(
      job.webhook.next_attempt_at,
      (late) => {
        overdue = late;
        reread().catch(() => undefined);
      },
      signal,
      overdue,
    );
  }

  function renderWebhook() {
    followWebhookAttempts();
    if (!job.webhook) {
      replace(webhookBox, h("p", { class: "muted" }, "This job was submitted without a webhook of its own."));
      return;
    }
    const w = job.webhook;
    replace(
      webhookBox,
      h(
        "dl",
        { class: "details" },
        dt("Delivery"), dd(badge(w.state)),
        dt("Attempts"), dd(String(w.attempts)),
        dt("Next attempt"), dd(time(w.next_attempt_at)),
      ),
      h("div", { class: "actions" }, refreshWebhook),
      webhookStatus.el,
    );
  }

  async function reread() {
    const fresh = await app.client.get(id, { signal });
    update(fresh);
    return fresh;
  }

  function update(next) {
    if (next.seq < job.seq) return;
    const merged = { ...next };
    if (!("webhook" in next) && "webhook" in job) merged.webhook = job.webhook;
    if (!tokenOf(next) && tokenOf(job)) merged.links = job.links;
    const wasTerminal = isTerminal(job);
    job = merged;
    if (!readOnly) app.store.apply(next);
    // The status badge is a live region: a new status is announced from there.
    render();
    if (!wasTerminal && isTerminal(job) && job.webhook && !readOnly) {
      // The delivery starts with the terminal event: follow it a little while it settles.
      watchUntilSettled(reread, (j) => ["delivered", "dead"].includes(j.webhook?.state), signal);
    }
  }

  function addEvent(type, seq, snapshot) {
    if (seen.has(seq)) return;
    seen.add(seq);
    const item = h(
      "li",
      { class: `timeline-item timeline-${type.replace("job.", "")}`, dataset: { seq: String(seq), type } },
      h("span", { class: "timeline-seq", "aria-label": `seq ${seq}` }, `#${seq}`),
      h("span", { class: "timeline-type" }, type),
      h("span", { class: "timeline-time" }, time(snapshot.updated_at)),
      h("span", { class: "timeline-summary" }, eventSummary(type, snapshot)),
    );
    // Keep the list in seq order whatever order the events came in.
    const after = [...timeline.children].find((li) => Number(li.dataset.seq) > seq);
    timeline.insertBefore(item, after ?? null);
    timelineNote.textContent = `${seen.size} event${seen.size === 1 ? "" : "s"}.`;
  }

  // Follows the job's event stream from `from` (0: its whole history) while it runs; started
  // again when a retry makes a finished job pending. A call while a stream is open is
  // remembered, and once that stream ends the job is followed again from the last event
  // seen if it has moved on since (a retry can race the end of the previous stream).
  let following = false;
  let again = false;
  async function followFrom(from) {
    if (signal.aborted) return;
    if (following) {
      again = true;
      return;
    }
    following = true;
    let failed = false;
    try {
      await app.client.follow(job, {
        from,
        signal,
        onEvent: (event) => {
          addEvent(event.type, event.seq, event.job);
          update(event.job);
        },
      });
    } catch (error) {
      failed = true;
      if (!signal.aborted) timelineNote.textContent = `The event stream stopped: ${problemMessage(error)}`;
    } finally {
      following = false;
    }
    const last = Math.max(0, ...seen);
    if (!failed && (again || !isTerminal(job) || job.seq > last)) {
      again = false;
      followFrom(last);
    }
  }

  if (!readOnly) {
    const stop = app.onEvent((event) => {
      if (event.job.id !== id) return;
      update(event.job);
      // A change after the stream ended (a retry made elsewhere): follow it again.
      if (!following && event.job.seq > Math.max(0, ...seen)) followFrom(Math.max(0, ...seen));
    });
    signal.addEventListener("abort", stop);
  }

  cancel.addEventListener("click", () =>
    busy(cancel, actionsStatus, async () => {
      const next = await app.client.cancel(id);
      update(next);
      actionsStatus.ok(next.status === "canceled" ? "Canceled." : "Cancel requested: the worker is asked to stop.");
    }),
  );
  retry.addEventListener("click", () =>
    busy(retry, actionsStatus, async () => {
      const from = Math.max(0, ...seen);
      const next = await app.client.retry(id);
      update(next);
      actionsStatus.ok("Queued again.");
      followFrom(from);
    }),
  );
  download.addEventListener("click", () =>
    busy(download, actionsStatus, async () => {
      const response = await app.client.result(id);
      const blob = await response.blob();
      const type = (response.headers.get("content-type") ?? "").split(";")[0].trim();
      const extension = { "text/csv": "csv", "application/json": "json", "text/plain": "txt" }[type] ?? "bin";
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: `${job.type}-${job.id}.${extension}`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 0);
      actionsStatus.ok(`Downloaded ${blob.size} bytes (${type || "bytes"}).`);
    }),
  );
  share.addEventListener("click", () =>
    busy(share, actionsStatus, async () => {
      // A fresh read gives a fresh token (tokens expire, `--token-ttl`).
      const fresh = await app.client.get(id, { signal });
      update(fresh);
      const token = tokenOf(fresh);
      if (!token) {
        replace(shareBox, notice("info", "This install is open (no key exists): its links carry no token, and the console's own address opens the job."));
        return;
      }
      const expires = tokenExpiry(token);
      replace(
        shareBox,
        copyBox("Read-only link to this job", shareLink(id, token), { id: "job-share-link" }),
        h(
          "p",
          { class: "hint" },
          "Whoever opens it sees this job only, read-only, without a key",
          expires ? [", until ", time(expires.toISOString())] : "",
          ", or until the key that made it is revoked.",
        ),
      );
      shareBox.querySelector("input").select();
    }),
  );

  const actions = readOnly
    ? h("div", { class: "actions" }, download)
    : h("div", { class: "actions" }, cancel, retry, download, share);

  replace(
    container,
    readOnly ? null : h("p", { class: "breadcrumb" }, h("a", { href: "#/jobs" }, "Jobs"), " / ", shortId(job.id)),
    h("div", { class: "title-row" }, heading, statusBadge),
    readOnly ? notice("info", "Read-only link: this job only. It stops working when it expires or its key is revoked.") : null,
    h(
      "section",
      { class: "card", "aria-labelledby": "job-progress-label" },
      h("h2", { id: "job-progress-label" }, "Progress"),
      h("div", { class: "progress-row" }, bar, barText),
      actions,
      actionsStatus.el,
      shareBox,
    ),
    h(
      "div",
      { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "job-timeline-h" }, h("h2", { id: "job-timeline-h" }, "Timeline"), timelineNote, timeline),
      h(
        "div",
        { class: "stack" },
        h("section", { class: "card", "aria-labelledby": "job-details-h" }, h("h2", { id: "job-details-h" }, "Details"), details),
        h("section", { class: "card", "aria-labelledby": "job-webhook-h" }, h("h2", { id: "job-webhook-h" }, "Webhook"), webhookBox),
      ),
    ),
    h("section", { class: "card", "aria-labelledby": "job-attempts-h" }, h("h2", { id: "job-attempts-h" }, "Attempts"), attemptsBox),
  );
  render();
  followFrom(0);
  if (isTerminal(job) && job.webhook?.state === "pending" && !readOnly) {
    // Finished just now: its delivery is being sent.
    watchUntilSettled(reread, (j) => j.webhook?.state !== "pending", signal);
  }
}

function dt(text) {
  return h("dt", {}, text);
}

function dd(...children) {
  return h("dd", {}, ...children);
}
