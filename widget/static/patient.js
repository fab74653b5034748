// The patient's payment widget: the call's payment requests arrive live over Socket.IO; Pay now takes an email for
// the receipt and the card in Stripe's Payment Element (on the clinic's own Stripe account), confirms with
// Stripe.js, and asks the server to check the result with Stripe, so the clinician's pop-up never waits for a webhook.
//
// Everything shown is built with textContent: request descriptions come from clinicians and are never HTML.

import { session, api, request, ApiError } from "/static/session.js";
import { io } from "/widget/static/vendor/socket.io-client/socket.io.esm.min.js";

const $ = (id) => document.getElementById(id);
// What may be done with a request is the server's lifecycle's to say (the request's flags), never derived here.
const payable = (pr) => Boolean(pr && pr.payable);
const receipted = (pr) => Boolean(pr && pr.receipt_available);
// The same rule the server applies; the server checks again, this only saves a round trip.
const EMAIL = /^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$/;
const EMAIL_IDLE_MS = 600;
const STATUS_WORDS = {
  requested: "Waiting for payment",
  processing: "Processing your payment…",
  paid: "Paid",
  failed: "Not paid yet — the last attempt didn't go through",
  canceled: "Cancelled by your clinician",
  refunded: "Refunded",
  partially_refunded: "Paid, partly refunded",
};
// What an open request says while the clinic can't take card payments; the notice above the list says why.
const NOT_PAYABLE_NOW = "Can't be paid by card right now";
const UNAVAILABLE_FALLBACK = "The clinic can't take card payments right now. Your clinician will tell you how to pay.";
const SESSION_ENDED = "Your session has ended. Close this and open it again from the video call.";
const CARD_BRANDS = {
  visa: "Visa", mastercard: "Mastercard", amex: "American Express", discover: "Discover", diners: "Diners Club",
  jcb: "JCB", unionpay: "UnionPay", eftpos_au: "eftpos",
};

const state = {
  requests: new Map(), // id -> PaymentRequest JSON
  loaded: false, // the first snapshot has arrived
  view: "list", // list | checkout | success
  active: null, // the request being paid, or whose confirmation is shown
  checkout: null, // {requestId, email, clientSecret, stripe, elements, element, ready}
  preparing: null, // the promise of a checkout being prepared
  focusCardWhenReady: false, // the patient pressed Continue: put them in the card fields once they're there
  busy: false, // a payment is in flight: nothing may start another
  emailTimer: null,
  lastEmail: "", // kept in memory only, so a second payment in the same call needs no retyping
  receiptEmailFor: new Map(), // request id -> the email this page sent its receipt to
  receipts: new Map(), // request id -> the receipt as the server words it (business name, number)
  paymentsAvailable: true, // whether the clinic can take card payments now, as the server last said
  unavailableReason: "", // the server's words for a patient when it can't
};

// --- Small helpers -----------------------------------------------------------------------------------------------

function announce(text) {
  const region = $("pw-status");
  region.textContent = "";
  // A fresh node each time makes screen readers read repeated messages too.
  window.setTimeout(() => { region.textContent = text; }, 50);
}

function show(id, visible) {
  $(id).hidden = !visible;
}

function element(tag, { className, text, attrs } = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  return node;
}

function cardOf(pr) {
  if (!pr.card_last4) return null;
  const brand = CARD_BRANDS[(pr.card_brand || "").toLowerCase()] || pr.card_brand || "Card";
  return `${brand} ending in ${pr.card_last4}`;
}

// Day, month, year, as the receipt writes it ("22 November 2026, 2:58 pm"), in the page's language (en-AU).
const DATE_FORMAT = new Intl.DateTimeFormat(document.documentElement.lang || "en-AU", {
  day: "numeric", month: "long", year: "numeric", hour: "numeric", minute: "2-digit",
});

function dateOf(iso) {
  if (!iso) return "";
  return DATE_FORMAT.format(new Date(iso));
}

function sorted() {
  return [...state.requests.values()].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
}

// --- Stripe's messages in plain words ----------------------------------------------------------------------------

