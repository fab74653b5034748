// The payment centre: the list with its filters and totals, the export, and one payment's details and actions.
// Every rule (who may refund, what is left, how money and dates read) comes from the server's answers; this script
// only shows them and sends what the person typed.
import { api, download } from "/static/session.js";

const config = JSON.parse(document.getElementById("centre-config").textContent);
const $ = (id) => document.getElementById(id);
const form = $("filters");
const rows = $("rows");
const STATUS_WORDS = Object.fromEntries(config.statuses.map((s) => [s.value, s.label]));

// A request split into an instalment plan is cancelled in the lifecycle, but nothing was called off: say what happened.
function statusLabel(pr) {
  if (pr.status === "canceled" && pr.replaced_by_plan) return "Split into instalments";
  return STATUS_WORDS[pr.status] ?? pr.status;
}

let sort = "-created_at";
let nextCursor = null;
let current = null; // the payment whose details are open
let refundRef = null; // one refund per click: a retry after no answer reuses it, so Stripe refunds once

function announce(text) {
  const box = $("announcer");
  box.textContent = "";
  window.setTimeout(() => { box.textContent = text; }, 50);
}

function newRef() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

// --- Filters and the list ---------------------------------------------------------------------------------

function filterQuery() {
  const query = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (String(value).trim()) query.set(name, String(value).trim());
  }
  query.set("sort", sort);
  return query;
}

function showFilterError(message) {
  $("filter-error").textContent = message;
  $("filter-error").hidden = !message;
}

async function load({ more = false } = {}) {
  const query = filterQuery();
  if (more && nextCursor) query.set("cursor", nextCursor);
  showFilterError("");
  let body;
  try {
    body = await api(`/api/v1/payments?${query}`);
  } catch (err) {
    showFilterError(err.message);
    return;
  }
  if (!more) rows.replaceChildren();
  rows.append(...body.data.map(renderRow));
  nextCursor = body.next_cursor;
  $("more").hidden = !nextCursor;
  $("empty").hidden = rows.children.length > 0;
  renderTotals(body.totals);
  if (!more) announce(`${body.totals.reduce((n, t) => n + t.count, 0)} payments found.`);
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (className) td.className = className;
  return td;
}

function renderRow(pr) {
  const tr = document.createElement("tr");
  tr.dataset.testid = "payment-row";
  tr.dataset.id = pr.id;
  tr.dataset.status = pr.status;
  const patient = cell(pr.patient_name || (pr.patient_email ? "" : "—"));
  if (pr.patient_email) {
    patient.append(Object.assign(document.createElement("span"), { className: "cp-muted-line", textContent: pr.patient_email }));
  }
  tr.append(cell(pr.created_at_display, "cp-when"), patient, cell(pr.description));
  if (!config.own_only) tr.append(cell(pr.clinician.name));
  if (config.many_clinics) tr.append(cell(pr.clinic_name));
  const amount = cell(pr.amount_display, "num");
  if (pr.amount_refunded) {
    const refunded = document.createElement("span");
    refunded.className = "cp-refunded";
    refunded.textContent = `${pr.amount_refunded_display} refunded`;
    amount.append(document.createElement("br"), refunded);
  }
  tr.append(amount);
  const status = cell("");
  const badge = document.createElement("span");
  badge.className = `cp-status cp-status-${pr.status}`;
  badge.textContent = statusLabel(pr);
  status.append(badge);
  tr.append(status, cell(pr.receipt_number ?? "—"));
  const open = document.createElement("td");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary cp-open";
  button.textContent = "Details";
  button.setAttribute("aria-label", `Details of ${pr.amount_display}, ${pr.description}, ${pr.created_at_display}`);
  button.addEventListener("click", () => openDetail(pr.id, button));
  open.append(button);
  tr.append(open);
  return tr;
}

