// The console's entry point: the session (an API key in sessionStorage, an open development
// install, or one job's read token from a share link), the hash router, and the one live
// event stream every view listens to.
//
// Routes (the fragment never reaches a server or its logs, which is why a read token may
// travel in it):
//   #/jobs[?status=&type=]        the jobs table
//   #/jobs/<id>[?token=<token>]    one job; with a token, the only thing the console shows
//   #/webhooks, #/webhooks/<id>    subscriptions, one subscription and its deliveries
//   #/sources, #/sources/<id>      inbound sources, one source and its request log
//   #/keys                         API keys (admin keys only)

import { Herald } from "./herald.js";
import { h, replace, field, notice, problemMessage, announce } from "./ui.js";
import { JobStore, renderJobs, renderJob } from "./jobs.js";
import { renderWebhooks, renderWebhook } from "./webhooks.js";
import { renderSources, renderSource } from "./sources.js";
import { renderKeys } from "./keys.js";

const KEY_STORAGE = "herald.console.key";

/**
 * A client of this Herald. Its requests bypass the browser's HTTP cache: a job's `ETag` is its
 * `seq`, which its webhook's state does not move, so a revalidated cached answer would show
 * a stale delivery state.
 */
function client(options = {}) {
  const noStore = (input, init = {}) => fetch(input, { ...init, cache: "no-store" });
  return new Herald({ baseUrl: "", fetch: noStore, ...options });
}

/** What the views share: the client, who is signed in, the job store and the live stream. */
export class App {
  constructor() {
    this.client = null;
    /** `key` (signed in), `open` (no key exists on this install) or `token` (one job). */
    this.mode = null;
    /** Whether the admin API answered: `true`, `false` (403) or `null` (not asked). */
    this.admin = null;
    this.store = new JobStore();
    this.listeners = new Set();
    this.streamAbort = null;
    this.streamState = "closed";
    this.lastEventId = undefined;
    this.cleanup = null;
  }

  /** Listens to the live stream's events; returns the function that stops listening. */
  onEvent(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Opens the tenant's event stream (`/v1/events/stream`); it resumes by `Last-Event-ID`. */
  startStream() {
    this.stopStream();
    const abort = new AbortController();
    this.streamAbort = abort;
    this.setLive("connecting");
    this.client
      .stream({
        signal: abort.signal,
        // After a manual reconnect, resume where the last stream stopped.
        lastEventId: this.lastEventId,
        onEvent: (event) => {
          if (event.id) this.lastEventId = event.id;
          if (this.streamState !== "open") this.setLive("open");
          this.store.apply(event.job);
          for (const listener of this.listeners) listener(event);
        },
        onState: (state) => this.setLive(state),
      })
      .then(
        () => {
          if (!abort.signal.aborted) this.setLive("ended");
        },
        (error) => {
          if (abort.signal.aborted) return;
          this.setLive("ended", problemMessage(error));
        },
      );
  }

  stopStream() {
    this.streamAbort?.abort();
    this.streamAbort = null;
    this.setLive("closed");
  }

  /** Shows the stream's state in the header: live, reconnecting, or ended (with a way back). */
  setLive(state, detail) {
    this.streamState = state;
    const el = document.getElementById("live");
    if (state === "closed") {
      el.hidden = true;
      return;
    }
    el.hidden = false;
    el.className = `live live-${state}`;
    const label = {
      connecting: "Connecting…",
      open: "Live",
      reconnecting: "Reconnecting…",
      ended: "Disconnected",
    }[state];
    if (state === "ended") {
      replace(
        el,
        h("span", { class: "live-dot", "aria-hidden": "true" }),
        `${label}${detail ? `: ${detail}` : ""} `,
        h("button", { type: "button", class: "link-button", onclick: () => this.startStream() }, "Reconnect"),
      );
    } else {
      replace(el, h("span", { class: "live-dot", "aria-hidden": "true" }), label);
    }
  }
}

const app = new App();

/** Parses the fragment: `#/jobs/abc?token=x` → `{parts: ["jobs", "abc"], query}`. */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(search) };
}

function main() {
  return document.getElementById("main");
}