function lowerFirst(text) {
  return text ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

export function paymentErrorMessage(error) {
  if (!error) return "Payment failed. Please try again.";
  if (error.type === "validation_error") return error.message || "Check your card details and try again.";
  if (error.type === "api_connection_error") {
    return "We couldn't reach the payment service. Check your connection and try again.";
  }
  const code = error.code;
  const decline = error.decline_code;
  if (code === "payment_intent_authentication_failure") {
    return "Payment failed — your bank couldn't confirm it was you. Try again, or try another card.";
  }
  if (code === "card_declined" && decline === "insufficient_funds") {
    return "Payment failed — your card doesn't have enough funds. Try another card.";
  }
  if (code === "card_declined") return "Payment failed — your card was declined. Try another card.";
  if (code === "expired_card") return "Payment failed — your card has expired. Try another card.";
  if (code === "incorrect_cvc") return "Payment failed — the security code (CVC) is wrong. Check it and try again.";
  if (code === "incorrect_number" || code === "invalid_number") {
    return "Payment failed — the card number is wrong. Check it and try again.";
  }
  if (code === "processing_error") {
    return "Payment failed — there was a problem processing your card. Try again in a moment.";
  }
  const detail = (error.message || "please try again.").trim();
  return `Payment failed — ${lowerFirst(detail)}${/[.!?]$/.test(detail) ? "" : "."}`;
}

// --- The list of requests ----------------------------------------------------------------------------------------

function renderList() {
  const list = $("pw-requests");
  list.replaceChildren();
  const requests = sorted();
  const empty = $("pw-empty");
  if (!state.loaded) {
    empty.textContent = "Connecting…";
  } else if (requests.length === 0) {
    empty.textContent = "Nothing to pay right now. When your clinician asks for a payment, it shows here.";
  }
  empty.hidden = state.loaded && requests.length > 0;
  for (const pr of requests) list.append(requestItem(pr));
  renderAvailability();
}

// While the clinic can't take card payments, open requests say so and offer no Pay now that couldn't work.
function renderAvailability() {
  const open = [...state.requests.values()].some((pr) => payable(pr));
  const notice = $("pw-unavailable");
  const text = state.paymentsAvailable ? "" : state.unavailableReason || UNAVAILABLE_FALLBACK;
  if (notice.textContent !== text) notice.textContent = text;
  notice.hidden = state.paymentsAvailable || !open || state.view !== "list";
}

function requestItem(pr) {
  const item = element("li", { className: `pw-request pw-status-${pr.status}`, attrs: { "data-request-id": pr.id } });
  const main = element("div", { className: "pw-request-main" });
  main.append(
    element("p", { className: "pw-amount", text: pr.amount_display }),
    element("p", { className: "pw-description", text: pr.description }),
    element("p", { className: "pw-state", text: STATUS_WORDS[pr.status] || pr.status }),
  );
  const actions = element("div", { className: "pw-request-actions" });
  if (payable(pr) && !state.paymentsAvailable) {
    main.lastElementChild.textContent = NOT_PAYABLE_NOW;
    item.classList.add("pw-not-payable");
  } else if (payable(pr)) {
    const pay = element("button", {
      className: "pw-primary",
      text: "Pay now",
      attrs: { type: "button", "data-testid": "pay-now", "aria-label": `Pay now: ${pr.amount_display} for ${pr.description}` },
    });
    pay.addEventListener("click", () => startCheckout(pr.id));
    actions.append(pay);
  } else if (receipted(pr)) {
    const view = element("button", {
      className: "secondary",
      text: "View receipt",
      attrs: { type: "button", "data-testid": "view-payment", "aria-label": `View receipt: ${pr.amount_display} for ${pr.description}` },
    });
    view.addEventListener("click", () => showSuccess(pr.id, { announceIt: false }));
    actions.append(view);
  }
  item.append(main, actions);
  return item;
}

// --- Views ------------------------------------------------------------------------------------------------------

function setView(view) {
  state.view = view;
  show("pw-list", view === "list");
  show("pw-checkout", view === "checkout");
  show("pw-success", view === "success");
  renderAvailability();
}

function backToList(focusRequestId) {
  teardownCheckout();
  state.active = null;
  setView("list");
  renderList();
  const button = focusRequestId
    ? document.querySelector(`[data-request-id="${CSS.escape(focusRequestId)}"] button`)
    : null;
  (button || $("pw-list")).focus();
}

// --- Checkout ---------------------------------------------------------------------------------------------------

function startCheckout(requestId) {
  const pr = state.requests.get(requestId);
  if (!payable(pr) || !state.paymentsAvailable || state.busy) return;
  teardownCheckout();
  state.active = requestId;
  $("pw-checkout-amount").textContent = pr.amount_display;
  $("pw-checkout-description").textContent = pr.description;
  $("pw-email").value = state.lastEmail;
  $("pw-email").disabled = false;
  setEmailError(null);
  setPaymentError(null);
  show("pw-card", false);
  show("pw-card-loading", false);
  $("pw-submit").textContent = "Continue";
  $("pw-submit").disabled = false;
  $("pw-back").disabled = false;
  setView("checkout");
  $("pw-email").focus();
  announce(`Pay ${pr.amount_display} for ${pr.description}. Enter your email address for the receipt.`);
  if (EMAIL.test(state.lastEmail)) prepareCard({ focusCard: false });
}

function teardownCheckout() {
  window.clearTimeout(state.emailTimer);
  state.focusCardWhenReady = false;
  if (state.checkout && state.checkout.element) {
    try {
      state.checkout.element.destroy();
    } catch {
      // already gone with its frame; nothing to clean up
    }
  }
  state.checkout = null;
  state.preparing = null;
  $("pw-payment-element").replaceChildren();
}

function emailProblem(value) {
  if (!value) return "Enter your email address for the receipt.";
  if (!EMAIL.test(value)) return "Enter an email address like name@example.com.";
  return null;
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
  if (state.checkout && state.checkout.element) state.checkout.element.update({ readOnly: busy });
}

const stripeScripts = new Map(); // url -> Promise

function loadStripeJs(url) {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  if (!stripeScripts.has(url)) {
    const loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.addEventListener("load", () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("no Stripe"))));
      script.addEventListener("error", () => reject(new Error("Stripe.js did not load")));
      document.head.append(script);
    });
    loading.catch(() => stripeScripts.delete(url)); // let a later try load it again
    stripeScripts.set(url, loading);
  }
  return stripeScripts.get(url);
}

