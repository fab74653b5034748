// The Request payment panel: ask the patient in the call for a payment and see it land.
// Everything goes over one Socket.IO connection authenticated with the page's in-memory session token.

import { askToConfirm } from "/widget/static/confirm_amount.js";
import { session } from "/static/session.js";
import { io } from "/widget/static/vendor/socket.io-client/socket.io.esm.min.js";

const config = JSON.parse(document.getElementById("panel-config").textContent);
const $ = (id) => document.getElementById(id);
const form = $("request-form");
const fields = $("request-fields");
const amountInput = $("amount");
const descriptionInput = $("description");
const submit = $("submit");
const list = $("requests");
const region = $("received-region");

const STATUS_WORDS = {
  requested: "Waiting for the patient",
  processing: "Processing",
  paid: "Paid",
  failed: "Payment failed — the patient can try again",
  canceled: "Cancelled",
  refunded: "Refunded",
  partially_refunded: "Partly refunded",
};
const UNPAID = new Set(["requested", "failed"]);
const BRANDS = { visa: "Visa", mastercard: "Mastercard", amex: "American Express", discover: "Discover", jcb: "JCB",
  diners: "Diners Club", unionpay: "UnionPay", eftpos_au: "eftpos" };
const ACK_TIMEOUT_MS = 10000;
const LANG = document.documentElement.lang || "en-AU";

const requests = new Map(); // id → PaymentRequest, newest copy wins
const shownReceived = new Set(); // ids whose pop-up has been shown on this page: never twice
let pendingRef = null; // the client_ref of a request not yet acknowledged: a resend reuses it, so no duplicate
let paymentsAvailable = Boolean(config.status?.payments_available);
let sessionEnded = false;
let confirmingId = null; // the request whose "Cancel this request?" is open

const socket = io({ path: "/socket.io", auth: { token: session?.token ?? "" }, transports: ["websocket", "polling"] });

// --- Connection -----------------------------------------------------------------------------------------

function showConnection(text, bad = false) {
  const line = $("connection");
  line.textContent = text;
  line.classList.toggle("bad", bad);
}

socket.on("connect", () => showConnection("Connected"));
socket.on("disconnect", () => {
  if (!sessionEnded) showConnection("Connection lost — reconnecting…", true);
});
socket.io.on("reconnect_attempt", () => showConnection("Reconnecting…", true));
socket.on("connect_error", (err) => {
  const code = err?.data?.code;
  if (code === "session_invalid" || code === "session_missing") {
    sessionEnded = true;
    showConnection(err.message, true);
    setFormEnabled();
    return; // the server refused this session for good; retrying won't help
  }
  showConnection("Can't reach Callpay — retrying…", true);
});

// --- Whether payments are possible ----------------------------------------------------------------------

function setFormEnabled() {
  fields.disabled = !paymentsAvailable || sessionEnded;
}

socket.on("clinic_status", (status) => {
  paymentsAvailable = Boolean(status.payments_available);
  $("unavailable").hidden = paymentsAvailable;
  $("unavailable-reason").textContent = status.reason ?? "";
  setFormEnabled();
});

// --- The list -------------------------------------------------------------------------------------------

function isNewer(incoming, current) {
  return !current || !incoming.updated_at || !current.updated_at || incoming.updated_at >= current.updated_at;
}

function formatTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(LANG, { hour: "numeric", minute: "2-digit" });
}

