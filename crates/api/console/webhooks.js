// Webhooks: the tenant's subscriptions (create, edit, enable or disable, rotate the secret,
// delete), the dead deliveries at a glance, and one subscription's deliveries with every
// attempt, retry of one delivery, and replay of a time window.
//
// Herald has no stream of delivery changes, so these pages read on arrival and on demand
// (the Refresh buttons), and after an action of the user's (a retry, a replay) follow the
// result for a short, bounded while: nothing is read on a timer while nothing happens.

import {
  h,
  replace,
  field,
  checkbox,
  notice,
  statusLine,
  busy,
  badge,
  time,
  duration,
  table,
  showSecret,
  actionForm,
  refreshButton,
  rereadOn,
  olderButton,
  listOrEmpty,
  replayWindow,
  announce,
  problemMessage,
} from "./ui.js";
import { shortId, watchUntilSettled, readWhenDue } from "./jobs.js";

export const EVENT_TYPES = ["job.pending", "job.processing", "job.progress", "job.completed", "job.failed", "job.canceled"];
const DELIVERY_STATES = ["pending", "retrying", "delivered", "dead"];
/** How many pages of dead deliveries the overview reads per subscription at most. */
const DEAD_PAGES = 3;

function subscriptionState(webhook) {
  return webhook.enabled ? badge("enabled") : badge("disabled");
}

/** The form's fields for a subscription: url, events, job types (and enabled on create). */
function subscriptionFields(initial = {}, { withSecret = false } = {}) {
  const url = h("input", { type: "url", name: "url", required: true, value: initial.url ?? "", placeholder: "https://client.example/hooks", autocomplete: "off" });
  const events = EVENT_TYPES.map((type) =>
    checkbox(type, { name: "events", value: type, checked: initial.events ? initial.events.includes(type) : true }),
  );
  const jobTypes = h("input", { type: "text", name: "job_types", value: (initial.job_types ?? []).join(", "), placeholder: "every job type", autocomplete: "off" });
  const secret = withSecret ? h("input", { type: "text", name: "secret", class: "mono", autocomplete: "off", placeholder: "generated when left empty" }) : null;
  const enabled = checkbox("Enabled", { name: "enabled", checked: initial.enabled ?? true });
  const fields = h(
    "div",
    {},
    field("Endpoint URL", url),
    h("fieldset", {}, h("legend", {}, "Events"), h("div", { class: "checks" }, events)),
    field("Job types", jobTypes, "Comma-separated; empty means every job type."),
    secret ? field("Secret (optional)", secret, "whsec_… or any text; Herald generates one when left empty.") : null,
    enabled,
  );
  const read = () => {
    const body = {
      url: url.value.trim(),
      events: [...fields.querySelectorAll('input[name="events"]:checked')].map((el) => el.value),
      job_types: jobTypes.value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      enabled: fields.querySelector('input[name="enabled"]').checked,
    };
    if (secret && secret.value.trim()) body.secret = secret.value.trim();
    return body;
  };
  return { fields, read };
}

// ---------------------------------------------------------------------------------------
// The list of subscriptions

