// `dist/index.js` is what the web console serves as `/console/assets/herald.js`, under a CSP
// that allows scripts of its own origin only: it must stand alone and run in a browser.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

const source = await readFile(new URL("../dist/index.js", import.meta.url), "utf8");
// Statements only: the doc comments may name what they like.
const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");

test("dist/index.js imports nothing at run time", () => {
  assert.doesNotMatch(code, /^\s*import[\s{*"']/m);
  assert.doesNotMatch(code, /\bimport\s*\(/);
  assert.doesNotMatch(code, /\brequire\s*\(/);
});

test("dist/index.js uses nothing of Node's and nothing a CSP forbids", () => {
  assert.doesNotMatch(code, /["']node:/);
  assert.doesNotMatch(code, /\b(process|Buffer|__dirname)\b/);
  assert.doesNotMatch(code, /\beval\s*\(|\bnew Function\s*\(/);
});

test("dist/index.js exports the client's API", async () => {
  const module = await import("../dist/index.js");
  for (const name of ["Herald", "HeraldError", "SseParser"]) {
    assert.equal(typeof module[name], "function", name);
  }
  const herald = new module.Herald({ baseUrl: "http://127.0.0.1:9" });
  const api = {
    "": ["submit", "get", "list", "cancel", "retry", "result", "follow", "stream", "events"],
    webhooks: [
      "list",
      "get",
      "create",
      "update",
      "remove",
      "rotateSecret",
      "deliveries",
      "delivery",
      "retryDelivery",
      "replay",
    ],
    sources: ["list", "get", "create", "update", "remove", "rotateSecret", "requests", "replay"],
    keys: ["list", "create", "revoke"],
  };
  for (const [group, methods] of Object.entries(api)) {
    const target = group ? herald[group] : herald;
    for (const method of methods) {
      assert.equal(typeof target[method], "function", `${group || "Herald"}.${method}`);
    }
  }
});
