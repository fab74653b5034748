// The call's payment requests as the patient sees them, the one step shown at a time, and the notices above them.

import { session } from "/static/session.js";
import { $, element, show, announcer } from "/widget/static/view.js";
import { isPayable, isPayableBy, isForSomeoneElse, hasReceipt, newestFirst, payingNow } from "/widget/static/requests.js";
import { state, remember, PAY_ALL } from "/widget/static/patient/state.js";
import { teardownCard } from "/widget/static/patient/card.js";
import { stopPaying } from "/widget/static/patient/paying.js";
import {
  NOT_PAYABLE_NOW, UNAVAILABLE_FALLBACK, CANCELED_NOTICE, CANCELED_WHILE_PAYING, statusWords, sentToWords,
} from "/widget/static/patient/words.js";

// Who this page is: the launch's user, to tell a request addressed to them from one sent to someone else.
export const me = () => session?.user?.id ?? null;

export const announce = announcer("pw-status");

// What the list's buttons do; patient.js sets them (they open the checkout and the confirmation steps).
export const listActions = { pay: () => {}, payAll: () => {}, view: () => {} };

export function renderList() {
  const list = $("pw-requests");
  list.replaceChildren();
  const requests = newestFirst(state.requests.values());
  const empty = $("pw-empty");
  if (!state.loaded) {
    empty.textContent = "Connecting…";
  } else if (requests.length === 0) {
    empty.textContent = "Nothing to pay right now. When your clinician asks for a payment, it shows here.";
  }
  empty.hidden = state.loaded && requests.length > 0;
  for (const pr of requests) list.append(requestItem(pr));
  renderPayAll();
  renderAvailability();
}

// Two or more this patient may pay now: one Pay all for their sum, above their Pay now buttons. The server's offer
// says which and how much (see pay_all.js); it is asked again whenever a request of the call changes.
function renderPayAll() {
  const offer = state.offer;
  const visible = Boolean(state.loaded && state.paymentsAvailable && offer && offer.count >= 2);
  show("pw-payall", visible);
  if (!visible) return;
  const text = `${offer.count} payments are waiting. You can pay them together, with one card payment.`;
  if ($("pw-payall-text").textContent !== text) $("pw-payall-text").textContent = text;
  const button = $("pw-payall-button");
  button.textContent = `Pay all (${offer.amount_display})`;
  button.setAttribute("aria-label", `Pay all ${offer.count} payments together: ${offer.amount_display}`);
}

// While the clinic can't take card payments, open requests say so and offer no Pay now that couldn't work.
export function renderAvailability() {
  const open = [...state.requests.values()].some((pr) => isPayableBy(pr, me()));
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
    element("p", { className: "pw-state", text: statusWords(pr) }),
  );
  const actions = element("div", { className: "pw-request-actions" });
  const what = `${pr.amount_display} for ${pr.description}`;
  const someoneElse = isForSomeoneElse(pr, me());
  if (someoneElse) item.dataset.payer = pr.payer.id;
  if (payingNow(pr) && pr.paying.by.id !== me()) {
    // Someone else in the call has it open: said, so two people don't both reach for a card.
    main.append(element("p", { className: "pw-note", text: `${pr.paying.by.name} is paying this now.` }));
  }
  if (someoneElse && isPayable(pr)) {
    // Addressed to another participant: with them, plainly, and no Pay now here.
    main.querySelector(".pw-state").textContent = sentToWords(pr);
    item.classList.add("pw-for-someone-else");
  } else if (isPayable(pr) && !state.paymentsAvailable) {
    main.lastElementChild.textContent = NOT_PAYABLE_NOW;
    item.classList.add("pw-not-payable");
  } else if (isPayable(pr)) {
    const pay = element("button", {
      className: "pw-primary",
      text: "Pay now",
      attrs: { type: "button", "data-testid": "pay-now", "aria-label": `Pay now: ${what}` },
    });
    pay.addEventListener("click", () => listActions.pay(pr.id));
    actions.append(pay);
  } else if (hasReceipt(pr)) {
    const view = element("button", {
      className: "secondary",
      text: "View receipt",
      attrs: { type: "button", "data-testid": "view-payment", "aria-label": `View receipt: ${what}` },
    });
    view.addEventListener("click", () => listActions.view(pr.id));
    actions.append(view);
  }
  item.append(main, actions);
  return item;
}

export function setView(view) {
  state.view = view;
  show("pw-list", view === "list");
  show("pw-checkout", view === "checkout");
  show("pw-success", view === "success");
  renderAvailability();
  remember();
}

export function backToList(focusRequestId) {
  // Leaving a checkout still open: the clinician hears the patient is no longer paying it.
  const leaving = state.view === "checkout" && state.active;
  if (leaving && (leaving === PAY_ALL || isPayable(state.requests.get(leaving)))) stopPaying(leaving);
  window.clearTimeout(state.emailTimer);
  state.focusCardWhenReady = false;
  teardownCard();
  state.checkout = null;
  state.preparing = null;
  state.active = null;
  state.payAll = null;
  state.paidSet = null;
  setView("list");
  renderList();
  let button = focusRequestId
    ? document.querySelector(`[data-request-id="${CSS.escape(focusRequestId)}"] button`)
    : null;
  if (focusRequestId === PAY_ALL && !$("pw-payall").hidden) button = $("pw-payall-button");
  (button || $("pw-list")).focus();
}

export function showConnection(text, kind) {
  const notice = $("pw-connection");
  notice.textContent = text || "";
  notice.className = `notice ${kind || ""}`;
  notice.hidden = !text;
}

// The clinician cancelled the request being paid, and nothing was charged: back to the list, saying so.
export function leaveCanceled(requestId) {
  const whilePaying = state.busy;
  state.busy = false;
  backToList(requestId);
  const words = whilePaying ? CANCELED_WHILE_PAYING : CANCELED_NOTICE;
  announce(words);
  showConnection(words, "");
}

export function setAvailability(status) {
  const available = Boolean(status && status.payments_available);
  const changed = available !== state.paymentsAvailable;
  state.paymentsAvailable = available;
  state.unavailableReason = (!available && status && status.reason) || "";
  if (!available && state.view === "checkout" && !state.busy) {
    // Nothing is being paid yet: go back to the list, which says why the request can't be paid now.
    backToList(state.active);
    announce(state.unavailableReason || UNAVAILABLE_FALLBACK);
    return;
  }
  if (state.view === "list") renderList();
  if (changed && state.loaded && [...state.requests.values()].some(isPayable)) {
    announce(available ? "You can pay by card again." : state.unavailableReason || UNAVAILABLE_FALLBACK);
  }
}