function renderTotals(totals) {
  const box = $("totals");
  if (!totals.length) {
    box.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "No payments." }));
    return;
  }
  box.replaceChildren(...totals.map((t) => {
    const card = document.createElement("dl");
    card.className = "cp-total";
    card.dataset.currency = t.currency;
    const add = (label, value) => {
      if (value === null || value === undefined) return;
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = value;
      div.append(dt, dd);
      card.append(div);
    };
    add("Currency", t.currency.toUpperCase());
    add("Requests", String(t.count));
    add("Taken", t.display.gross);
    add("Refunded", t.display.refunded);
    add("Net", t.display.net);
    add("Stripe fees", t.display.fees);
    add("To the clinic", t.display.net_to_clinic);
    return card;
  }));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
$("filter-clear").addEventListener("click", () => {
  form.reset();
  load();
});
$("more").addEventListener("click", () => load({ more: true }));
for (const button of document.querySelectorAll(".cp-sort")) {
  button.addEventListener("click", () => {
    const key = button.dataset.sort;
    sort = sort === `-${key}` ? key : `-${key}`;
    for (const th of document.querySelectorAll("th[data-sort]")) {
      const on = th.dataset.sort === key;
      th.setAttribute("aria-sort", on ? (sort.startsWith("-") ? "descending" : "ascending") : "none");
    }
    load();
  });
}

// --- Files: the export and receipts --------------------------------------------------------------------------

$("export").addEventListener("click", async () => {
  const query = filterQuery();
  query.set("format", "csv");
  const button = $("export");
  button.disabled = true;
  try {
    await download(`/api/v1/payments?${query}`, "payments.csv", "text/csv");
    announce("Export downloaded.");
  } catch (err) {
    showFilterError(err.message);
  } finally {
    button.disabled = false;
  }
});

// --- One payment ------------------------------------------------------------------------------------------------

let returnFocus = null;

async function openDetail(id, opener) {
  returnFocus = opener ?? null;
  let pr;
  try {
    pr = await api(`/api/v1/payment-requests/${encodeURIComponent(id)}`);
  } catch (err) {
    showFilterError(err.message);
    return;
  }
  renderDetail(pr);
  $("detail").hidden = false;
  $("detail").focus();
}

function renderDetail(pr) {
  current = pr;
  $("detail-title").textContent = `${pr.amount_display} · ${pr.description}`;
  const facts = $("detail-facts");
  facts.replaceChildren();
  const fact = (label, value) => {
    if (!value) return;
    const div = document.createElement("div");
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    div.append(dt, dd);
    facts.append(div);
  };
  fact("Status", statusLabel(pr));
  fact("Requested", pr.created_at_display);
  fact("Paid", pr.paid_at_display);
  fact("Patient", [pr.patient_name, pr.patient_email].filter(Boolean).join(" · "));
  fact("Clinician", pr.clinician.name);
  if (config.many_clinics) fact("Clinic", pr.clinic_name);
  fact("Item number", pr.item_code);
  fact("Receipt number", pr.receipt_number);
  fact("Refunded", pr.amount_refunded ? pr.amount_refunded_display : null);
  fact("Left to refund", pr.refundable ? pr.amount_refundable_display : null);
  fact("Stripe fee", pr.stripe_fee_display);
  for (const refund of pr.refunds ?? []) {
    const words = refund.status === "failed" ? `failed: ${refund.failure_message ?? "Stripe refused it"}` : refund.status_words;
    fact(`Refund ${refund.created_at_display}`, `${refund.amount_display} · ${words}${refund.reason ? ` · “${refund.reason}”` : ""}`);
  }
  const next = $("detail-next");
  next.textContent = pr.next_step ?? "";
  next.hidden = !pr.next_step;

  $("receipt-download").hidden = !pr.receipt_available;
  $("refund-open").hidden = !(pr.refundable && pr.actions?.includes("refund"));
  $("refund-form").hidden = true;
  $("resend-form").hidden = !(pr.receipt_available && pr.actions?.includes("resend_receipt"));
  $("resend-email").value = pr.patient_email ?? "";
  $("resend-error").hidden = true;

  // Other parts of the page (instalment plans) offer their own actions on the payment shown.
  document.dispatchEvent(new CustomEvent("callpay:payment-shown", { detail: pr }));

  const timeline = $("timeline");
  timeline.replaceChildren(...(pr.timeline ?? []).map((entry) => {
    const li = document.createElement("li");
    const when = document.createElement("time");
    when.dateTime = entry.at;
    when.textContent = entry.at_display;
    li.append(when, document.createTextNode(` — ${entry.what}`));
    return li;
  }));
}

