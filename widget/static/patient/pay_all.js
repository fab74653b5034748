// Pay all: the patient pays several requests of the call at once, with one card payment for their sum. The server
// says what this patient may pay together (the offer), asked again whenever a request of the call changes, and
// checks the set once more right before the card is confirmed: a request cancelled meanwhile is left out, and the
// patient is told the new total.

import { api, session } from "/static/session.js";
import { element } from "/widget/static/view.js";
import { isPayable } from "/widget/static/requests.js";
import { state, PAY_ALL } from "/widget/static/patient/state.js";
import { renderList } from "/widget/static/patient/list.js";

const callPath = (what) => `/api/v1/calls/${encodeURIComponent(session?.call ?? "")}/${what}`;
export const callCheckoutPath = () => callPath("checkout");

const ASK_AFTER_MS = 120; // a burst of changes (a set paid: one event per request) is one question
let timer = null;
let asking = false;
let askAgain = false;

// Ask the server what may be paid at once now; the list shows Pay all when it is two or more.
export function refreshOffer() {
  window.clearTimeout(timer);
  timer = window.setTimeout(askForOffer, ASK_AFTER_MS);
}

async function askForOffer() {
  if (asking) {
    askAgain = true;
    return;
  }
  asking = true;
  try {
    await fetchOffer();
    if (state.view === "list") renderList();
  } catch {
    // Offline, or the session is over (the page says so elsewhere): the list still offers each Pay now.
  } finally {
    asking = false;
    if (askAgain) {
      askAgain = false;
      askForOffer();
    }
  }
}

// The offer now, kept for the list too.
export async function fetchOffer() {
  state.offer = await api(callPath("pay-all"));
  return state.offer;
}

export const offersPayAll = () => Boolean(state.offer && state.offer.count >= 2);

// What the patient is paying in the checkout now: the set's total, or the one request's amount.
export function payingAmount() {
  if (state.active === PAY_ALL && state.payAll) return state.payAll.amountDisplay;
  return state.requests.get(state.active)?.amount_display ?? "";
}

// The set lost a request (cancelled by the clinician, or paid another way) while the checkout was open.
export function setLostOne() {
  if (state.active !== PAY_ALL || !state.payAll) return false;
  return state.payAll.ids.some((id) => {
    const pr = state.requests.get(id);
    return pr && !isPayable(pr);
  });
}

// The server's 409 set_changed: the set is now what it says is left, for the new total it gives.
export function applySetChanged(error) {
  const details = error.details || {};
  const remaining = Array.isArray(details.remaining) ? details.remaining : [];
  state.payAll = { ids: remaining, amountDisplay: details.amount_display || state.payAll?.amountDisplay || "" };
  return remaining.length > 0;
}

// One line of a set: what it is for and its amount, as the receipt lists it.
export function itemLine(description, amount) {
  const line = element("li");
  line.append(
    element("span", { className: "pw-item-description", text: description }),
    " ",
    element("span", { className: "pw-item-amount", text: amount }),
  );
  return line;
}
