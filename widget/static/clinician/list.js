// The requests in this call as the clinician sees them, newest first, with Cancel (which asks first).

import { $, element, announcer, timeOf } from "/widget/static/view.js";
import { isCancelable, isNewer, newestFirst, payingNow } from "/widget/static/requests.js";
import { holdMeta, renderHoldActions } from "/widget/static/clinician/holds.js";
import { payerMeta, payingWords, watchLapses } from "/widget/static/clinician/payer.js";
import { renderAfterPayment } from "/widget/static/clinician/after_payment.js";

const STATUS_WORDS = {
  requested: "Waiting for the patient",
  processing: "Processing",
  authorized: "Card held — not charged yet",
  paid: "Paid",
  failed: "Payment failed — the patient can try again",
  canceled: "Cancelled",
  refunded: "Refunded",
  partially_refunded: "Partly refunded",
};

export const announce = announcer("announcer");
export const requests = new Map(); // id → PaymentRequest, newest copy wins
let confirmingId = null; // the request whose "Cancel this request?" is open
let cancel = async () => {}; // how a confirmed cancel reaches the server; clinician.js sets it
let itemExtra = () => null; // more for an item (its pay-later link, Send link); clinician.js sets it

export function onItemExtra(handler) {
  itemExtra = handler;
}

export function onCancel(handler) {
  cancel = handler;
}

export function upsert(pr) {
  if (isNewer(pr, requests.get(pr.id))) requests.set(pr.id, pr);
}

export function renderList() {
  const list = $("requests");
  const items = newestFirst(requests.values());
  if (confirmingId && !isCancelable(requests.get(confirmingId))) confirmingId = null;
  // The list is rebuilt on every change: put the keyboard back on the same button in the new copy.
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const refocus = focused && focused.closest("[data-id]") && focused.dataset.action
    ? { id: focused.closest("[data-id]").dataset.id, action: focused.dataset.action }
    : null;
  $("empty").hidden = items.length > 0;
  list.replaceChildren(...items.map(renderItem));
  if (refocus) focusAction(refocus.id, refocus.action);
  watchLapses(items, renderList);
}

function focusAction(id, action) {
  const item = [...$("requests").children].find((node) => node.dataset.id === id);
  item?.querySelector(`[data-action="${action}"]`)?.focus();
}

// A request split into an instalment plan is cancelled in the lifecycle, but nothing was called off: say what happened.
function statusLabel(pr) {
  if (pr.status === "canceled" && pr.replaced_by_plan) return "Split into instalments";
  return STATUS_WORDS[pr.status] ?? pr.status;
}

function renderItem(pr) {
  const item = element("li", { className: "cp-request" });
  item.dataset.id = pr.id;
  item.dataset.status = pr.status;
  const paying = payingWords(pr);
  item.dataset.paying = paying ? pr.paying.step : "";
  const status = paying
    ? element("span", { className: "cp-status cp-status-paying", text: "Paying now", attrs: { "data-testid": "request-paying" } })
    : element("span", { className: `cp-status cp-status-${pr.status}`, text: statusLabel(pr) });
  item.append(
    element("span", { className: "cp-request-amount", text: pr.amount_display }),
    status,
    element("span", { className: "cp-request-description", text: pr.description }),
  );
  if (paying) item.append(element("span", { className: "cp-request-paying", text: paying }));
  const parts = [`Requested ${timeOf(pr.created_at)}`];
  const payer = payerMeta(pr);
  if (payer) parts.push(payer);
  if (pr.paid_at) parts.push(`paid ${timeOf(pr.paid_at)}`);
  if (pr.receipt_number) parts.push(`receipt ${pr.receipt_number}`);
  if (pr.card_display) parts.push(pr.card_display);
  const held = holdMeta(pr);
  if (held) parts.push(held);
  item.append(element("span", { className: "cp-request-meta", text: parts.join(" · ") }));
  if (pr.capturable) item.append(renderHoldActions(pr));
  if (isCancelable(pr)) item.append(pr.id === confirmingId ? renderConfirm(pr) : renderCancel(pr));
  if (pr.receipt_available) item.append(renderAfterPayment(pr));
  const extra = itemExtra(pr);
  if (extra) item.append(extra);
  return item;
}

function actionButton(text, action, className, label) {
  const button = element("button", { className, text, attrs: { type: "button", "aria-label": label } });
  button.dataset.action = action;
  return button;
}

function renderCancel(pr) {
  const actions = element("div", { className: "cp-request-actions" });
  const what = `${pr.amount_display}, ${pr.description}`;
  const button = actionButton("Cancel request", "cancel", "secondary", `Cancel request for ${what}`);
  button.addEventListener("click", () => {
    // One click only asks: a misclick mid-call mustn't take the request away from the patient.
    confirmingId = pr.id;
    renderList();
    focusAction(pr.id, "keep");
  });
  actions.append(button);
  return actions;
}

function renderConfirm(pr) {
  const group = element("div", { className: "cp-confirm", attrs: { role: "group" } });
  // Someone is paying it right now: asked again, in words that say so and what a cancel does to their payment.
  const paying = payingNow(pr);
  const question = element("p", {
    className: "cp-confirm-question",
    text: paying ? `${pr.paying.by.name} is paying right now. Cancel anyway?` : "Cancel this request?",
  });
  question.id = `confirm-${pr.id}`;
  group.setAttribute("aria-labelledby", question.id);
  const what = `${pr.amount_display}, ${pr.description}`;
  const yes = actionButton(
    paying ? "Yes, cancel anyway" : "Yes, cancel",
    "confirm-cancel",
    "danger",
    paying ? `Yes, cancel anyway the request for ${what}` : `Yes, cancel the request for ${what}`,
  );
  const keep = actionButton("Keep it", "keep", "secondary", `Keep it: don't cancel the request for ${what}`);
  const stopAsking = () => {
    confirmingId = null;
    renderList();
    focusAction(pr.id, "cancel");
  };
  yes.addEventListener("click", async () => {
    yes.disabled = keep.disabled = true;
    const done = await cancel(pr);
    yes.disabled = keep.disabled = false;
    if (!done) return;
    confirmingId = null;
    renderList();
    $("list-title").focus();
    announce(`Request for ${pr.amount_display} cancelled.`);
  });
  keep.addEventListener("click", stopAsking);
  group.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation(); // Escape here means "keep it", not "dismiss the pop-up"
      stopAsking();
    }
  });
  group.append(question);
  if (paying) {
    const note = element("p", {
      className: "muted cp-hint cp-confirm-note",
      text: "Their card won't be charged. If the payment has already gone through, it stays paid.",
    });
    note.id = `confirm-note-${pr.id}`;
    group.setAttribute("aria-describedby", note.id);
    group.append(note);
  }
  group.append(yes, keep);
  return group;
}