function closeDetail() {
  $("detail").hidden = true;
  current = null;
  returnFocus?.focus();
}

$("detail-close").addEventListener("click", closeDetail);
$("detail").addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeDetail();
});

$("receipt-download").addEventListener("click", async () => {
  try {
    await download(`/api/v1/payment-requests/${encodeURIComponent(current.id)}/receipt.pdf`, "receipt.pdf", "application/pdf");
  } catch (err) {
    showFilterError(err.message);
  }
});

// --- Refund --------------------------------------------------------------------------------------------------

$("refund-open").addEventListener("click", () => {
  refundRef = null;
  $("refund-form").hidden = false;
  $("refund-left").textContent = `Up to ${current.amount_refundable_display} can be refunded. Leave the amount as it is to refund all of it.`;
  $("refund-amount").value = current.amount_refundable_text ?? "";
  $("refund-reason").value = "";
  $("refund-error").hidden = true;
  $("refund-amount").focus();
});
$("refund-cancel").addEventListener("click", () => {
  $("refund-form").hidden = true;
  $("refund-open").focus();
});
for (const input of [$("refund-amount"), $("refund-reason")]) {
  input.addEventListener("input", () => { refundRef = null; });
}

$("refund-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = $("refund-submit");
  if (submit.disabled) return;
  refundRef ??= newRef();
  const body = { amount: $("refund-amount").value.trim(), reason: $("refund-reason").value.trim(), client_ref: refundRef };
  if (!body.reason) delete body.reason;
  submit.disabled = true;
  submit.textContent = "Refunding…";
  $("refund-error").hidden = true;
  try {
    const answer = await api(`/api/v1/payment-requests/${encodeURIComponent(current.id)}/refunds`, { method: "POST", body });
    refundRef = null;
    renderDetail(answer.payment_request);
    announce(answer.refund.status === "failed"
      ? `The refund failed: ${answer.refund.failure_message ?? ""}`
      : `Refund of ${answer.refund.amount_display} ${answer.refund.status === "pending" ? "asked for" : "made"}.`);
    load();
    $("detail").focus();
  } catch (err) {
    if (err.status && err.status !== 0 && err.code !== "network") refundRef = null;
    $("refund-error").textContent = err.message;
    $("refund-error").hidden = false;
  } finally {
    submit.disabled = false;
    submit.textContent = "Refund";
  }
});

// --- Resend receipt ------------------------------------------------------------------------------------------

$("resend-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("resend-receipt");
  if (button.disabled) return;
  button.disabled = true;
  $("resend-error").hidden = true;
  try {
    const answer = await api(`/api/v1/payment-requests/${encodeURIComponent(current.id)}/receipt/resend`, {
      method: "POST",
      body: { email: $("resend-email").value.trim() },
    });
    renderDetail(answer.payment_request);
    announce(`Receipt sent to ${answer.email}.`);
  } catch (err) {
    $("resend-error").textContent = err.message;
    $("resend-error").hidden = false;
    $("resend-email").focus();
  } finally {
    button.disabled = false;
  }
});

// --- The clinician's own provider number -----------------------------------------------------------------------

const profile = $("profile");
if (profile) {
  api("/api/v1/profile").then((me) => { $("provider-number").value = me.provider_number ?? ""; }).catch(() => {});
  profile.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("provider-number-error");
    error.hidden = true;
    $("provider-number").removeAttribute("aria-invalid");
    try {
      const me = await api("/api/v1/profile", {
        method: "PATCH",
        body: { provider_number: $("provider-number").value.trim() || null },
      });
      $("provider-number").value = me.provider_number ?? "";
      announce(me.provider_number ? `Provider number ${me.provider_number} saved.` : "Provider number removed.");
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      $("provider-number").setAttribute("aria-invalid", "true");
      $("provider-number").focus();
    }
  });
}

// A fee charged to a saved card (saved_cards.js) is a payment like any other: show it in the list.
document.addEventListener("callpay:payments-changed", () => load());

load();