function renderList() {
  const items = [...requests.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  if (confirmingId && !UNPAID.has(requests.get(confirmingId)?.status)) confirmingId = null;
  // The list is rebuilt on every change: put the keyboard back on the same button in the new copy.
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const refocus = focused && focused.closest("[data-id]") && focused.dataset.action
    ? { id: focused.closest("[data-id]").dataset.id, action: focused.dataset.action }
    : null;
  $("empty").hidden = items.length > 0;
  list.replaceChildren(...items.map(renderItem));
  if (refocus) focusAction(refocus.id, refocus.action);
}

function focusAction(id, action) {
  const item = [...list.children].find((node) => node.dataset.id === id);
  const button = item?.querySelector(`[data-action="${action}"]`);
  button?.focus();
}

function announce(text) {
  const box = $("announcer");
  box.textContent = "";
  window.setTimeout(() => { box.textContent = text; }, 50);
}

function renderItem(pr) {
  const item = document.createElement("li");
  item.className = "cp-request";
  item.dataset.id = pr.id;
  item.dataset.status = pr.status;

  const amount = document.createElement("span");
  amount.className = "cp-request-amount";
  amount.textContent = pr.amount_display;
  const status = document.createElement("span");
  status.className = `cp-status cp-status-${pr.status}`;
  status.textContent = STATUS_WORDS[pr.status] ?? pr.status;
  const description = document.createElement("span");
  description.className = "cp-request-description";
  description.textContent = pr.description;
  item.append(amount, status, description);

  const meta = document.createElement("span");
  meta.className = "cp-request-meta";
  const parts = [`Requested ${formatTime(pr.created_at)}`];
  if (pr.paid_at) parts.push(`paid ${formatTime(pr.paid_at)}`);
  if (pr.receipt_number) parts.push(`receipt ${pr.receipt_number}`);
  if (pr.card_brand && pr.card_last4) parts.push(`${BRANDS[pr.card_brand] ?? pr.card_brand} •••• ${pr.card_last4}`);
  meta.textContent = parts.join(" · ");
  item.append(meta);

  if (UNPAID.has(pr.status)) item.append(pr.id === confirmingId ? renderConfirm(pr) : renderCancel(pr));
  return item;
}

function actionButton(text, action, className) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = text;
  button.dataset.action = action;
  return button;
}

function renderCancel(pr) {
  const actions = document.createElement("div");
  actions.className = "cp-request-actions";
  const cancel = actionButton("Cancel request", "cancel", "secondary");
  cancel.setAttribute("aria-label", `Cancel the request for ${pr.amount_display}, ${pr.description}`);
  cancel.addEventListener("click", () => {
    // One click only asks: a misclick mid-call mustn't take the request away from the patient.
    confirmingId = pr.id;
    renderList();
    focusAction(pr.id, "keep");
  });
  actions.append(cancel);
  return actions;
}

function renderConfirm(pr) {
  const group = document.createElement("div");
  group.className = "cp-confirm";
  group.setAttribute("role", "group");
  const question = document.createElement("p");
  question.id = `confirm-${pr.id}`;
  question.className = "cp-confirm-question";
  question.textContent = "Cancel this request?";
  group.setAttribute("aria-labelledby", question.id);
  const yes = actionButton("Yes, cancel", "confirm-cancel", "danger");
  yes.setAttribute("aria-label", `Yes, cancel the request for ${pr.amount_display}, ${pr.description}`);
  const keep = actionButton("Keep it", "keep", "secondary");
  keep.setAttribute("aria-label", `Keep it: don't cancel the request for ${pr.amount_display}, ${pr.description}`);
  const stopAsking = () => {
    confirmingId = null;
    renderList();
    focusAction(pr.id, "cancel");
  };
  yes.addEventListener("click", () => cancelRequest(pr, yes, keep));
  keep.addEventListener("click", stopAsking);
  group.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation(); // Escape here means "keep it", not "dismiss the pop-up"
      stopAsking();
    }
  });
  group.append(question, yes, keep);
  return group;
}

function upsert(pr) {
  if (isNewer(pr, requests.get(pr.id))) requests.set(pr.id, pr);
}

socket.on("payment_requests", (all) => {
  // A (re)connect: the server's list is the truth. A payment that landed while we were disconnected gets its
  // pop-up now, since the once-only payment_received went out while nobody here was listening.
  for (const pr of all) {
    const before = requests.get(pr.id);
    upsert(pr);
    if (before && before.status !== "paid" && pr.status === "paid") showReceived(pr);
  }
  renderList();
});

socket.on("payment_request", (pr) => {
  upsert(pr);
  renderList();
});

// --- The pop-up -----------------------------------------------------------------------------------------

