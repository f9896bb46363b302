// Sources (inbound webhooks): the tenant's sources, creating one (its secret shown once),
// one source's request log (accepted, duplicate, rejected with the reason), rotating its
// secret, replaying the jobs of a window, and deleting it.

import {
  h,
  replace,
  field,
  notice,
  statusLine,
  busy,
  badge,
  time,
  table,
  showSecret,
  copyBox,
  actionForm,
  refreshButton,
  rereadOn,
  olderButton,
  listOrEmpty,
  replayWindow,
  announce,
} from "./ui.js";
import { shortId } from "./jobs.js";

const SCHEMES = ["github", "stripe", "standard-webhooks", "shopify", "hmac", "basic", "none"];
const OUTCOMES = ["accepted", "duplicate", "rejected"];

function ingestUrl(source) {
  return new URL(source.ingest_url, location.origin).toString();
}

function schemeText(verify) {
  const params = Object.entries(verify)
    .filter(([name]) => name !== "scheme")
    .map(([name, value]) => `${name} ${value}`);
  return params.length ? `${verify.scheme} (${params.join(", ")})` : verify.scheme;
}

function dedupeText(dedupe) {
  if (!dedupe) return "none: every request is a new event";
  if (dedupe.header) return `header ${dedupe.header}`;
  if (dedupe.json_pointer) return `JSON pointer ${dedupe.json_pointer}`;
  return JSON.stringify(dedupe);
}

// ---------------------------------------------------------------------------------------
// The list and the creation form

