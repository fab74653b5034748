// The patient's payment widget: the call's payment requests arrive live; Pay now takes an email for the receipt and
// the card (checkout.js), and the confirmation shows the receipt (success.js). This module wires the steps to the
// live connection and, after a reload of the frame, resumes where the patient was (tab.js).

import { session, useSession } from "/static/session.js";
import { connectLive } from "/widget/static/live.js";
import { $, show } from "/widget/static/view.js";
import { isPayable, isPayableBy, isForSomeoneElse, hasReceipt, isNewer } from "/widget/static/requests.js";
import { state, PAY_ALL } from "/widget/static/patient/state.js";
import { loadTab, saveTab, forgetTab } from "/widget/static/patient/tab.js";
import {
  announce, listActions, renderList, backToList, leaveCanceled, setAvailability, showConnection, me,
} from "/widget/static/patient/list.js";
import { startCheckout, startPayAll, recheckPayAll, pay, wireEmailField } from "/widget/static/patient/checkout.js";
import { refreshOffer, setLostOne } from "/widget/static/patient/pay_all.js";
import { showSuccess, fillSuccess, loadReceipt, downloadReceipt } from "/widget/static/patient/success.js";
import { CONNECTION_LOST, NOT_FROM_CALL, SESSION_ENDED } from "/widget/static/patient/words.js";
import { isHeld, leaveHeld, holdNews } from "/widget/static/patient/held.js";
import { startSavedCard } from "/widget/static/patient/save_card.js";

let resumeTo = null; // where a reloaded frame was: {view, active}, until the first list arrives

// Bring the open step in line with what the server now says about the active request.
function reconcile() {
  if (state.view === "checkout" && state.active === PAY_ALL) {
    // Paying several at once: one of them cancelled meanwhile is left out now, and the patient told the new total.
    if (setLostOne()) recheckPayAll();
    return;
  }
  const pr = state.active ? state.requests.get(state.active) : null;
  if (state.view === "checkout" && pr) {
    if (hasReceipt(pr)) showSuccess(pr.id);
    else if (isHeld(pr)) leaveHeld(pr);
    else if (pr.canceled_at) leaveCanceled(pr.id);
  } else if (state.view === "success" && pr) {
    fillSuccess(pr);
    if (hasReceipt(pr)) loadReceipt(pr.id);
  }
}

// After a reload: open the step the patient was on, as far as the request still allows it.
function resume() {
  const { view, active } = resumeTo;
  resumeTo = null;
  const pr = active ? state.requests.get(active) : null;
  if (!pr) return;
  if (view === "success" || (view === "checkout" && hasReceipt(pr))) showSuccess(pr.id, { announceIt: false });
  else if (view === "checkout" && isPayableBy(pr, me())) startCheckout(pr.id);
}

// The call's list, sent on every (re)connect. It was read as the connection opened, so a request announced since
// may be newer than its copy here, or missing from it: the newer copy wins, and nothing is dropped (a request
// never leaves its call).
function onSnapshot(list) {
  for (const pr of Array.isArray(list) ? list : []) upsert(pr);
  state.loaded = true;
  refreshOffer();
  if (state.view === "list") renderList();
  if (resumeTo) resume();
  reconcile();
}

function upsert(pr) {
  if (isNewer(pr, state.requests.get(pr.id))) state.requests.set(pr.id, pr);
}

function onChange(pr) {
  if (!pr || !pr.id) return;
  const known = state.requests.has(pr.id);
  const before = state.requests.get(pr.id);
  upsert(pr);
  refreshOffer(); // what may be paid at once follows every change in the call
  const news = holdNews(before, state.requests.get(pr.id));
  if (news) {
    announce(news);
    showConnection(news, "");
  }
  if (!known && isPayableBy(pr, me())) {
    announce(`Your clinician has asked for a payment of ${pr.amount_display} for ${pr.description}.`);
  } else if (!known && isPayable(pr) && isForSomeoneElse(pr, me())) {
    announce(`Your clinician has asked ${pr.payer.name} to pay ${pr.amount_display} for ${pr.description}.`);
  }
  if (state.view === "list") renderList();
  reconcile();
}

function onLive(live) {
  if (live === "connected") showConnection(null);
  else if (live === "back") {
    showConnection(null);
    announce("Connected again.");
  }
  else if (live === "lost") showConnection(CONNECTION_LOST, "");
  else if (live === "ended") {
    forgetTab();
    showConnection(SESSION_ENDED, "bad");
  }
}

// The session: the one this launch opened (kept for the tab), or, on a reload, the one the tab kept.
function openSession() {
  if (session) {
    forgetTab();
    saveTab({ session, clinicName: $("clinic-name").textContent });
    return true;
  }
  const kept = loadTab();
  if (!kept) return false;
  useSession(kept.session);
  $("clinic-name").textContent = kept.clinicName || "";
  $("pw-success-clinic").textContent = kept.clinicName || "";
  document.title = `Payment · ${kept.clinicName || "Callpay"}`;
  state.lastEmail = kept.email || "";
  state.receiptEmailFor = new Map(Object.entries(kept.receiptEmailFor || {}));
  resumeTo = { view: kept.view, active: kept.active };
  return true;
}

function start() {
  if (!openSession()) {
    // Nothing to resume in this tab: say how to open the page again (the server put its words in the page).
    const reopen = $("pw-reopen");
    if (reopen) {
      show("pw-reopen", true);
      show("pw-list", false);
    } else {
      showConnection(NOT_FROM_CALL, "bad");
    }
    return;
  }
  listActions.pay = startCheckout;
  listActions.payAll = startPayAll;
  $("pw-payall-button").addEventListener("click", () => listActions.payAll());
  listActions.view = (id) => showSuccess(id, { announceIt: false });
  $("pw-form").addEventListener("submit", (event) => {
    event.preventDefault();
    pay();
  });
  wireEmailField();
  $("pw-back").addEventListener("click", () => {
    if (!state.busy) backToList(state.active);
  });
  $("pw-done").addEventListener("click", () => backToList(state.active));
  $("pw-download").addEventListener("click", downloadReceipt);
  renderList();
  startSavedCard();
  connectLive(session.token, {
    onState: onLive,
    on: { payments_available: setAvailability, payment_requests: onSnapshot, payment_request: onChange },
  });
}

start();