/** Puts the view's heading in focus after a navigation, so screen readers start there. */
function focusHeading() {
  const heading = main().querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

let firstRoute = true;

async function route() {
  const { parts, query } = parseHash();
  const token = parts[0] === "jobs" && parts[1] ? query.get("token") : null;

  if (token) {
    if (app.mode !== "token" || app.token !== token) startTokenSession(token);
    app.jobId = parts[1];
  } else if (app.mode === "token") {
    // A read-token session shows its one job and nothing else.
    return renderTokenOnly();
  } else if (!app.mode) {
    return renderSignIn();
  }

  app.cleanup?.();
  app.cleanup = null;
  const container = main();
  const abort = new AbortController();
  app.cleanup = () => abort.abort();
  markNav(parts[0]);

  const section = parts[0] || "jobs";
  try {
    if (section === "jobs" && parts[1]) {
      await renderJob(container, app, parts[1], abort.signal);
    } else if (section === "jobs") {
      await renderJobs(container, app, query, abort.signal);
    } else if (section === "webhooks" && parts[1]) {
      await renderWebhook(container, app, parts[1], abort.signal, query);
    } else if (section === "webhooks") {
      await renderWebhooks(container, app, abort.signal);
    } else if (section === "sources" && parts[1]) {
      await renderSource(container, app, parts[1], abort.signal);
    } else if (section === "sources") {
      await renderSources(container, app, abort.signal);
    } else if (section === "keys") {
      await renderKeys(container, app, abort.signal);
    } else {
      replace(container, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/jobs" }, "Back to the jobs")));
    }
  } catch (error) {
    if (abort.signal.aborted) return;
    if (error?.status === 401 && app.mode === "key") {
      // The key was revoked meanwhile: back to the form, saying why.
      return signOut(`Your key was refused: ${problemMessage(error)}`);
    }
    replace(container, h("h1", {}, "Something went wrong"), notice("error", problemMessage(error)));
  }
  if (abort.signal.aborted) return;
  if (!firstRoute) focusHeading();
  firstRoute = false;
}

function markNav(section) {
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.section === (section || "jobs")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/** Shows the header for a session: the nav, who is signed in, the sign-out button. */
function showSession() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  const signOut = document.getElementById("sign-out");
  if (app.mode === "token") {
    nav.hidden = true;
    who.textContent = "Read-only link";
    signOut.hidden = true;
    return;
  }
  nav.hidden = false;
  document.getElementById("nav-keys").hidden = app.admin !== true;
  who.textContent = app.mode === "open" ? "Open install" : app.keyHint ?? "Signed in";
  signOut.hidden = app.mode !== "key";
}

function startTokenSession(token) {
  app.cleanup?.();
  app.stopStream();
  app.mode = "token";
  app.token = token;
  app.admin = false;
  app.client = client({ token });
  showSession();
}

function renderTokenOnly() {
  app.cleanup?.();
  replace(
    main(),
    h("h1", {}, "One job only"),
    notice(
      "info",
      "This console was opened from a read-only link: it shows that one job and nothing else. ",
      "Sign in with an API key to see the rest.",
    ),
    h(
      "p",
      {},
      h("a", { href: `#/jobs/${encodeURIComponent(app.jobId ?? "")}?token=${encodeURIComponent(app.token)}` }, "Back to the job"),
      " · ",
      h("button", { type: "button", class: "link-button", onclick: leaveTokenSession }, "Sign in instead"),
    ),
  );
  focusHeading();
}

function leaveTokenSession() {
  app.mode = null;
  app.token = null;
  app.client = null;
  location.hash = "#/jobs";
  start();
}

/** Asks whether the key is an admin key: the admin API answers it, or `403`. */
async function probeAdmin() {
  try {
    await app.client.keys.list();
    return true;
  } catch (error) {
    if (error?.status === 403) return false;
    return null;
  }
}

/** The key's public id, `hk_<id>_…`, to show who is signed in without the secret. */
function keyId(key) {
  return /^hk_([0-9a-f]+)_/.exec(key)?.[1] ?? null;
}

async function enterWithKey(key) {
  const signedIn = client({ key });
  // Any key-checked read tells a good key from a bad one; the list is the cheapest.
  await signedIn.list({ limit: 1 });
  app.client = signedIn;
  app.mode = "key";
  app.keyId = keyId(key);
  app.keyHint = app.keyId ? `Key ${app.keyId}` : "Signed in";
  app.admin = await probeAdmin();
  sessionStorage.setItem(KEY_STORAGE, key);
  showSession();
  app.startStream();
}

function renderSignIn(message) {
  app.cleanup?.();
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("who").textContent = "";
  document.title = "Sign in · Herald console";
  const input = h("input", {
    type: "password",
    name: "key",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    class: "mono",
    placeholder: "hk_…",
  });
  const error = h("div", { id: "sign-in-error", "aria-live": "assertive" });
  if (message) replace(error, notice("error", message));
  const button = h("button", { type: "submit", class: "button button-primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "card sign-in",
      onsubmit: async (event) => {
        event.preventDefault();
        const key = input.value.trim();
        error.replaceChildren();
        button.disabled = true;
        try {
          await enterWithKey(key);
          await route();
        } catch (e) {
          input.setAttribute("aria-invalid", "true");
          replace(error, notice("error", `Refused: ${problemMessage(e)}`));
          input.focus();
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h1", {}, "Sign in"),
    h(
      "p",
      {},
      "Paste an API key. It stays in this tab only (session storage) and is sent as a Bearer token to this Herald.",
    ),
    field("API key", input, "hk_ followed by its id and secret. Admin keys also manage keys."),
    error,
    h("div", { class: "actions" }, button),
  );
  replace(main(), form);
  input.focus();
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  app.cleanup?.();
  app.stopStream();
  app.store = new JobStore();
  app.client = null;
  app.mode = null;
  app.admin = null;
  announce("Signed out.");
  renderSignIn(typeof message === "string" ? message : undefined);
}

/** Decides how to enter: a share link's token, a key kept in this tab, an open install, or the form. */
async function start() {
  const { parts, query } = parseHash();
  if (parts[0] === "jobs" && parts[1] && query.get("token")) {
    return route();
  }
  const stored = sessionStorage.getItem(KEY_STORAGE);
  if (stored) {
    try {
      await enterWithKey(stored);
      return route();
    } catch (error) {
      if (error?.status !== 401) {
        return renderSignIn(`Herald did not answer: ${problemMessage(error)}. Reload to try again.`);
      }
      sessionStorage.removeItem(KEY_STORAGE);
      return renderSignIn(`The stored key was refused: ${problemMessage(error)}`);
    }
  }
  // An open development install (no key exists yet) answers without a key.
  const open = client();
  try {
    await open.list({ limit: 1 });
  } catch (error) {
    return renderSignIn(error?.status === 401 ? null : `Herald did not answer: ${problemMessage(error)}`);
  }
  app.client = open;
  app.mode = "open";
  app.admin = true;
  showSession();
  app.startStream();
  return route();
}

document.getElementById("sign-out").addEventListener("click", signOut);
// The skip link moves focus to the content without touching the fragment, which is the route.
document.querySelector(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main().focus();
});
window.addEventListener("hashchange", () => {
  if (app.mode && (location.hash === "" || location.hash.startsWith("#/"))) route();
});
start();
