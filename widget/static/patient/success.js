// The confirmation: what was paid, to whom, the receipt number, and the receipt's PDF.

import { api, request, ApiError } from "/static/session.js";
import { $, element, show, dateTimeOf } from "/widget/static/view.js";
import { state } from "/widget/static/patient/state.js";
import { saveTab } from "/widget/static/patient/tab.js";
import { teardownCard } from "/widget/static/patient/card.js";
import { announce, setView } from "/widget/static/patient/list.js";
import { successLead } from "/widget/static/patient/words.js";
import { itemLine } from "/widget/static/patient/pay_all.js";

const DOWNLOAD_FAILED = "The receipt couldn't be downloaded. Try again.";

export function showSuccess(requestId, { announceIt = true } = {}) {
  const pr = state.requests.get(requestId);
  if (!pr) return;
  state.paidSet = null;
  window.clearTimeout(state.emailTimer);
  teardownCard();
  state.checkout = null;
  state.preparing = null;
  state.busy = false;
  state.active = requestId;
  fillSuccess(pr);
  setView("success");
  $("pw-success-title").focus();
  if (announceIt) announce(`Payment successful. ${pr.amount_display} paid to ${$("clinic-name").textContent}.`);
  loadReceipt(pr.id);
}

// Several paid at once (Pay all): one confirmation, one receipt, listing each request with its amount.
export function showPaidSet({ ids, amountDisplay }) {
  const first = state.requests.get(ids[0]);
  if (!first) return;
  window.clearTimeout(state.emailTimer);
  teardownCard();
  state.checkout = null;
  state.preparing = null;
  state.busy = false;
  state.payAll = null;
  state.active = ids[0];
  state.paidSet = { ids, amountDisplay };
  fillSuccess(first);
  setView("success");
  $("pw-success-title").focus();
  announce(`Payment successful. ${amountDisplay} paid to ${$("clinic-name").textContent} for ${ids.length} payments.`);
  loadReceipt(first.id);
}

// What the confirmation lists: the receipt's items when it covers several, else (until it arrives) the set paid.
function paidItems(pr, receipt) {
  if (receipt && Array.isArray(receipt.items) && receipt.items.length > 1) {
    return receipt.items.map((item) => ({ description: item.description, amount: item.amount_display }));
  }
  if (!receipt && state.paidSet && state.paidSet.ids.length > 1 && state.paidSet.ids.includes(pr.id)) {
    return state.paidSet.ids.map((id) => state.requests.get(id))
      .filter(Boolean).map((one) => ({ description: one.description, amount: one.amount_display }));
  }
  return null;
}

// The receipt's own details (the clinic's business name and the receipt number), so the screen says what the
// PDF and the email say. Until it arrives, the page's clinic name and the request's fields stand in. Read once:
// neither changes after payment.
export async function loadReceipt(requestId) {
  if (state.receipts.has(requestId)) return;
  try {
    const receipt = await api(`/api/v1/payment-requests/${encodeURIComponent(requestId)}/receipt`);
    state.receipts.set(requestId, receipt);
    $("clinic-name").textContent = receipt.business_name;
    saveTab({ clinicName: receipt.business_name }); // a reload shows the name the receipt gives
    if (state.view === "success" && state.active === requestId) fillSuccess(state.requests.get(requestId));
  } catch {
    // Not receipted yet (still processing) or offline: the confirmation already shows what is known.
  }
}

export function fillSuccess(pr) {
  const receipt = state.receipts.get(pr.id);
  const clinic = receipt ? receipt.business_name : $("clinic-name").textContent;
  $("pw-success-clinic").textContent = clinic;
  $("pw-success-lead").textContent = successLead(pr, clinic);
  const items = paidItems(pr, receipt);
  const total = (items && receipt && receipt.amount_display) || (items && state.paidSet?.amountDisplay);
  $("pw-success-amount").textContent = total || pr.amount_display;
  $("pw-success-description").textContent = pr.description;
  show("pw-success-for-row", !items);
  show("pw-success-set", Boolean(items));
  $("pw-success-items").replaceChildren(...(items || []).map((item) => itemLine(item.description, item.amount)));
  $("pw-success-date").textContent = dateTimeOf(pr.paid_at);
  $("pw-success-receipt").textContent = (receipt && receipt.receipt_number) || pr.receipt_number || "On its way";
  const card = (receipt && receipt.card_display) || pr.card_display || "";
  $("pw-success-card").textContent = card;
  show("pw-success-card-row", Boolean(card));
  const email = state.receiptEmailFor.get(pr.id);
  $("pw-success-email").textContent = email ? `A receipt is on its way to ${email}.` : "";
  show("pw-download-error", false);
}

export async function downloadReceipt() {
  const requestId = state.active;
  const button = $("pw-download");
  button.disabled = true;
  show("pw-download-error", false);
  try {
    const response = await request(`/api/v1/payment-requests/${encodeURIComponent(requestId)}/receipt.pdf`, {
      accept: "application/pdf",
      fallback: DOWNLOAD_FAILED,
    });
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") || "";
    const name = (/filename="([^"]+)"/.exec(disposition) || [])[1] || "receipt.pdf";
    const url = URL.createObjectURL(blob);
    const link = element("a", { attrs: { href: url, download: name } });
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
    announce("Receipt downloaded.");
  } catch (error) {
    $("pw-download-error").textContent = error instanceof ApiError ? error.message : DOWNLOAD_FAILED;
    show("pw-download-error", true);
  }
  button.disabled = false;
}

