// Paying one request: the email for the receipt, then the card in Stripe's Payment Element on the clinic's own
// Stripe account, confirmed with Stripe.js; then the server checks the result with Stripe, so the clinician's
// pop-up never waits for a webhook. The server owns the rules (which emails it accepts, what may be paid): the page
// asks it and shows its answer.

import { api, ApiError } from "/static/session.js";
import { $, show } from "/widget/static/view.js";
import { isPayable, isPayableBy, hasReceipt } from "/widget/static/requests.js";
import { state, remember, PAY_ALL } from "/widget/static/patient/state.js";
import { forgetTab } from "/widget/static/patient/tab.js";
import {
  loadStripeJs, mountCard, teardownCard, focusCardFields, clearCardFields, setCardReadOnly, confirmCard,
} from "/widget/static/patient/card.js";
import {
  announce, setView, setAvailability, leaveCanceled, showConnection, backToList, me,
} from "/widget/static/patient/list.js";
import { startPaying, sayPaying, keepPaying } from "/widget/static/patient/paying.js";
import { showSuccess, showPaidSet } from "/widget/static/patient/success.js";
import { isHeld, leaveHeld } from "/widget/static/patient/held.js";
import {
  SESSION_ENDED, paymentErrorMessage, wantsAnotherCard, setChangedWords,
} from "/widget/static/patient/words.js";
import {
  callCheckoutPath, offersPayAll, payingAmount, applySetChanged, itemLine, fetchOffer,
} from "/widget/static/patient/pay_all.js";

const checkoutPath = (requestId) => `/api/v1/payment-requests/${encodeURIComponent(requestId)}/checkout`;

export function startCheckout(requestId) {
  const pr = state.requests.get(requestId);
  if (!isPayableBy(pr, me()) || !state.paymentsAvailable || state.busy) return;
  leaveCard();
  state.active = requestId;
  state.payAll = null;
  startPaying(requestId);
  $("pw-checkout-amount").textContent = pr.amount_display;
  $("pw-checkout-description").textContent = pr.description;
  show("pw-checkout-items", false);
  openForm();
  announce(`Pay ${pr.amount_display} for ${pr.description}. Enter your email address for the receipt.`);
  if (looksComplete()) prepareCard({ focusCard: false, quiet: true });
}

// Pay all: the requests the server offers this patient now, with one card payment for their sum.
export function startPayAll() {
  const offer = state.offer;
  if (!offersPayAll() || !state.paymentsAvailable || state.busy) return;
  leaveCard();
  state.active = PAY_ALL;
  state.payAll = { ids: [...offer.payment_requests], amountDisplay: offer.amount_display };
  startPaying(PAY_ALL, state.payAll.ids);
  fillSet();
  show("pw-changed", false);
  openForm();
  announce(`Pay ${offer.amount_display} for ${offer.count} payments together. Enter your email address for the receipt.`);
  if (looksComplete()) prepareCard({ focusCard: false, quiet: true });
}

// The set's heading and its list: each request with its amount, as the receipt will list them.
function fillSet() {
  const { ids, amountDisplay } = state.payAll;
  $("pw-checkout-amount").textContent = amountDisplay;
  $("pw-checkout-description").textContent = ids.length === 1 ? "1 payment:" : `${ids.length} payments together:`;
  const list = $("pw-checkout-items");
  list.replaceChildren(...ids.map((id) => {
    const pr = state.requests.get(id);
    return itemLine(pr ? pr.description : "A payment request", pr ? pr.amount_display : "");
  }));
  show("pw-checkout-items", true);
}

function openForm() {
  $("pw-email").value = state.lastEmail;
  $("pw-email").disabled = false;
  setEmailError(null);
  setPaymentError(null);
  show("pw-card", false);
  show("pw-card-loading", false);
  $("pw-submit").textContent = "Continue";
  $("pw-submit").disabled = false;
  $("pw-back").disabled = false;
  show("pw-changed", false);
  setView("checkout");
  $("pw-email").focus();
}