export async function renderWebhooks(container, app, signal) {
  document.title = "Webhooks · Herald console";
  replace(container, h("h1", {}, "Webhooks"), h("p", { class: "loading" }, "Loading subscriptions…"));
  const page = await app.client.webhooks.list();
  if (signal.aborted) return;
  const subscriptions = page.data;

  const listBox = h("div");
  const deadBox = h("div", { "aria-live": "polite" });
  const created = h("div");

  function renderList() {
    listOrEmpty(listBox, subscriptions, "No subscription yet.", () =>
      table(
        "Subscriptions",
        ["Endpoint", "State", "Events", "Job types", "Dead", "Created"],
        subscriptions.map((w) =>
          h(
            "tr",
            { dataset: { id: w.id } },
            h("td", { class: "wrap" }, h("a", { href: `#/webhooks/${w.id}` }, w.url)),
            h("td", {}, subscriptionState(w), w.disabled_reason ? h("div", { class: "hint" }, w.disabled_reason) : null),
            h("td", { class: "wrap" }, w.events.length === EVENT_TYPES.length ? "all" : w.events.join(", ")),
            h("td", { class: "wrap" }, w.job_types.length ? w.job_types.join(", ") : "all"),
            h("td", { class: "num", dataset: { dead: w.id } }, "…"),
            h("td", {}, time(w.created_at)),
          ),
        ),
        { captionHidden: true },
      ),
    );
  }

  // The dead deliveries at a glance: each subscription's, newest first.
  async function loadDead() {
    const dead = [];
    await Promise.all(
      subscriptions.map(async (w) => {
        let cursor;
        let count = 0;
        let more = false;
        for (let i = 0; i < DEAD_PAGES; i += 1) {
          const result = await app.client.webhooks.deliveries(w.id, { status: "dead", limit: 100, cursor });
          count += result.data.length;
          dead.push(...result.data.map((d) => ({ ...d, subscription: w })));
          cursor = result.next_cursor;
          if (!cursor) break;
          more = i === DEAD_PAGES - 1;
        }
        const cell = listBox.querySelector(`td[data-dead="${w.id}"]`);
        if (cell) replace(cell, count ? badge(`${count}${more ? "+" : ""}`, "badge-dead") : "0");
      }),
    );
    if (signal.aborted) return;
    dead.sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
    renderDead(dead);
  }

  let showAllDead = false;
  function renderDead(dead) {
    if (dead.length === 0) {
      replace(deadBox, h("p", { class: "muted" }, "No dead delivery."));
      return;
    }
    const limit = showAllDead ? 100 : 10;
    const more =
      dead.length > limit && !showAllDead
        ? h(
            "button",
            {
              type: "button",
              class: "button",
              onclick: () => {
                showAllDead = true;
                renderDead(dead);
              },
            },
            `Show up to 100 of ${dead.length}`,
          )
        : null;
    replace(
      deadBox,
      h("p", { class: "hint" }, `${dead.length} dead deliver${dead.length === 1 ? "y" : "ies"}${dead.length > limit ? `, the newest ${limit} shown` : ""}.`),
      table(
        "Dead deliveries, newest first",
        ["Delivery", "Endpoint", "Event", "Job", "Attempts", "Last error", "Died"],
        dead.slice(0, limit).map((d) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/webhooks/${d.subscription.id}?delivery=${d.id}`, class: "mono", title: d.id }, shortId(d.id))),
            h("td", {}, d.url),
            h("td", {}, d.event_type),
            h("td", {}, h("a", { href: `#/jobs/${d.job_id}`, class: "mono" }, shortId(d.job_id))),
            h("td", { class: "num" }, String(d.attempt_count)),
            h("td", { class: "error-text" }, d.attempts.at(-1)?.error ?? "—"),
            h("td", {}, time(d.updated_at)),
          ),
        ),
        { captionHidden: true },
      ),
      h("div", { class: "actions" }, more),
    );
  }

  const { fields, read } = subscriptionFields({}, { withSecret: true });
  const form = actionForm(
    {
      submit: "Create subscription",
      action: async () => {
        const webhook = await app.client.webhooks.create(read());
        const { secret, ...subscription } = webhook;
        subscriptions.push(subscription);
        renderList();
        showSecret(
          created,
          "Signing secret",
          secret,
          "The endpoint verifies deliveries with this secret. Herald shows it this once: store it now.",
          h("p", {}, h("a", { href: `#/webhooks/${webhook.id}` }, "Open the subscription")),
        );
        form.reset();
        announce("Subscription created.");
        loadDead();
      },
    },
    fields,
  );

  const refresh = refreshButton();
  const refreshStatus = statusLine();
  rereadOn(refreshStatus, loadDead, refresh);

  replace(
    container,
    h("h1", {}, "Webhooks"),
    created,
    h("section", { class: "card", "aria-labelledby": "subs-h" }, h("h2", { id: "subs-h" }, "Subscriptions"), listBox),
    h(
      "section",
      { class: "card", "aria-labelledby": "dead-h" },
      h("div", { class: "section-head" }, h("h2", { id: "dead-h" }, "Dead deliveries"), refresh),
      refreshStatus.el,
      deadBox,
    ),
    h("details", { class: "card disclosure" }, h("summary", {}, "New subscription"), form),
  );
  renderList();
  replace(deadBox, h("p", { class: "loading" }, "Loading dead deliveries…"));
  loadDead().catch((error) => replace(deadBox, notice("error", problemMessage(error))));
}

