// API keys, for admin keys: the keys of every tenant (filtered by tenant), creating one (the
// whole key shown once) and revoking one. A non-admin key never sees this section: the admin
// API answers it 403, and the console hides the link.

import { h, replace, field, checkbox, notice, statusLine, busy, badge, time, table, showSecret, actionForm, listOrEmpty, announce, problemMessage } from "./ui.js";

export async function renderKeys(container, app, signal) {
  document.title = "Keys · Herald console";
  replace(container, h("h1", {}, "API keys"), h("p", { class: "loading" }, "Loading keys…"));
  let keys;
  try {
    keys = (await app.client.keys.list()).data;
  } catch (error) {
    if (signal.aborted) return;
    if (error?.status === 403) {
      app.admin = false;
      document.getElementById("nav-keys").hidden = true;
      replace(container, h("h1", {}, "API keys"), notice("info", "Only admin keys manage keys: ", problemMessage(error)));
      return;
    }
    throw error;
  }
  if (signal.aborted) return;

  const tenantFilter = h("input", { type: "search", name: "tenant", autocomplete: "off", placeholder: "every tenant" });
  const listBox = h("div");
  const created = h("div");
  const listStatus = statusLine();

  function renderList() {
    const tenant = tenantFilter.value.trim();
    const shown = tenant ? keys.filter((k) => k.tenant === tenant) : keys;
    listOrEmpty(listBox, shown, "No key.", () =>
      table(
        "API keys, oldest first",
        ["Key", "Tenant", "Name", "Rights", "Created", ""],
        shown.map((key) => {
          const revoke = h("button", { type: "button", class: "button button-danger", "aria-label": `Revoke key ${key.id}` }, "Revoke");
          revoke.addEventListener("click", () =>
            busy(revoke, listStatus, async () => {
              const own = key.id === app.keyId ? " It is the key this console is signed in with: you will be signed out." : "";
              if (!confirm(`Revoke key ${key.hint}? Every request and stream it opened is refused from now on.${own}`)) return;
              await app.client.keys.revoke(key.id);
              keys = keys.filter((k) => k.id !== key.id);
              renderList();
              listStatus.ok(`Revoked key ${key.id}.`);
            }),
          );
          return h(
            "tr",
            { dataset: { id: key.id } },
            h("td", { class: "mono" }, key.hint),
            h("td", {}, key.tenant),
            h("td", {}, key.name ?? "—", key.id === app.keyId ? h("span", { class: "badge badge-self" }, "this key") : null),
            h("td", {}, key.admin ? badge("admin") : "tenant"),
            h("td", {}, time(key.created_at)),
            h("td", {}, revoke),
          );
        }),
        { captionHidden: true },
      ),
    );
  }
  tenantFilter.addEventListener("input", renderList);

  const tenant = h("input", { type: "text", name: "tenant", required: true, value: "default", autocomplete: "off" });
  const name = h("input", { type: "text", name: "name", autocomplete: "off", placeholder: "ci" });
  const admin = checkbox("Admin key (manages keys of every tenant)", { name: "admin" });
  const form = actionForm(
    {
      submit: "Create key",
      action: async () => {
        const body = { tenant: tenant.value.trim(), admin: admin.querySelector("input").checked };
        if (name.value.trim()) body.name = name.value.trim();
        const answer = await app.client.keys.create(body);
        const { key, ...stored } = answer;
        keys.push(stored);
        renderList();
        // On an open install the first key closes it: from now on every request needs a key.
        const closing =
          app.mode === "open"
            ? [
                notice("warning", "This install was open: now that a key exists, every request needs one, this console's too."),
                stored.admin && stored.tenant === "default"
                  ? h(
                      "button",
                      {
                        type: "button",
                        class: "button button-primary",
                        onclick: () => {
                          sessionStorage.setItem("herald.console.key", key);
                          location.reload();
                        },
                      },
                      "Sign in with this key",
                    )
                  : null,
              ]
            : null;
        showSecret(created, "New API key", key, `A key of tenant ${stored.tenant}. Herald stores only its digest and shows it this once: store it now.`, closing);
        name.value = "";
        announce("Key created.");
      },
    },
    h("div", { class: "form-grid" }, field("Tenant", tenant), field("Name (optional)", name)),
    admin,
  );

  replace(
    container,
    h("h1", {}, "API keys"),
    created,
    h(
      "section",
      { class: "card", "aria-labelledby": "keys-h" },
      h("h2", { id: "keys-h" }, "Keys"),
      h("div", { class: "filters" }, field("Tenant", tenantFilter)),
      listStatus.el,
      listBox,
    ),
    h("details", { class: "card disclosure", open: keys.length === 0 }, h("summary", {}, "New key"), form),
  );
  renderList();
}