const APPEARANCE = {
  theme: "stripe",
  variables: { colorPrimary: "#0b5cad", colorText: "#1a1f36", colorDanger: "#a4141c", fontSizeBase: "16px" },
};

// Start (or reuse) the PaymentIntent for the active request and show the card fields.
function prepareCard({ focusCard }) {
  const requestId = state.active;
  const email = $("pw-email").value.trim();
  if (state.checkout && state.checkout.requestId === requestId) {
    if (focusCard) focusCardFields();
    return Promise.resolve(state.checkout);
  }
  // Typing may already have started one (without focus); a Continue press meanwhile still gets the focus move.
  if (focusCard) state.focusCardWhenReady = true;
  if (state.preparing) return state.preparing;
  show("pw-card-loading", true);
  const preparing = (async () => {
    try {
      const data = await api(`/api/v1/payment-requests/${encodeURIComponent(requestId)}/checkout`, {
        method: "POST",
        body: { email },
      });
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
      const stripe = StripeJs(data.publishable_key, { stripeAccount: data.stripe_account });
      const elements = stripe.elements({ clientSecret: data.client_secret, appearance: APPEARANCE });
      const paymentElement = elements.create("payment", { layout: "tabs" });
      const checkout = { requestId, email, clientSecret: data.client_secret, stripe, elements, element: paymentElement };
      state.checkout = checkout;
      state.lastEmail = email;
      paymentElement.mount($("pw-payment-element"));
      show("pw-card", true);
      show("pw-card-loading", false);
      $("pw-submit").textContent = `Pay ${state.requests.get(requestId).amount_display}`;
      paymentElement.once("ready", () => {
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
      if (error instanceof ApiError && error.field === "email") {
        setEmailError(error.message);
        if (focusCard) $("pw-email").focus();
      } else {
        handleApiError(error);
      }
      return null;
    } finally {
      if (state.preparing === preparing) state.preparing = null;
    }
  })();
  state.preparing = preparing;
  return preparing;
}

// Move the keyboard into the card fields. The fields live in Stripe's cross-origin frame, and Chromium lets a frame
// take focus only once it holds focus itself, so the frame element is focused first, then the field inside it.
function focusCardFields() {
  const frame = $("pw-payment-element").querySelector("iframe");
  if (frame) frame.focus();
  if (state.checkout && state.checkout.element) state.checkout.element.focus();
}

function handleApiError(error) {
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
    showConnection(SESSION_ENDED, "bad");
  }
  setPaymentError(message);
}

async function pay() {
  if (state.busy) return; // a second click while paying does nothing
  const email = $("pw-email").value.trim();
  const problem = emailProblem(email);
  if (problem) {
    setEmailError(problem);
    $("pw-email").focus();
    return;
  }
  setEmailError(null);
  setPaymentError(null);
  const requestId = state.active;
  if (!state.checkout || state.checkout.requestId !== requestId) {
    // First press: this is "Continue" — show the card fields and put the patient in them.
    setBusy(true);
    try {
      await prepareCard({ focusCard: true });
    } finally {
      setBusy(false);
    }
    return;
  }
  const pr = state.requests.get(requestId);
  const checkout = state.checkout;
  setBusy(true, "Paying…");
  announce("Paying. Please wait.");
  let paid = false;
  try {
    const submitted = await checkout.elements.submit();
    if (submitted && submitted.error) {
      setPaymentError(paymentErrorMessage(submitted.error));
      return;
    }
    if (email !== checkout.email) {
      // Same request, same PaymentIntent: only the receipt address changes.
      await api(`/api/v1/payment-requests/${encodeURIComponent(requestId)}/checkout`, { method: "POST", body: { email } });
      checkout.email = email;
      state.lastEmail = email;
    }
    const result = await checkout.stripe.confirmPayment({
      elements: checkout.elements,
      clientSecret: checkout.clientSecret,
      confirmParams: { return_url: window.location.href },
      redirect: "if_required",
    });
    if (result.error) {
      setPaymentError(paymentErrorMessage(result.error));
      return;
    }
    paid = true;
    state.receiptEmailFor.set(requestId, email);
    const confirmed = await reportConfirmation(requestId);
    if (confirmed && receipted(confirmed)) {
      showSuccess(requestId);
    } else {
      announce("Your payment is being processed. This page updates when it's done.");
      $("pw-submit").textContent = "Processing…";
    }
  } catch (error) {
    if (paid) {
      // Stripe took the payment; the server hears of it from Stripe too and tells this page over the socket.
      announce("Your payment went through. We're confirming it with the clinic…");
    } else {
      handleApiError(error);
    }
  } finally {
    if (state.view === "checkout" && state.active === requestId) {
      const waiting = paid && !receipted(state.requests.get(requestId) || pr);
      setBusy(waiting, waiting ? "Processing…" : `Pay ${pr.amount_display}`);
      if (!waiting && !$("pw-error").hidden) focusCardFields();
    }
  }
}

async function reportConfirmation(requestId) {
  const confirmed = await api(`/api/v1/payment-requests/${encodeURIComponent(requestId)}/confirmation`, {
    method: "POST",
  });
  if (confirmed && confirmed.id) state.requests.set(confirmed.id, confirmed);
  return confirmed;
}

// --- The confirmation -------------------------------------------------------------------------------------------

function showSuccess(requestId, { announceIt = true } = {}) {
  const pr = state.requests.get(requestId);
  if (!pr) return;
  teardownCheckout();
  state.busy = false;
  state.active = requestId;
  fillSuccess(pr);
  setView("success");
  $("pw-success-title").focus();
  if (announceIt) announce(`Payment successful. ${pr.amount_display} paid to ${$("clinic-name").textContent}.`);
  loadReceipt(pr.id);
}

// The receipt's own details (the clinic's business name and the receipt number), so the screen says what the
// PDF and the email say. Until it arrives, the page's clinic name and the request's fields stand in. Read once:
// neither changes after payment.
async function loadReceipt(requestId) {
  if (state.receipts.has(requestId)) return;
  try {
    const receipt = await api(`/api/v1/payment-requests/${encodeURIComponent(requestId)}/receipt`);
    state.receipts.set(requestId, receipt);
    $("clinic-name").textContent = receipt.business_name;
    if (state.view === "success" && state.active === requestId) fillSuccess(state.requests.get(requestId));
  } catch {
    // Not receipted yet (still processing) or offline: the confirmation already shows what is known.
  }
}

function fillSuccess(pr) {
  const receipt = state.receipts.get(pr.id);
  const clinic = receipt ? receipt.business_name : $("clinic-name").textContent;
  $("pw-success-clinic").textContent = clinic;
  $("pw-success-lead").textContent =
    pr.status === "paid" ? `Your payment to ${clinic} is complete.` : `${STATUS_WORDS[pr.status] || pr.status}.`;
  $("pw-success-amount").textContent = pr.amount_display;
  $("pw-success-description").textContent = pr.description;
  $("pw-success-date").textContent = dateOf(pr.paid_at);
  $("pw-success-receipt").textContent = (receipt && receipt.receipt_number) || pr.receipt_number || "On its way";
  const card = cardOf(pr);
  $("pw-success-card").textContent = card || "";
  show("pw-success-card-row", Boolean(card));
  const email = state.receiptEmailFor.get(pr.id);
  $("pw-success-email").textContent = email ? `A receipt is on its way to ${email}.` : "";
  show("pw-download-error", false);
}

const DOWNLOAD_FAILED = "The receipt couldn't be downloaded. Try again.";

async function downloadReceipt() {
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
  } finally {
    button.disabled = false;
  }
}