export async function renderSources(container, app, signal) {
  document.title = "Sources · Herald console";
  replace(container, h("h1", {}, "Sources"), h("p", { class: "loading" }, "Loading sources…"));
  const page = await app.client.sources.list();
  if (signal.aborted) return;
  const sources = page.data;
  const listBox = h("div");
  const created = h("div");

  function renderList() {
    listOrEmpty(listBox, sources, "No source yet.", () =>
      table(
        "Sources",
        ["Name", "Job type", "Verification", "Deduplication", "Created"],
        sources.map((s) =>
          h(
            "tr",
            { dataset: { id: s.id } },
            h("td", {}, h("a", { href: `#/sources/${s.id}` }, s.name)),
            h("td", {}, s.job_type),
            h("td", {}, s.verify.scheme),
            h("td", {}, dedupeText(s.dedupe)),
            h("td", {}, time(s.created_at)),
          ),
        ),
        { captionHidden: true },
      ),
    );
  }

  const name = h("input", { type: "text", name: "name", required: true, maxlength: "100", autocomplete: "off" });
  const jobType = h("input", { type: "text", name: "job_type", required: true, autocomplete: "off", placeholder: "github.event" });
  const scheme = h("select", { name: "scheme" }, SCHEMES.map((s) => h("option", { value: s }, s)));
  const secret = h("input", { type: "text", name: "secret", class: "mono", autocomplete: "off", placeholder: "generated when left empty" });
  const tolerance = h("input", { type: "number", name: "tolerance_s", min: "1", placeholder: "300" });
  const username = h("input", { type: "text", name: "username", autocomplete: "off" });
  const header = h("input", { type: "text", name: "header", autocomplete: "off", placeholder: "x-signature" });
  const algorithm = h("select", { name: "algorithm" }, ["sha256", "sha1", "sha512"].map((a) => h("option", { value: a }, a)));
  const encoding = h("select", { name: "encoding" }, ["hex", "base64"].map((e) => h("option", { value: e }, e)));
  const prefix = h("input", { type: "text", name: "prefix", autocomplete: "off", placeholder: "sha256=" });
  const dedupeKind = h(
    "select",
    { name: "dedupe" },
    h("option", { value: "" }, "the scheme's default"),
    h("option", { value: "header" }, "a header"),
    h("option", { value: "json_pointer" }, "a JSON pointer"),
  );
  const dedupeValue = h("input", { type: "text", name: "dedupe_value", autocomplete: "off", placeholder: "/id or x-event-id" });
  const responseStatus = h("select", { name: "response" }, ["202", "200", "201", "204"].map((s) => h("option", { value: s }, s)));

  const toleranceField = field("Tolerance (seconds)", tolerance, "How old a signed timestamp may be.");
  const usernameField = field("Username", username);
  const hmacFields = h("div", { class: "form-grid" }, field("Signature header", header), field("Algorithm", algorithm), field("Encoding", encoding), field("Prefix (optional)", prefix));
  const secretField = field("Secret (optional)", secret, "Stripe and Shopify sources need the secret their provider issues.");
  function showSchemeFields() {
    const s = scheme.value;
    toleranceField.hidden = !["stripe", "standard-webhooks"].includes(s);
    usernameField.hidden = s !== "basic";
    hmacFields.hidden = s !== "hmac";
    secretField.hidden = s === "none";
    secretField.querySelector("label").textContent = s === "basic" ? "Password (optional)" : "Secret (optional)";
  }
  scheme.addEventListener("change", showSchemeFields);
  showSchemeFields();

  function body() {
    const verify = { scheme: scheme.value };
    const s = scheme.value;
    if (s !== "none" && secret.value.trim()) verify[s === "basic" ? "password" : "secret"] = secret.value.trim();
    if (["stripe", "standard-webhooks"].includes(s) && tolerance.value) verify.tolerance_s = Number(tolerance.value);
    if (s === "basic") verify.username = username.value.trim();
    if (s === "hmac") {
      verify.header = header.value.trim();
      verify.algorithm = algorithm.value;
      verify.encoding = encoding.value;
      if (prefix.value) verify.prefix = prefix.value;
    }
    const result = { name: name.value.trim(), job_type: jobType.value.trim(), verify, response: { status: Number(responseStatus.value) } };
    if (dedupeKind.value && dedupeValue.value.trim()) result.dedupe = { [dedupeKind.value]: dedupeValue.value.trim() };
    return result;
  }

  const form = actionForm(
    {
      submit: "Create source",
      action: async () => {
        const answer = await app.client.sources.create(body());
        const { secret: shown, ...source } = answer;
        sources.push(source);
        renderList();
        showSecret(
          created,
          answer.verify.scheme === "basic" ? "Password" : "Secret",
          shown ?? "(none: this scheme has no secret)",
          "Herald shows it this once. Give it, and the ingest URL below, to the provider.",
          [copyBox("Ingest URL", ingestUrl(source)), h("p", {}, h("a", { href: `#/sources/${source.id}` }, "Open the source"))],
        );
        form.reset();
        showSchemeFields();
        announce("Source created.");
      },
    },
    h("div", { class: "form-grid" }, field("Name", name), field("Job type", jobType, "A type this install serves.")),
    h("div", { class: "form-grid" }, field("Verification", scheme), secretField),
    toleranceField,
    usernameField,
    hmacFields,
    h("div", { class: "form-grid" }, field("Deduplicate by", dedupeKind), field("Header or pointer", dedupeValue), field("Answer status", responseStatus)),
  );

  replace(
    container,
    h("h1", {}, "Sources"),
    h("p", { class: "hint" }, "Inbound webhooks: providers post to a source's ingest URL, and each verified request becomes a job."),
    created,
    h("section", { class: "card", "aria-labelledby": "sources-h" }, h("h2", { id: "sources-h" }, "Sources"), listBox),
    h("details", { class: "card disclosure" }, h("summary", {}, "New source"), form),
  );
  renderList();
}

// ---------------------------------------------------------------------------------------
// One source

