// DOM helpers shared by the console's views: an element builder, formatting of times and
// durations, problem messages, notices, the "shown once" secret panel, and the pieces every
// view repeats (a list or its empty line, a form run through `busy`, a Refresh button, the
// window of a replay).
//
// Everything is built with the DOM API (never innerHTML with data), so a job type, an error
// message or a response excerpt from a webhook endpoint can never become markup.

import { HeraldError } from "./herald.js";

/**
 * Builds an element: `h("button", {type: "button", onclick}, "Retry")`. Attributes whose
 * name starts with `on` become listeners; `class`, `text`, `hidden`, `disabled`, `checked`,
 * `value` and `dataset` are handled as properties; `null`/`undefined`/`false` are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "text") {
      el.textContent = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (["hidden", "disabled", "checked", "value", "open", "required", "multiple"].includes(name)) {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A fresh id for label/input pairs. */
export function nextId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: `field("URL", h("input", {...}))` → a wrapper with a `<label for>`. */
export function field(label, control, hint) {
  if (!control.id) control.id = nextId();
  let hintEl = null;
  if (hint) {
    hintEl = h("span", { class: "hint", id: `${control.id}-hint` }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
  }
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

/** A checkbox with its label after it. */
export function checkbox(label, attrs = {}) {
  const input = h("input", { type: "checkbox", ...attrs });
  if (!input.id) input.id = nextId("c");
  return h("div", { class: "check" }, input, h("label", { for: input.id }, label));
}

/** Says `message` to screen readers through the page's polite live region. */
export function announce(message) {
  const el = document.getElementById("announcer");
  if (!el) return;
  el.textContent = "";
  // A new text node after a tick, so repeating the same message is announced again.
  setTimeout(() => {
    el.textContent = message;
  }, 50);
}

/** The message a person should read for an error: the problem's detail when Herald sent one. */
export function problemMessage(error) {
  if (error instanceof HeraldError) {
    const problem = error.problem ?? {};
    let text = problem.detail || problem.title || `HTTP ${error.status}`;
    if (Array.isArray(problem.errors) && problem.errors.length > 0) {
      text += ": " + problem.errors.map((e) => `${e.field} ${e.message}`).join("; ");
    }
    if (error.retryAfter) text += ` (retry in ${error.retryAfter} s)`;
    return text;
  }
  if (error && error.name === "AbortError") return "canceled";
  return error?.message || String(error);
}

/** A notice block: kind is `info`, `success`, `error` or `warning`. */
export function notice(kind, ...children) {
  const role = kind === "error" ? "alert" : "status";
  return h("div", { class: `notice notice-${kind}`, role }, ...children);
}

/** An element that shows the outcome of actions: `status.error(e)`, `status.ok("Saved")`. */
export function statusLine() {
  const el = h("div", { class: "status-line", "aria-live": "polite" });
  return {
    el,
    clear() {
      el.replaceChildren();
    },
    ok(message) {
      replace(el, notice("success", message));
    },
    info(message) {
      replace(el, notice("info", message));
    },
    error(error) {
      replace(el, notice("error", typeof error === "string" ? error : problemMessage(error)));
    },
  };
}

/**
 * Runs `action` for a button press: the button is disabled (and says it is busy) until the
 * action settles, and a failure is shown on `status`.
 */
export async function busy(button, status, action) {
  const before = button.disabled;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  status?.clear();
  try {
    return await action();
  } catch (error) {
    if (status) status.error(error);
    else throw error;
    return undefined;
  } finally {
    button.removeAttribute("aria-busy");
    if (button.isConnected) button.disabled = before;
  }
}

/**
 * A form with a submit button saying `submit` (primary unless `primary: false`) and a status
 * line. Submitting runs `action(status)` through `busy`: the button is disabled while it runs
 * and a failure lands on the status line. The fields come first, then the button in an actions
 * row, the status line, and `after` (a result area) when there is one.
 */
export function actionForm({ submit, primary = true, id, class: className, after, action }, ...fields) {
  const status = statusLine();
  const button = h("button", { type: "submit", class: primary ? "button button-primary" : "button", id }, submit);
  return h(
    "form",
    {
      class: className,
      onsubmit: (event) => {
        event.preventDefault();
        busy(button, status, () => action(status));
      },
    },
    ...fields,
    h("div", { class: "actions" }, button),
    status.el,
    after ?? null,
  );
}

/** The quiet Refresh button of a section head. */
export function refreshButton() {
  return h("button", { type: "button", class: "button button-quiet" }, "Refresh");
}

/**
 * Reads again through `busy` when a control is used: a `<select>` on change, a button on
 * click. Each control is the one disabled while `reread` runs; failures land on `status`.
 */
export function rereadOn(status, reread, ...controls) {
  for (const control of controls) {
    const event = control.tagName === "SELECT" ? "change" : "click";
    control.addEventListener(event, () => busy(control, status, reread));
  }
}

/**
 * The "Older …" button under a list read a page at a time, and the cursor it reads from.
 * `first(page)` takes a first page (read again on a filter change or a Refresh): it keeps the
 * page's cursor, shows the button only while there is a next page, and gives back the items.
 * A press reads the next page with `read(cursor)` through `busy` (failures on `status`) and
 * hands its items to `append(items)`.
 */
export function olderButton(label, status, read, append) {
  let cursor = null;
  const button = h("button", { type: "button", class: "button", hidden: true }, label);
  const take = (page) => {
    cursor = page.next_cursor;
    button.hidden = !cursor;
    return page.data;
  };
  button.addEventListener("click", () => busy(button, status, async () => append(take(await read(cursor)))));
  return { button, first: take };
}

/** Fills `box` with what `render()` builds of `items`, or with a line saying `emptyText` when there is none. */
export function listOrEmpty(box, items, emptyText, render) {
  replace(box, items.length === 0 ? h("p", { class: "empty" }, emptyText) : render());
}

/** Copies `text` to the clipboard; falls back to selecting it for the user. */
export async function copyText(text, fallbackInput) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (fallbackInput) {
      fallbackInput.focus();
      fallbackInput.select();
    }
    return false;
  }
}