// --- Live updates -----------------------------------------------------------------------------------------------

function showConnection(text, kind) {
  const notice = $("pw-connection");
  notice.textContent = text || "";
  notice.className = `notice ${kind || ""}`;
  notice.hidden = !text;
}

// The clinician cancelled the request being paid, and nothing was charged: back to the list, saying so.
function leaveCanceled(requestId) {
  backToList(requestId);
  announce("Your clinician cancelled this payment request. You haven't been charged.");
  showConnection("Your clinician cancelled that payment request. You haven't been charged.", "");
}

// Bring the open step in line with what the server now says about the active request.
function reconcile() {
  const pr = state.active ? state.requests.get(state.active) : null;
  if (state.view === "checkout" && pr) {
    if (receipted(pr)) {
      showSuccess(pr.id);
    } else if (pr.status === "canceled") {
      leaveCanceled(pr.id);
    }
  } else if (state.view === "success" && pr) {
    fillSuccess(pr);
    if (receipted(pr)) loadReceipt(pr.id);
  }
}

function onSnapshot(list) {
  state.requests = new Map((Array.isArray(list) ? list : []).map((pr) => [pr.id, pr]));
  state.loaded = true;
  if (state.view === "list") renderList();
  reconcile();
}

function onChange(pr) {
  if (!pr || !pr.id) return;
  const known = state.requests.has(pr.id);
  state.requests.set(pr.id, pr);
  if (!known && payable(pr)) {
    announce(`Your clinician has asked for a payment of ${pr.amount_display} for ${pr.description}.`);
  }
  if (state.view === "list") renderList();
  reconcile();
}