export async function renderSource(container, app, id, signal) {
  document.title = "Source · Herald console";
  replace(container, h("p", { class: "loading" }, "Loading the source…"));
  let source = await app.client.sources.get(id);
  if (signal.aborted) return;
  document.title = `${source.name} · Herald console`;

  const title = h("h1", {}, source.name);
  const summary = h("dl", { class: "details" });
  const secretBox = h("div");
  const actionStatus = statusLine();
  function renderSummary() {
    replace(
      summary,
      h("dt", {}, "Job type"), h("dd", {}, source.job_type),
      h("dt", {}, "Verification"), h("dd", {}, schemeText(source.verify)),
      h("dt", {}, "Deduplication"), h("dd", {}, dedupeText(source.dedupe)),
      h("dt", {}, "Answers"), h("dd", {}, String(source.response?.status ?? "")),
      h("dt", {}, "Previous secret until"), h("dd", {}, time(source.previous_secret_expires_at)),
      h("dt", {}, "Id"), h("dd", { class: "mono" }, source.id),
      h("dt", {}, "Created"), h("dd", {}, time(source.created_at)),
    );
  }
  const del = h("button", { type: "button", class: "button button-danger" }, "Delete");
  del.addEventListener("click", () =>
    busy(del, actionStatus, async () => {
      if (!confirm(`Delete the source ${source.name}? Its ingest URL stops answering and its request log goes.`)) return;
      await app.client.sources.remove(id);
      announce("Source deleted.");
      location.hash = "#/sources";
    }),
  );

  // The request log
  const outcome = h("select", { name: "outcome" }, h("option", { value: "" }, "Any outcome"), OUTCOMES.map((o) => h("option", { value: o }, o)));
  const log = h("div", { id: "requests" });
  const logStatus = statusLine();
  const refresh = refreshButton();
  const readRequests = (cursor) => app.client.sources.requests(id, { outcome: outcome.value || undefined, limit: 50, cursor });
  let requests = [];
  const older = olderButton("Older requests", logStatus, readRequests, (items) => {
    requests = requests.concat(items);
    renderLog();
  });
  function renderLog() {
    listOrEmpty(log, requests, "No request received.", () =>
      table(
        "Requests received, newest first",
        ["Received", "Outcome", "Reason", "Job", "Dedupe key"],
        requests.map((r) =>
          h(
            "tr",
            { dataset: { outcome: r.outcome } },
            h("td", {}, time(r.received_at)),
            h("td", {}, badge(r.outcome)),
            h("td", { class: r.reason ? "error-text" : "" }, r.reason ?? "—"),
            h("td", {}, r.job_id ? h("a", { href: `#/jobs/${r.job_id}`, class: "mono", title: r.job_id }, shortId(r.job_id)) : "—"),
            h("td", { class: "mono wrap" }, r.dedupe_key ?? "—"),
          ),
        ),
        { captionHidden: true },
      ),
    );
  }
  async function reload() {
    const page = await readRequests();
    if (signal.aborted) return;
    requests = older.first(page);
    renderLog();
  }
  rereadOn(logStatus, reload, outcome, refresh);

  // Replay
  const replayTimes = replayWindow();
  const replayStatusSelect = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "completed, failed or canceled"),
    ["failed", "completed", "canceled"].map((s) => h("option", { value: s }, s)),
  );
  const replayResult = h("div", { "aria-live": "polite" });
  const replayForm = actionForm(
    {
      submit: "Replay",
      after: replayResult,
      action: async () => {
        const body = replayTimes.read();
        if (replayStatusSelect.value) body.status = replayStatusSelect.value;
        const answer = await app.client.sources.replay(id, body);
        replace(
          replayResult,
          notice(
            "success",
            `Retried ${answer.replayed} job${answer.replayed === 1 ? "" : "s"}; skipped ${answer.skipped} (still running, of another status, or expired).`,
            answer.truncated ? " Stopped at 10,000 jobs: replay again to go on." : "",
          ),
        );
      },
    },
    h("p", { class: "hint" }, "Retries the finished jobs of the requests received in the window. Times are in your time zone."),
    h("div", { class: "form-grid" }, replayTimes.fields, field("Jobs now", replayStatusSelect)),
  );

  // Edit: the name, the job type, the answer's status and the deduplication rule.
  const editName = h("input", { type: "text", name: "name", required: true, maxlength: "100", value: source.name, autocomplete: "off" });
  const editType = h("input", { type: "text", name: "job_type", required: true, value: source.job_type, autocomplete: "off" });
  const editStatus = h(
    "select",
    { name: "response" },
    ["202", "200", "201", "204"].map((v) => h("option", { value: v, selected: String(source.response?.status) === v }, v)),
  );
  const current = source.dedupe ? (source.dedupe.header ? "header" : "json_pointer") : "";
  const editDedupe = h(
    "select",
    { name: "dedupe" },
    h("option", { value: "", selected: !current }, "the scheme's default"),
    h("option", { value: "header", selected: current === "header" }, "a header"),
    h("option", { value: "json_pointer", selected: current === "json_pointer" }, "a JSON pointer"),
  );
  const editDedupeValue = h("input", {
    type: "text",
    name: "dedupe_value",
    autocomplete: "off",
    value: source.dedupe ? (source.dedupe.header ?? source.dedupe.json_pointer ?? "") : "",
  });
  const editForm = actionForm(
    {
      submit: "Save",
      action: async (status) => {
        const body = {
          name: editName.value.trim(),
          job_type: editType.value.trim(),
          response: { status: Number(editStatus.value) },
          dedupe: editDedupe.value && editDedupeValue.value.trim() ? { [editDedupe.value]: editDedupeValue.value.trim() } : null,
        };
        source = await app.client.sources.update(id, body);
        title.textContent = source.name;
        renderSummary();
        status.ok("Saved.");
      },
    },
    h("div", { class: "form-grid" }, field("Name", editName), field("Job type", editType), field("Answer status", editStatus)),
    h("div", { class: "form-grid" }, field("Deduplicate by", editDedupe), field("Header or pointer", editDedupeValue)),
  );

  // Rotate the secret
  const newSecret = h("input", { type: "text", name: "secret", class: "mono", autocomplete: "off", placeholder: "generated when left empty" });
  const grace = h("input", { type: "number", name: "grace_s", min: "0", max: "604800", placeholder: "86400" });
  const rotateForm = actionForm(
    {
      submit: "Rotate secret",
      primary: false,
      action: async () => {
        const body = {};
        if (newSecret.value.trim()) body.secret = newSecret.value.trim();
        if (grace.value !== "") body.grace_s = Number(grace.value);
        const answer = await app.client.sources.rotateSecret(id, Object.keys(body).length ? body : undefined);
        const { secret: shown, ...rest } = answer;
        source = rest;
        renderSummary();
        newSecret.value = "";
        showSecret(
          secretBox,
          "New secret",
          shown,
          "Herald shows it this once. The previous secret is accepted until the time below.",
          h("p", {}, "Previous secret accepted until ", time(answer.previous_secret_expires_at), "."),
        );
      },
    },
    h("div", { class: "form-grid" }, field("New secret (optional)", newSecret), field("Grace (seconds)", grace, "How long the previous secret still verifies.")),
  );

  replace(
    container,
    h("p", { class: "breadcrumb" }, h("a", { href: "#/sources" }, "Sources"), " / ", source.name),
    title,
    secretBox,
    h(
      "section",
      { class: "card", "aria-labelledby": "source-h" },
      h("h2", { id: "source-h" }, "Source"),
      copyBox("Ingest URL (keep it secret: it is the credential)", ingestUrl(source)),
      summary,
      source.verify.scheme === "none" ? notice("warning", "This source verifies nothing: anyone with the URL can create jobs.") : null,
      h("div", { class: "actions" }, del),
      actionStatus.el,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "log-h" },
      h("div", { class: "section-head" }, h("h2", { id: "log-h" }, "Request log"), refresh),
      h("div", { class: "filters" }, field("Outcome", outcome)),
      logStatus.el,
      log,
      h("div", { class: "actions" }, older.button),
    ),
    h("section", { class: "card", "aria-labelledby": "src-replay-h" }, h("h2", { id: "src-replay-h" }, "Replay a window"), replayForm),
    h("details", { class: "card disclosure" }, h("summary", {}, "Edit"), editForm),
    source.verify.scheme === "none" ? null : h("details", { class: "card disclosure" }, h("summary", {}, "Rotate the secret"), rotateForm),
  );
  renderSummary();
  await reload();
}