// ---------------------------------------------------------------------------------------
// One subscription and its deliveries

function deliveryAttempts(delivery) {
  if (!delivery.attempts?.length) return h("p", { class: "muted" }, "Not attempted yet.");
  return table(
    `Attempts of delivery ${delivery.id}`,
    ["At", "Status", "Duration", "Error", "Response"],
    delivery.attempts.map((a) =>
      h(
        "tr",
        {},
        h("td", {}, time(a.at)),
        h("td", { class: "num" }, a.status_code === null || a.status_code === undefined ? "no answer" : String(a.status_code)),
        h("td", { class: "num" }, duration(a.duration_ms)),
        h("td", { class: a.error ? "error-text" : "muted" }, a.error ?? "—"),
        h("td", {}, a.response ? h("pre", { class: "excerpt" }, a.response) : "—"),
      ),
    ),
    { captionHidden: true },
  );
}

export async function renderWebhook(container, app, id, signal, query) {
  document.title = "Webhook · Herald console";
  replace(container, h("p", { class: "loading" }, "Loading the subscription…"));
  let webhook = await app.client.webhooks.get(id);
  if (signal.aborted) return;

  const heading = h("h1", { class: "wrap-anywhere" }, webhook.url);
  document.title = `${webhook.url} · Herald console`;
  const summary = h("dl", { class: "details" });
  const secretBox = h("div");
  const actionStatus = statusLine();
  const toggle = h("button", { type: "button", class: "button", id: "webhook-toggle" });
  const del = h("button", { type: "button", class: "button button-danger" }, "Delete");

  function renderSummary() {
    replace(
      summary,
      h("dt", {}, "Endpoint"), h("dd", {}, webhook.url),
      h("dt", {}, "State"), h("dd", {}, subscriptionState(webhook), webhook.disabled_reason ? ` — ${webhook.disabled_reason}` : ""),
      h("dt", {}, "Events"), h("dd", {}, webhook.events.join(", ")),
      h("dt", {}, "Job types"), h("dd", {}, webhook.job_types.length ? webhook.job_types.join(", ") : "all"),
      h("dt", {}, "Id"), h("dd", { class: "mono" }, webhook.id),
      h("dt", {}, "Created"), h("dd", {}, time(webhook.created_at)),
      h("dt", {}, "Updated"), h("dd", {}, time(webhook.updated_at)),
    );
    toggle.textContent = webhook.enabled ? "Disable" : "Enable";
  }

  toggle.addEventListener("click", () =>
    busy(toggle, actionStatus, async () => {
      webhook = await app.client.webhooks.update(id, { enabled: !webhook.enabled });
      renderSummary();
      actionStatus.ok(webhook.enabled ? "Enabled." : "Disabled: its scheduled deliveries die unsent.");
    }),
  );
  del.addEventListener("click", () =>
    busy(del, actionStatus, async () => {
      if (!confirm(`Delete the subscription to ${webhook.url}? Its scheduled deliveries die unsent.`)) return;
      await app.client.webhooks.remove(id);
      announce("Subscription deleted.");
      location.hash = "#/webhooks";
    }),
  );

  // Edit
  const edit = subscriptionFields(webhook);
  const editForm = actionForm(
    {
      submit: "Save",
      action: async (status) => {
        webhook = await app.client.webhooks.update(id, edit.read());
        heading.textContent = webhook.url;
        renderSummary();
        status.ok("Saved.");
      },
    },
    edit.fields,
  );

  // Rotate the secret
  const newSecret = h("input", { type: "text", name: "secret", class: "mono", autocomplete: "off", placeholder: "generated when left empty" });
  const rotateForm = actionForm(
    {
      submit: "Rotate secret",
      primary: false,
      action: async () => {
        const body = newSecret.value.trim() ? { secret: newSecret.value.trim() } : undefined;
        const answer = await app.client.webhooks.rotateSecret(id, body);
        newSecret.value = "";
        showSecret(
          secretBox,
          "New signing secret",
          answer.secret,
          "Herald shows it this once. Until the time below, deliveries are signed with the previous secret too, so the endpoint can switch without refusing any.",
          h("p", {}, "Previous secret signs until ", time(answer.previous_secret_expires_at), "."),
        );
      },
    },
    field("New secret (optional)", newSecret),
  );

  // Replay a window
  const replayTimes = replayWindow();
  const replayResult = h("div", { id: "replay-result", "aria-live": "polite" });
  // `status` is the replay form's status line, where a failure of "Replay the rest" shows too.
  async function sendReplay(body, status) {
    const answer = await app.client.webhooks.replay(id, body);
    const goOn = answer.truncated
      ? h(
          "button",
          {
            type: "button",
            class: "button",
            onclick: (event) => busy(event.currentTarget, status, () => sendReplay({ ...body, since: answer.next_since }, status)),
          },
          "Replay the rest",
        )
      : null;
    replace(
      replayResult,
      notice(
        "success",
        `Replayed ${answer.replayed} event${answer.replayed === 1 ? "" : "s"} from `,
        time(answer.since),
        " to ",
        time(answer.until),
        answer.truncated ? ". Stopped at 10,000: send the rest." : ".",
        answer.missed ? " The window starts before the oldest event Herald still keeps: only what is left was replayed." : "",
      ),
      goOn,
    );
    await deliveries.reload();
    deliveries.watch();
  }
  const replayForm = actionForm(
    { submit: "Replay", id: "replay-button", after: replayResult, action: (status) => sendReplay(replayTimes.read(), status) },
    h(
      "p",
      { class: "hint" },
      "Sends again, as new deliveries, every event of the window that this subscription wants now. Times are in your time zone.",
    ),
    h("div", { class: "form-grid" }, replayTimes.fields),
  );

  const deliveries = deliveriesPanel(app, id, signal, query?.get("delivery"));

  replace(
    container,
    h("p", { class: "breadcrumb" }, h("a", { href: "#/webhooks" }, "Webhooks"), " / subscription"),
    heading,
    secretBox,
    h(
      "section",
      { class: "card", "aria-labelledby": "sub-h" },
      h("h2", { id: "sub-h" }, "Settings"),
      summary,
      h("div", { class: "actions" }, toggle, del),
      actionStatus.el,
    ),
    deliveries.el,
    h("section", { class: "card", "aria-labelledby": "replay-h" }, h("h2", { id: "replay-h" }, "Replay a window"), replayForm),
    h("details", { class: "card disclosure" }, h("summary", {}, "Edit"), editForm),
    h("details", { class: "card disclosure" }, h("summary", {}, "Rotate the secret"), rotateForm),
  );
  renderSummary();
  await deliveries.reload();
}

