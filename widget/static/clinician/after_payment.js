// After a payment, on its row in the call's list: open the receipt, send it again, and refund it (right after a
// mistaken charge). Who may refund is the server's rule: the panel only shows Refund when the server said so, and
// the server checks again. Amounts are typed as people write them and read by the server.

import { api, request } from "/static/session.js";
import { element } from "/widget/static/view.js";

const config = JSON.parse(document.getElementById("panel-config").textContent);
const canRefund = Boolean(config.refunds?.allowed);
let openRefund = null; // the request whose refund form is open: the list is redrawn often, so remember it
const typed = new Map(); // what was typed in an open form, kept across redraws
const busy = new Set();
let rerender = () => {};
let say = () => {};

export function onAfterPayment({ render, announce }) {
  rerender = render;
  say = announce;
}

export function startRefund(id) {
  if (!canRefund) return;
  openRefund = id;
  rerender();
  document.querySelector(`[data-id="${CSS.escape(id)}"] [data-action="refund-amount"]`)?.focus();
}

function newRef() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

function button(text, action, label, className = "secondary") {
  const node = element("button", { className, text, attrs: { type: "button", "aria-label": label } });
  node.dataset.action = action;
  return node;
}

async function downloadReceipt(pr) {
  const response = await request(`/api/v1/payment-requests/${encodeURIComponent(pr.id)}/receipt.pdf`, {
    accept: "application/pdf",
  });
  const url = URL.createObjectURL(await response.blob());
  const link = element("a", { attrs: { href: url, download: `receipt-${pr.receipt_number ?? pr.id}.pdf` } });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function renderAfterPayment(pr) {
  const box = element("div", { className: "cp-request-actions cp-after-payment" });
  if (!pr.receipt_available) return box;
  const what = `${pr.amount_display}, ${pr.description}`;
  const receiptText = `Receipt ${pr.receipt_number ?? ""}`.trim();
  const receipt = button(receiptText, "receipt", `${receiptText} (download) for ${what}`);
  receipt.addEventListener("click", () => downloadReceipt(pr).catch((err) => say(err.message)));
  const resend = button("Resend receipt", "resend", `Resend receipt for ${what} to the patient`);
  resend.dataset.testid = "resend-receipt";
  resend.addEventListener("click", async () => {
    resend.disabled = true;
    try {
      const answer = await api(`/api/v1/payment-requests/${encodeURIComponent(pr.id)}/receipt/resend`, {
        method: "POST",
        body: {},
      });
      say(`Receipt sent again to ${answer.email}.`);
    } catch (err) {
      say(err.message);
    } finally {
      resend.disabled = false;
    }
  });
  box.append(receipt, resend);
  if (canRefund && pr.refundable) {
    if (openRefund === pr.id) {
      box.append(renderRefundForm(pr));
    } else {
      const refund = button("Refund", "refund", `Refund ${what}`);
      refund.dataset.testid = "refund-open";
      refund.addEventListener("click", () => startRefund(pr.id));
      box.append(refund);
    }
  }
  return box;
}

function renderRefundForm(pr) {
  const form = element("form", { className: "cp-refund", attrs: { novalidate: "" } });
  const state = typed.get(pr.id) ?? { amount: "", reason: "", ref: null };
  typed.set(pr.id, state);
  const amountId = `refund-amount-${pr.id}`;
  const reasonId = `refund-reason-${pr.id}`;
  const errorId = `refund-error-${pr.id}`;
  const amountLabel = element("label", { text: "Amount to refund", attrs: { for: amountId } });
  const hint = element("p", { className: "muted cp-hint", text: "Leave it empty to refund all that is left." });
  hint.id = `refund-hint-${pr.id}`;
  const amount = element("input", {
    attrs: { id: amountId, inputmode: "decimal", autocomplete: "off", "aria-describedby": `${hint.id} ${errorId}`,
      "data-testid": "refund-amount" },
  });
  amount.dataset.action = "refund-amount";
  amount.value = state.amount;
  const reasonLabel = element("label", { text: "Reason (the patient sees it)", attrs: { for: reasonId } });
  const reason = element("input", {
    attrs: { id: reasonId, maxlength: "500", autocomplete: "off", "data-testid": "refund-reason" },
  });
  reason.value = state.reason;
  const error = element("p", { className: "notice bad", attrs: { role: "alert", "data-testid": "refund-error" } });
  error.id = errorId;
  error.hidden = true;
  for (const [input, key] of [[amount, "amount"], [reason, "reason"]]) {
    input.addEventListener("input", () => {
      state[key] = input.value;
      state.ref = null; // different details make a different refund
    });
  }
  const submit = button("Refund", "refund-submit", `Refund ${pr.amount_display}, ${pr.description}`, "danger");
  submit.type = "submit";
  submit.dataset.testid = "refund-submit";
  const keep = button("Don't refund", "refund-keep", "Close the refund without refunding");
  keep.addEventListener("click", () => {
    openRefund = null;
    typed.delete(pr.id);
    rerender();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy.has(pr.id)) return;
    busy.add(pr.id);
    submit.disabled = true;
    state.ref ??= newRef(); // a retry after no answer reuses it: Stripe refunds once
    const body = { client_ref: state.ref };
    if (state.amount.trim()) body.amount = state.amount.trim();
    if (state.reason.trim()) body.reason = state.reason.trim();
    try {
      const answer = await api(`/api/v1/payment-requests/${encodeURIComponent(pr.id)}/refunds`, {
        method: "POST",
        body,
      });
      openRefund = null;
      typed.delete(pr.id);
      say(answer.refund.status === "failed"
        ? `The refund failed: ${answer.refund.failure_message ?? ""}`
        : `Refund of ${answer.refund.amount_display} made.`);
      rerender();
    } catch (err) {
      if (err.code !== "network") state.ref = null;
      error.textContent = err.message;
      error.hidden = false;
      amount.focus();
    } finally {
      busy.delete(pr.id);
      submit.disabled = false;
    }
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      keep.click();
    }
  });
  form.append(amountLabel, hint, amount, reasonLabel, reason, error, submit, keep);
  return form;
}