function setAvailability(status) {
  const available = Boolean(status && status.payments_available);
  const changed = available !== state.paymentsAvailable;
  state.paymentsAvailable = available;
  state.unavailableReason = (!available && status && status.reason) || "";
  if (!available && state.view === "checkout" && !state.busy) {
    // Nothing is being paid yet: go back to the list, which says why the request can't be paid now.
    const requestId = state.active;
    backToList(requestId);
    announce(state.unavailableReason || UNAVAILABLE_FALLBACK);
    return;
  }
  if (state.view === "list") renderList();
  if (changed && state.loaded && [...state.requests.values()].some((pr) => payable(pr))) {
    announce(available ? "You can pay by card again." : state.unavailableReason || UNAVAILABLE_FALLBACK);
  }
}

function connect() {
  const socket = io({ path: "/socket.io", auth: { token: session.token }, transports: ["websocket", "polling"] });
  socket.on("connect", () => showConnection(null));
  // The server ending the connection, or refusing it for good, means the session is over; anything else retries.
  const lost = (ended) => (ended ? showConnection(SESSION_ENDED, "bad") : showConnection("Connection lost. Reconnecting…", ""));
  socket.on("disconnect", (reason) => lost(reason === "io server disconnect"));
  socket.on("connect_error", () => lost(!socket.active));
  socket.on("payments_available", setAvailability);
  socket.on("payment_requests", onSnapshot);
  socket.on("payment_request", onChange);
  return socket;
}

// --- Start ------------------------------------------------------------------------------------------------------

function start() {
  if (!session) {
    showConnection("This page opens from the video call. Close it and open it again from there.", "bad");
    return;
  }
  $("pw-form").addEventListener("submit", (event) => {
    event.preventDefault();
    pay();
  });
  $("pw-email").addEventListener("input", () => {
    setEmailError(null);
    window.clearTimeout(state.emailTimer);
    if (!state.checkout && EMAIL.test($("pw-email").value.trim())) {
      // Show the card fields once the address looks complete, without taking the patient's focus away.
      state.emailTimer = window.setTimeout(() => prepareCard({ focusCard: false }), EMAIL_IDLE_MS);
    }
  });
  $("pw-email").addEventListener("change", () => {
    const value = $("pw-email").value.trim();
    if (value && emailProblem(value)) setEmailError(emailProblem(value));
    else if (value && !state.checkout) prepareCard({ focusCard: false });
  });
  $("pw-back").addEventListener("click", () => {
    if (!state.busy) backToList(state.active);
  });
  $("pw-done").addEventListener("click", () => backToList(state.active));
  $("pw-download").addEventListener("click", downloadReceipt);
  renderList();
  connect();
}

start();
