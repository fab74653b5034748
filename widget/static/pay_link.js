// The pay-later page: one link, paid once. It has no launch and no session: the token in the address is the
// authority. The card form, Stripe's error words and the look are the in-call widget's own modules (card.js,
// words.js, patient.css); the server owns every rule (the amount range, which emails it accepts, what may be paid)
// and this page shows its answers.

import { api, request, ApiError } from "/static/session.js";
import { $, element, show, dateTimeOf, announcer } from "/widget/static/view.js";
import { state } from "/widget/static/patient/state.js";
import {
  loadStripeJs, mountCard, teardownCard, focusCardFields, clearCardFields, setCardReadOnly, confirmCard,
} from "/widget/static/patient/card.js";
import { paymentErrorMessage, wantsAnotherCard } from "/widget/static/patient/words.js";

const announce = announcer("pw-status");
const token = decodeURIComponent(window.location.pathname.split("/").pop());
const base = `/api/v1/pay/${encodeURIComponent(token)}`;
const block = $("callpay-link");
const link = block ? JSON.parse(block.textContent) : null;
let typedAmount = null; // the amount the open checkout was made for (patient-chosen links)
let paidEmail = "";

function setFieldError(id, message) {
  const input = $(id);
  const error = $(`${id}-error`);
  if (!input || !error) return false;
  error.textContent = message || "";
  error.hidden = !message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  return true;
}

function setPaymentError(message) {
  $("pw-error").textContent = message || "";
  show("pw-error", Boolean(message));
}

function setBusy(busy, label) {
  state.busy = busy;
  $("pw-submit").disabled = busy;
  $("pw-email").disabled = busy;
  if ($("pl-amount")) $("pl-amount").disabled = busy;
  $("pw-form").setAttribute("aria-busy", busy ? "true" : "false");
  if (label) $("pw-submit").textContent = label;
  setCardReadOnly(busy);
}

// The link is over (expired, canceled) or paid meanwhile: reload, so the server's page says which.
function showGone() {
  window.location.reload();
}

function showError(error) {
  if (error instanceof ApiError && (error.code === "link_unavailable" || error.code === "link_paid")) {
    showGone();
    return;
  }
  const problems = error instanceof ApiError && error.errors ? error.errors : [error];
  let focused = false;
  for (const problem of problems) {
    const id = problem.field === "amount" ? "pl-amount" : problem.field === "email" ? "pw-email" : null;
    if (id && setFieldError(id, problem.message)) {
      if (!focused) $(id).focus();
      focused = true;
    } else {
      setPaymentError(problem.message || "Something went wrong. Please try again.");
    }
  }
}

function leaveCard() {
  teardownCard();
  state.checkout = null;
  show("pw-card", false);
  $("pw-submit").textContent = "Continue";
}

async function prepare() {
  const body = { email: $("pw-email").value.trim() };
  if ($("pl-amount")) body.amount = $("pl-amount").value.trim();
  show("pw-card-loading", true);
  try {
    const data = await api(`${base}/checkout`, { method: "POST", body });
    const StripeJs = await loadStripeJs(data.stripe_js_url).catch(() => {
      throw new ApiError(0, { code: "stripe_js", message: "We couldn't load the secure card form. Try again." });
    });
    state.checkout = mountCard(StripeJs, data, { requestId: link.payment_request, email: body.email });
    typedAmount = body.amount ?? null;
    show("pw-card", true);
    $("pw-submit").textContent = link.amount_display && link.amount !== null ? `Pay ${link.amount_display}` : "Pay";
    state.checkout.element.once("ready", () => {
      focusCardFields();
      announce("Enter your card details, then press Pay.");
    });
  } catch (error) {
    showError(error);
  } finally {
    show("pw-card-loading", false);
  }
}

async function pay() {
  if (state.busy) return;
  setPaymentError(null);
  setFieldError("pw-email", null);
  setFieldError("pl-amount", null);
  const amountNow = $("pl-amount") ? $("pl-amount").value.trim() : null;
  if (state.checkout && (amountNow !== typedAmount || $("pw-email").value.trim() !== state.checkout.email)) {
    leaveCard(); // another amount or address: the server makes the checkout again
  }
  if (!state.checkout) {
    setBusy(true);
    try {
      await prepare();
    } finally {
      setBusy(false);
    }
    return;
  }
  const checkout = state.checkout;
  setBusy(true, "Paying…");
  announce("Paying. Please wait.");
  let declined = false;
  let done = false;
  try {
    const error = await confirmCard(checkout);
    if (error) {
      setPaymentError(paymentErrorMessage(error));
      declined = wantsAnotherCard(error);
      return;
    }
    paidEmail = checkout.email;
    const pr = await api(`${base}/confirmation`, { method: "POST" });
    if (pr.receipt_available) {
      done = true;
      showSuccess(pr);
    } else {
      announce("Your payment is being processed. This page updates when it's done.");
      waitForPayment();
    }
  } catch (error) {
    showError(error);
  } finally {
    if (!done) {
      setBusy(false, "Pay");
      if (declined) clearCardFields();
    }
  }
}

// A payment Stripe is still processing: ask again now and then until it lands.
async function waitForPayment() {
  for (let i = 0; i < 30; i += 1) {
    await new Promise((resolve) => window.setTimeout(resolve, 2000));
    const pr = await api(`${base}/confirmation`, { method: "POST" }).catch(() => null);
    if (pr && pr.receipt_available) {
      showSuccess(pr);
      return;
    }
  }
}

function showSuccess(pr) {
  teardownCard();
  state.checkout = null;
  show("pw-checkout", false);
  $("pw-success-amount").textContent = pr.amount_display;
  $("pw-success-description").textContent = pr.description;
  $("pw-success-date").textContent = dateTimeOf(pr.paid_at);
  $("pw-success-receipt").textContent = pr.receipt_number || "On its way";
  $("pw-success-card").textContent = pr.card_display || "";
  show("pw-success-card-row", Boolean(pr.card_display));
  $("pw-success-email").textContent = paidEmail ? `A receipt is on its way to ${paidEmail}.` : "";
  show("pw-success", true);
  $("pw-success-title").focus();
  announce(`Payment successful. ${pr.amount_display} paid to ${$("clinic-name").textContent}.`);
}

async function downloadReceipt(button, errorId) {
  button.disabled = true;
  show(errorId, false);
  try {
    const response = await request(`${base}/receipt.pdf`, {
      accept: "application/pdf", fallback: "The receipt couldn't be downloaded. Try again.",
    });
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") || "";
    const name = (/filename="([^"]+)"/.exec(disposition) || [])[1] || "receipt.pdf";
    const url = URL.createObjectURL(blob);
    const anchor = element("a", { attrs: { href: url, download: name } });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
    announce("Receipt downloaded.");
  } catch (error) {
    $(errorId).textContent = error.message;
    show(errorId, true);
  }
  button.disabled = false;
}

function start() {
  const paidDownload = $("pl-paid-download");
  if (paidDownload) paidDownload.addEventListener("click", () => downloadReceipt(paidDownload, "pl-paid-download-error"));
  if (!link) return;
  $("pw-form").addEventListener("submit", (event) => {
    event.preventDefault();
    pay();
  });
  $("pw-download").addEventListener("click", () => downloadReceipt($("pw-download"), "pw-download-error"));
  ($("pl-amount") || $("pw-email")).focus();
}

start();