function leaveCard() {
  window.clearTimeout(state.emailTimer);
  state.focusCardWhenReady = false;
  teardownCard();
  state.checkout = null;
  state.preparing = null;
}

// Whether the address is worth sending yet: the browser's own reading of an email field (the server decides
// whether it accepts it).
function looksComplete() {
  const input = $("pw-email");
  return input.value.trim() !== "" && input.checkValidity();
}

function setEmailError(message) {
  const input = $("pw-email");
  $("pw-email-error").textContent = message || "";
  show("pw-email-error", Boolean(message));
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function setPaymentError(message) {
  $("pw-error").textContent = message || "";
  show("pw-error", Boolean(message));
}

function setBusy(busy, label) {
  state.busy = busy;
  $("pw-submit").disabled = busy;
  $("pw-back").disabled = busy;
  $("pw-email").disabled = busy;
  $("pw-form").setAttribute("aria-busy", busy ? "true" : "false");
  if (label) $("pw-submit").textContent = label;
  setCardReadOnly(busy);
}

// The server refused the email: say why, on the field. `quiet` while the patient may still be typing.
function emailRefused(error, { focus, quiet }) {
  if (!(error instanceof ApiError && error.field === "email")) return false;
  if (!quiet) setEmailError(error.message);
  if (focus) $("pw-email").focus();
  return true;
}

// Start (or reuse) the PaymentIntent for the active request and show the card fields.
export function prepareCard({ focusCard, quiet = false }) {
  const requestId = state.active;
  const email = $("pw-email").value.trim();
  if (state.checkout && state.checkout.requestId === requestId) {
    if (focusCard) focusCardFields();
    return Promise.resolve(state.checkout);
  }
  // Typing may already have started one (quietly, without focus); a Continue press or leaving the field meanwhile
  // still gets the focus move and hears what the server said.
  if (focusCard) state.focusCardWhenReady = true;
  if (!quiet || focusCard) state.preparingLoud = true;
  if (state.preparing) return state.preparing;
  if (quiet && !focusCard) state.preparingLoud = false;
  show("pw-card-loading", true);
  const preparing = (async () => {
    try {
      // The name for the receipt is optional; left empty, the receipt uses the name the platform knows.
      const name = document.getElementById("pw-name")?.value.trim() || undefined;
      const data = await startIntent(requestId, { email, name });
      let StripeJs;
      try {
        StripeJs = await loadStripeJs(data.stripe_js_url);
      } catch {
        throw new ApiError(0, {
          code: "stripe_js",
          message: "We couldn't load the secure card form. Check your connection and try again.",
        });
      }
      if (state.active !== requestId || state.view !== "checkout") return null; // the patient moved on meanwhile
      const checkout = mountCard(StripeJs, data, { requestId, email });
      state.checkout = checkout;
      state.lastEmail = email;
      show("pw-card", true);
      show("pw-card-loading", false);
      $("pw-submit").textContent = `Pay ${payingAmount()}`;
      checkout.element.once("ready", () => {
        if (state.focusCardWhenReady && state.checkout === checkout) {
          state.focusCardWhenReady = false;
          focusCardFields();
          announce("Enter your card details, then press Pay.");
        } else {
          announce("The card form is ready below your email address.");
        }
      });
      return checkout;
    } catch (error) {
      show("pw-card-loading", false);
      const heard = state.preparingLoud;
      if (!emailRefused(error, { focus: state.focusCardWhenReady, quiet: !heard })) handleApiError(error);
      state.focusCardWhenReady = false;
      return null;
    } finally {
      if (state.preparing === preparing) state.preparing = null;
    }
  })();
  state.preparing = preparing;
  return preparing;
}

// The PaymentIntent for what is being paid: one request's, or (Pay all) the set's, which the server checks again
// each time it is asked: a request cancelled since is answered 409 set_changed.
function startIntent(requestId, body) {
  if (requestId === PAY_ALL) {
    return api(callCheckoutPath(), { method: "POST", body: { ...body, payment_requests: state.payAll.ids } });
  }
  return api(checkoutPath(requestId), { method: "POST", body });
}

// The set changed while the patient was paying it: say what and the new total, in the server's words, and pay the
// rest with the same card form (the server made the payment the rest at Stripe). Nothing left: back to the list.
function setChanged(error) {
  state.busy = false;
  if (!applySetChanged(error)) {
    backToList(null);
    announce(error.message);
    showConnection(error.message, "");
    return;
  }
  keepPaying(state.payAll.ids);
  fillSet();
  $("pw-changed").textContent = error.message;
  show("pw-changed", true);
  if (state.checkout) {
    $("pw-submit").textContent = `Pay ${payingAmount()}`;
    state.checkout.elements.fetchUpdates?.();
  }
}

// A request of the set changed while the card form is open: ask the server again now (with the address it already
// took), so the patient sees the new total before pressing Pay. Before that, Continue asks it anyway.
// Before the card form (no payment for the set yet), the set is what is still payable, and the new total the
// server's offer for just those.
let rechecking = false;
export async function recheckPayAll() {
  const checkout = state.checkout;
  if (rechecking || state.busy || state.active !== PAY_ALL || !state.payAll) return;
  rechecking = true;
  try {
    if (checkout) await startIntent(PAY_ALL, { email: checkout.email });
    else await dropLost();
  } catch (error) {
    if (state.active === PAY_ALL && !state.busy) handleApiError(error);
  } finally {
    rechecking = false;
  }
}

async function dropLost() {
  const lost = state.payAll.ids.map((id) => state.requests.get(id)).filter((pr) => pr && !isPayable(pr));
  if (lost.length === 0) return;
  const rest = state.payAll.ids.filter((id) => !lost.some((pr) => pr.id === id));
  const offer = await fetchOffer();
  if (state.active !== PAY_ALL || state.checkout || !state.payAll) return; // moved on meanwhile
  const offered = offer.payment_requests;
  const sameSet = offered.length === rest.length && rest.every((id) => offered.includes(id));
  if (rest.length > 0 && !sameSet) return; // the call changed more than that: Continue asks the server
  const total = rest.length > 0 ? offer.amount_display : null;
  setChanged({ message: setChangedWords(lost, total), details: { remaining: rest, amount_display: total } });
}

function handleApiError(error) {
  if (error instanceof ApiError && error.code === "set_changed" && state.active === PAY_ALL) {
    setChanged(error);
    return;
  }
  if (error instanceof ApiError && error.code === "payments_unavailable") {
    // The clinic stopped taking card payments since the page last heard, and nothing was charged: go back to the
    // list, which says so where Pay now was.
    state.busy = false;
    setAvailability({ payments_available: false, reason: error.message });
    return;
  }
  if (error instanceof ApiError && error.code === "request_canceled") {
    state.busy = false;
    leaveCanceled(state.active);
    return;
  }
  const message = error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
  if (error instanceof ApiError && error.status === 401) {
    forgetTab(); // the session is over: a reload must not try it again
    showConnection(SESSION_ENDED, "bad");
  }
  setPaymentError(message);
}

// The form's one button: "Continue" opens the card fields, then "Pay A$…" pays.
export async function pay() {
  if (state.busy) return; // a second click while paying does nothing
  const email = $("pw-email").value.trim();
  setEmailError(null);
  setPaymentError(null);
  const requestId = state.active;
  if (!state.checkout || state.checkout.requestId !== requestId) {
    setBusy(true);
    try {
      await prepareCard({ focusCard: true });
    } finally {
      setBusy(false);
    }
    return;
  }
  const checkout = state.checkout;
  const paysSet = requestId === PAY_ALL;
  setBusy(true, "Paying…");
  announce("Paying. Please wait.");
  let paid = false;
  let declined = false;
  try {
    if (paysSet) {
      // Right before the card is confirmed, the server checks the set again (and takes a new receipt address).
      const fresh = await startIntent(requestId, { email });
      checkout.email = email;
      state.lastEmail = email;
      if (fresh.client_secret !== checkout.clientSecret) {
        // A new payment for the set (the old one ended meanwhile): the card form is made again for it.
        leaveCard();
        setBusy(false);
        await prepareCard({ focusCard: true });
        return;
      }
      show("pw-changed", false);
    } else if (email !== checkout.email) {
      // Same request, same PaymentIntent: only the receipt address changes (and the server checks it first).
      await api(checkoutPath(requestId), { method: "POST", body: { email } });
      checkout.email = email;
      state.lastEmail = email;
    }
    for (const id of paysSet ? state.payAll.ids : [requestId]) sayPaying(id, "confirming");
    const error = await confirmCard(checkout);
    if (error) {
      setPaymentError(paymentErrorMessage(error));
      declined = wantsAnotherCard(error);
      // Still here, card form open for another try (a decline ends "paying" on the server: say it again).
      if (state.view === "checkout" && state.active === requestId) {
        for (const id of paysSet ? state.payAll.ids : [requestId]) sayPaying(id, "checkout");
      }
      return;
    }
    paid = true;
    const ids = paysSet ? [...state.payAll.ids] : [requestId];
    for (const id of ids) state.receiptEmailFor.set(id, email);
    remember();
    const confirmed = await reportConfirmation(ids[0]);
    if (paysSet && hasReceipt(confirmed)) {
      // The set's requests are paid in one go: the confirmation lists each.
      showPaidSet({ ids, amountDisplay: state.payAll.amountDisplay });
    } else if (hasReceipt(confirmed)) {
      showSuccess(requestId);
    } else if (isHeld(confirmed)) {
      leaveHeld(confirmed);
    } else {
      announce("Your payment is being processed. This page updates when it's done.");
      $("pw-submit").textContent = "Processing…";
    }
  } catch (error) {
    if (paid) {
      // Stripe took the payment; the server hears of it from Stripe too and tells this page over the socket.
      announce("Your payment went through. We're confirming it with the clinic…");
    } else if (!emailRefused(error, { focus: true, quiet: false })) {
      handleApiError(error);
    }
  } finally {
    if (state.view === "checkout" && state.active === requestId) {
      const first = paysSet ? state.payAll?.ids[0] : requestId;
      const waiting = paid && !hasReceipt(state.requests.get(first));
      setBusy(waiting, waiting ? "Processing…" : `Pay ${payingAmount()}`);
      if (declined) clearCardFields();
      else if (!waiting && !$("pw-error").hidden) focusCardFields();
      else if (!waiting && !$("pw-changed").hidden) $("pw-submit").focus(); // pay the new total, or go back
    }
  }
}

async function reportConfirmation(requestId) {
  const path = `/api/v1/payment-requests/${encodeURIComponent(requestId)}/confirmation`;
  const confirmed = await api(path, { method: "POST" });
  if (confirmed && confirmed.id) state.requests.set(confirmed.id, confirmed);
  return confirmed;
}

// The patient types their email: the card fields open by themselves once it looks complete, without taking the
// patient's focus away; a problem is said when they leave the field or press Continue.
export function wireEmailField() {
  const input = $("pw-email");
  input.addEventListener("input", () => {
    setEmailError(null);
    remember();
    window.clearTimeout(state.emailTimer);
    if (!state.checkout && looksComplete()) {
      state.emailTimer = window.setTimeout(() => prepareCard({ focusCard: false, quiet: true }), 600);
    }
  });
  input.addEventListener("change", () => {
    if (input.value.trim() && !state.checkout) prepareCard({ focusCard: false });
  });
}
