// The payment centre's pay-later links: made here (fixed or patient-chosen), listed with filters and a count per
// status, shared (payment links' share box), reminded and cancelled; every change arrives live (`payment_link`).

import { api, session } from "/static/session.js";
import { connectLive } from "/widget/static/live.js";
import { element } from "/widget/static/view.js";
import { shareBox } from "/widget/static/links_share.js";

const $ = (id) => document.getElementById(id);
const STATUS_WORDS = { active: "Active", paid: "Paid", expired: "Expired", canceled: "Cancelled" };
const links = new Map();
const FORM_FIELDS = ["amount", "description", "email", "name", "expires_at"];

function say(message) {
  const counts = $("links-counts");
  counts.dataset.said = message;
}

function row(link) {
  const tr = element("tr", { attrs: { "data-testid": "link-row", "data-id": link.id, "data-status": link.status } });
  const cell = (text, className) => element("td", { text, className });
  const status = element("td");
  status.append(element("span", { className: `cp-status cp-status-${link.status}`, text: STATUS_WORDS[link.status] }));
  const actions = element("td");
  if (link.status === "active") {
    const details = element("details");
    details.append(element("summary", { text: "Share" }), shareBox(link, { onChange: upsert, announce: say }));
    const cancel = element("button", { className: "secondary", text: "Cancel link",
      attrs: { type: "button", "data-testid": "link-cancel", "aria-label": `Cancel the link for ${link.description}` } });
    cancel.addEventListener("click", async () => {
      if (!window.confirm(`Cancel the link for ${link.amount_display} (${link.description})? The patient can no longer pay with it.`)) return;
      cancel.disabled = true;
      try {
        upsert(await api(`/api/v1/payment-links/${encodeURIComponent(link.id)}/cancel`, { method: "POST" }));
      } catch (error) {
        showError(error.message);
        cancel.disabled = false;
      }
    });
    actions.append(details, cancel);
  }
  tr.append(
    cell(link.created_display),
    cell([link.name, link.email].filter(Boolean).join(" · ") || "—"),
    cell(link.description),
    cell(link.amount_display, "num"),
    status,
    cell(link.expires_display),
    cell(link.last_reminded_display || "—"),
    actions,
  );
  return tr;
}

function showError(message) {
  $("links-error").textContent = message || "";
  $("links-error").hidden = !message;
}

let counts = null;
function render() {
  const wanted = $("link-filter-status").value;
  const items = [...links.values()]
    .filter((l) => !wanted || l.status === wanted)
    .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  $("links-body").replaceChildren(...items.map(row));
  $("links-empty").hidden = items.length > 0;
  if (counts) {
    $("links-counts").textContent = Object.entries(STATUS_WORDS)
      .map(([key, words]) => `${words}: ${counts[key] ?? 0}`).join(" · ");
  }
}

function upsert(link) {
  const before = links.get(link.id);
  if (counts && before && before.status !== link.status) {
    counts[before.status] -= 1;
    counts[link.status] = (counts[link.status] ?? 0) + 1;
  } else if (counts && !before) {
    counts[link.status] = (counts[link.status] ?? 0) + 1;
  }
  links.set(link.id, link);
  render();
}

async function load() {
  const query = new URLSearchParams();
  if ($("link-filter-status").value) query.set("status", $("link-filter-status").value);
  if ($("link-filter-q").value.trim()) query.set("q", $("link-filter-q").value.trim());
  query.set("limit", "200");
  try {
    const page = await api(`/api/v1/payment-links?${query}`);
    links.clear();
    counts = page.counts;
    for (const link of page.data) links.set(link.id, link);
    render();
    showError(null);
  } catch (error) {
    showError(error.message);
  }
}

async function create(event) {
  event.preventDefault();
  for (const name of FORM_FIELDS) $(`link-new-${name}-error`).textContent = "";
  const body = {};
  for (const name of FORM_FIELDS) {
    const value = $(`link-new-${name}`).value.trim();
    if (value) body[name] = value;
  }
  $("link-create").disabled = true;
  try {
    const link = await api("/api/v1/payment-links", { method: "POST", body });
    upsert(link);
    $("link-made").replaceChildren(
      element("p", { className: "notice ok", text: link.email ? `Link made and emailed to ${link.email}.` : "Link made: share it." }),
      shareBox(link, { onChange: upsert, announce: say }),
    );
    $("link-form").querySelectorAll("input").forEach((input) => { input.value = ""; });
  } catch (error) {
    const problems = error.errors ?? [error];
    let shown = false;
    for (const problem of problems) {
      const target = problem.field && $(`link-new-${problem.field === "min_amount" || problem.field === "max_amount" ? "amount" : problem.field}-error`);
      if (target) {
        target.textContent = problem.message;
        shown = true;
      }
    }
    if (!shown) showError(error.message);
  } finally {
    $("link-create").disabled = false;
  }
}

if (session && $("links")) {
  $("link-form").addEventListener("submit", create);
  $("link-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  load();
  connectLive(session.token, { on: { payment_link: upsert } });
}
