// The dashboard's pages, routed by the URL hash: #/ (job list), #/new (submit form), #/jobs/<id> (one job,
// live). Everything is read from the public API with the key the user entered once (localStorage).
/* global window */
import { forgetKey, getKey, setKey } from "./api.js";
import { jobPage } from "./job-page.js";
import { jobsPage } from "./jobs-page.js";
import { newJobPage } from "./new-job-page.js";
import { $, flash, h } from "./ui.js";

// ---- key handling

function renderKey() {
  const key = getKey();
  $("#key-form").hidden = Boolean(key);
  $("#key-status").hidden = !key;
  $("#key-prefix").textContent = key ? `key ${key.slice(0, 10)}…` : "";
}

// ---- router; each page returns a cleanup function that stops its timers and streams

let cleanup = () => {};

async function route() {
  cleanup();
  cleanup = () => {};
  flash("");
  renderKey();
  const view = $("#view");
  if (!getKey()) {
    view.replaceChildren(h("h1", {}, "Welcome"), h("p", {}, "Enter your API key (mf_…) above. It stays in this browser (localStorage) and is sent only to this server."));
    return;
  }
  const hash = window.location.hash || "#/";
  const m = /^#\/jobs\/([0-9a-fA-F-]{36})$/.exec(hash);
  const page = m ? jobPage(view, m[1]) : hash === "#/new" ? newJobPage(view) : jobsPage(view);
  cleanup = await page;
}

$("#key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  setKey(e.target.elements.key.value);
  e.target.reset();
  route();
});
$("#key-forget").addEventListener("click", () => {
  forgetKey();
  route();
});
window.addEventListener("hashchange", route);
route();