/** The deliveries of a subscription: filter by state, page on, see attempts, retry one. */
function deliveriesPanel(app, webhookId, signal, openId) {
  const stateSelect = h(
    "select",
    { name: "state" },
    h("option", { value: "" }, "Any state"),
    DELIVERY_STATES.map((s) => h("option", { value: s }, s)),
  );
  const list = h("div", { id: "deliveries" });
  const status = statusLine();
  const refresh = refreshButton();
  const readDeliveries = (cursor) => app.client.webhooks.deliveries(webhookId, { status: stateSelect.value || undefined, limit: 20, cursor });
  let shown = [];
  const older = olderButton("Older deliveries", status, readDeliveries, (items) => {
    shown = shown.concat(items);
    render();
  });
  const open = new Set(openId ? [openId] : []);

  function item(delivery) {
    const retry = h(
      "button",
      { type: "button", class: "button", dataset: { retry: delivery.id } },
      delivery.state === "retrying" ? "Send now" : "Retry",
    );
    retry.disabled = delivery.state === "pending";
    const itemStatus = statusLine();
    retry.addEventListener("click", () =>
      busy(retry, itemStatus, async () => {
        const next = await app.client.webhooks.retryDelivery(delivery.id);
        replaceDelivery(next);
        announce("Delivery queued again.");
        // The notifier sends it at once: follow this one delivery until it settles.
        watchUntilSettled(
          async () => {
            const fresh = await app.client.webhooks.delivery(delivery.id);
            replaceDelivery(fresh);
            return fresh;
          },
          (d) => d.state !== "pending" && d.attempt_count > delivery.attempt_count,
          signal,
        );
      }),
    );
    const details = h(
      "details",
      { class: "delivery", open: open.has(delivery.id), dataset: { id: delivery.id, state: delivery.state } },
      h(
        "summary",
        {},
        h(
          "span",
          { class: "delivery-line" },
          badge(delivery.state),
          h("span", { class: "mono" }, delivery.event_type),
          h("span", { class: "muted" }, `job ${shortId(delivery.job_id)} · seq ${delivery.seq}`),
          h(
            "span",
            {},
            `${delivery.attempt_count} attempt${delivery.attempt_count === 1 ? "" : "s"}`,
            delivery.attempts?.length ? `, last ${delivery.attempts.at(-1).status_code ?? "no answer"}` : "",
          ),
          h("span", { class: "muted delivery-time" }, time(delivery.updated_at)),
        ),
      ),
      h(
        "dl",
        { class: "details" },
        h("dt", {}, "Delivery id"), h("dd", { class: "mono" }, delivery.id),
        h("dt", {}, "Job"), h("dd", {}, h("a", { href: `#/jobs/${delivery.job_id}`, class: "mono" }, delivery.job_id), ` (${delivery.job_type})`),
        h("dt", {}, "Next attempt"), h("dd", {}, time(delivery.next_attempt_at)),
        h("dt", {}, "Created"), h("dd", {}, time(delivery.created_at)),
      ),
      h("div", { class: "delivery-attempts" }, deliveryAttempts(delivery)),
      h("div", { class: "actions" }, retry),
      itemStatus.el,
    );
    details.addEventListener("toggle", () => {
      if (details.open) open.add(delivery.id);
      else open.delete(delivery.id);
    });
    return details;
  }

  function replaceDelivery(delivery) {
    shown = shown.map((d) => (d.id === delivery.id ? delivery : d));
    const old = list.querySelector(`details[data-id="${delivery.id}"]`);
    if (old) {
      const focused = old.contains(document.activeElement) ? document.activeElement.dataset.retry : null;
      const fresh = item(delivery);
      old.replaceWith(fresh);
      if (focused) fresh.querySelector(`[data-retry="${focused}"]`)?.focus();
    }
  }

  function render() {
    listOrEmpty(list, shown, "No delivery.", () => shown.map(item));
  }

  // The next announced attempt among the deliveries shown: read the page again just after.
  let cancelDue = () => undefined;
  function followAttempts(overdue = 0) {
    cancelDue();
    const next = shown
      .filter((d) => d.state === "retrying" && d.next_attempt_at)
      .map((d) => d.next_attempt_at)
      .sort()[0];
    cancelDue = readWhenDue(next, (late) => reload(late).catch(() => undefined), signal, overdue);
  }

  async function reload(overdue = 0) {
    const page = await readDeliveries();
    if (signal.aborted) return;
    shown = older.first(page);
    render();
    followAttempts(overdue);
  }

  /** After a replay: read the page again a few times while deliveries are being sent. */
  function watch() {
    watchUntilSettled(
      async () => {
        await reload();
        return shown;
      },
      (deliveries) => deliveries.every((d) => d.state !== "pending"),
      signal,
    );
  }

  rereadOn(status, reload, stateSelect, refresh);

  const el = h(
    "section",
    { class: "card", "aria-labelledby": "deliveries-h" },
    h("div", { class: "section-head" }, h("h2", { id: "deliveries-h" }, "Deliveries"), refresh),
    h("div", { class: "filters" }, field("State", stateSelect)),
    status.el,
    list,
    h("div", { class: "actions" }, older.button),
  );
  return { el, reload, watch };
}