/** A read-only input holding `value`, with a Copy button; for links and once-shown secrets. */
export function copyBox(label, value, { id } = {}) {
  const input = h("input", { type: "text", readonly: true, value, class: "mono", spellcheck: "false" });
  if (id) input.id = id;
  const said = h("span", { class: "hint", "aria-live": "polite" });
  const button = h(
    "button",
    {
      type: "button",
      class: "button",
      onclick: async () => {
        const copied = await copyText(value, input);
        said.textContent = copied ? "Copied." : "Selected: press Ctrl+C to copy.";
      },
    },
    "Copy",
  );
  return h(
    "div",
    { class: "field" },
    h("label", { for: input.id || (input.id = nextId("copy")) }, label),
    h("div", { class: "copy-row" }, input, button),
    said,
  );
}

/**
 * The panel that shows a secret (or a key) the only time Herald shows it. It takes focus so
 * the keyboard and screen-reader user lands on it.
 */
export function secretPanel(title, value, explanation, extra) {
  const heading = h("h3", { tabindex: "-1" }, title);
  const panel = h(
    "section",
    { class: "secret-panel", "aria-label": title },
    heading,
    h("p", {}, explanation),
    copyBox("Value", value),
    extra ?? null,
    h(
      "button",
      { type: "button", class: "button button-quiet", onclick: () => panel.remove() },
      "I have stored it — hide",
    ),
  );
  queueMicrotask(() => heading.focus());
  return panel;
}

/** Shows `secretPanel(...)` in `box`, the place a view keeps for it, instead of what was there. */
export function showSecret(box, title, value, explanation, extra) {
  replace(box, secretPanel(title, value, explanation, extra));
}

const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

/**
 * A `<time>` element: today's times as a clock, other days with their date; the exact
 * RFC 3339 value in `datetime`, and the full local date in `title`.
 */
export function time(value) {
  if (!value) return h("span", { class: "muted" }, "—");
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return h("span", {}, value);
  const today = new Date().toDateString() === date.toDateString();
  return h(
    "time",
    { datetime: value, title: `${fullFormat.format(date)} (${value})` },
    (today ? clockFormat : dateFormat).format(date),
  );
}

/** `1234` ms → `1.23 s`; `null` → `—`. */
export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes} min ${seconds} s`;
}

/** The value of a `datetime-local` input as RFC 3339 UTC, or `undefined` when empty. */
export function localInputToRfc3339(value) {
  if (!value) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new Error(`${value} is not a date and time`);
  return date.toISOString();
}

/** A `Date` as the value of a `datetime-local` input (local time, to the second). */
export function dateToLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/**
 * The From and Until fields of a replay window, From an hour ago by default, and `read()`
 * giving the request's `since` and (when Until is set) `until` as RFC 3339.
 */
export function replayWindow() {
  const since = h("input", { type: "datetime-local", name: "since", required: true, step: "1", value: dateToLocalInput(new Date(Date.now() - 3600_000)) });
  const until = h("input", { type: "datetime-local", name: "until", step: "1" });
  const read = () => {
    const body = { since: localInputToRfc3339(since.value) };
    const end = localInputToRfc3339(until.value);
    if (end) body.until = end;
    return body;
  };
  return { fields: [field("From", since), field("Until (optional)", until, "Empty: now.")], read };
}

/** A status badge (`completed`, `dead`, `accepted`, …); the text says it, colour only helps. */
export function badge(state, extraClass = "") {
  return h("span", { class: `badge badge-${state} ${extraClass}`.trim() }, state);
}

/** A table inside a horizontally scrolling, focusable region (so keyboards can scroll it). */
export function table(caption, headers, rows, { captionHidden = false } = {}) {
  const captionEl = h("caption", { class: captionHidden ? "visually-hidden" : "" }, caption);
  const el = h(
    "table",
    {},
    captionEl,
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows),
  );
  return h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": caption }, el);
}