function showReceived(pr) {
  if (shownReceived.has(pr.id)) return;
  shownReceived.add(pr.id);
  const card = document.createElement("div");
  card.className = "cp-received";
  card.dataset.testid = "payment-received";
  card.dataset.id = pr.id;
  const title = document.createElement("h2");
  title.textContent = "Payment received";
  const amount = document.createElement("p");
  amount.className = "cp-received-amount";
  amount.textContent = pr.amount_display;
  const description = document.createElement("p");
  description.className = "cp-received-description";
  description.textContent = pr.description;
  const time = document.createElement("p");
  time.className = "cp-received-time";
  const when = document.createElement("time");
  when.dateTime = pr.paid_at ?? "";
  when.textContent = `Paid at ${formatTime(pr.paid_at)}`;
  time.append(when);
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.textContent = "Dismiss";
  dismiss.setAttribute("aria-label", `Dismiss: payment of ${pr.amount_display} received`);
  dismiss.addEventListener("click", () => {
    card.remove();
    submit.focus();
  });
  card.append(title, amount, description, time, dismiss);
  region.append(card);
}

socket.on("payment_received", (pr) => {
  upsert(pr);
  renderList();
  showReceived(pr);
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && region.lastElementChild) {
    region.lastElementChild.remove();
  }
});

// --- Asking for a payment -------------------------------------------------------------------------------

function showFieldError(field, message, { focus = true } = {}) {
  const box = $(`${field}-error`);
  const input = { amount: amountInput, description: descriptionInput }[field];
  if (!box || !input) return false;
  box.textContent = message;
  box.hidden = false;
  input.setAttribute("aria-invalid", "true");
  if (focus) input.focus();
  return true;
}

function clearErrors() {
  $("amount-confirm").hidden = true;
  $("amount-confirm").replaceChildren();
  for (const id of ["amount-error", "description-error", "form-error"]) {
    $(id).hidden = true;
    $(id).textContent = "";
  }
  amountInput.removeAttribute("aria-invalid");
  descriptionInput.removeAttribute("aria-invalid");
}

function showFormError(message) {
  $("form-error").textContent = message;
  $("form-error").hidden = false;
}

function newRef() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

for (const preset of document.querySelectorAll(".cp-preset")) {
  preset.addEventListener("click", () => {
    amountInput.value = preset.dataset.amount;
    pendingRef = null;
    descriptionInput.focus();
  });
}
for (const input of [amountInput, descriptionInput]) {
  input.addEventListener("input", () => {
    pendingRef = null; // different details make a different request
  });
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (submit.disabled) return;
  clearErrors();
  sendRequest(false);
});

// `confirm`: the clinician has said yes to the server's "Request A$800.00? That is more than A$500.00."
function sendRequest(confirm) {
  pendingRef ??= newRef();
  const body = { amount: amountInput.value.trim(), description: descriptionInput.value, client_ref: pendingRef };
  if (confirm) body.confirm = true;
  submit.disabled = true;
  submit.textContent = "Sending…";
  socket.timeout(ACK_TIMEOUT_MS).emit("request_payment", body, (err, ack) => {
    submit.disabled = false;
    submit.textContent = "Request payment";
    if (err) {
      // No answer: keep the same client_ref, so pressing again can't create a second request.
      showFormError("No answer from Callpay yet. Check your connection, then press Request payment again.");
      return;
    }
    if (!ack.ok && ack.error.code === "confirm_required") {
      askToConfirm($("amount-confirm"), ack.error.message, {
        onConfirm: () => sendRequest(true),
        onChange: () => amountInput.select(),
      });
      return;
    }
    if (!ack.ok) {
      // The server reads the amount in the clinic's locale and checks both fields, answering every problem at
      // once (`errors`); each goes beside its field, the first one focused.
      pendingRef = null;
      const problems = ack.error.errors ?? [ack.error];
      problems.forEach((problem, index) => {
        if (!(problem.field && showFieldError(problem.field, problem.message, { focus: index === 0 }))) {
          showFormError(problem.message);
        }
      });
      return;
    }
    pendingRef = null;
    upsert(ack.payment_request);
    renderList();
    form.reset();
    amountInput.focus();
  });
}

function cancelRequest(pr, ...buttons) {
  for (const button of buttons) button.disabled = true;
  socket.timeout(ACK_TIMEOUT_MS).emit("cancel_payment_request", { id: pr.id }, (err, ack) => {
    for (const button of buttons) button.disabled = false;
    if (err) return void showFormError("No answer from Callpay yet. Check your connection and try again.");
    if (!ack.ok) return void showFormError(ack.error.message);
    confirmingId = null;
    upsert(ack.payment_request);
    renderList();
    $("list-title").focus();
    announce(`Request for ${pr.amount_display} cancelled.`);
  });
}

setFormEnabled();
