// The patient widget's state, in one place. Each step module reads and changes it; patient.js wires them.

import { saveTab } from "/widget/static/patient/tab.js";

// state.active while the checkout pays several requests at once (Pay all) rather than one.
export const PAY_ALL = "pay-all";

export const state = {
  requests: new Map(), // id -> PaymentRequest JSON
  loaded: false, // the first snapshot has arrived
  view: "list", // list | checkout | success
  active: null, // the request being paid, or whose confirmation is shown
  checkout: null, // {requestId, email, clientSecret, stripe, elements, element}
  preparing: null, // the promise of a checkout being prepared
  preparingLoud: true, // whether a problem preparing it is shown (not while the patient may still be typing)
  focusCardWhenReady: false, // the patient pressed Continue: put them in the card fields once they're there
  busy: false, // a payment is in flight: nothing may start another
  emailTimer: null,
  lastEmail: "", // so a second payment in the same call needs no retyping
  receiptEmailFor: new Map(), // request id -> the email this page sent its receipt to
  receipts: new Map(), // request id -> the receipt as the server words it (business name, number)
  offer: null, // what this patient may pay at once (GET /api/v1/calls/{call}/pay-all), as the server last said
  payAll: null, // paying several at once: {ids, amountDisplay}, while state.active is PAY_ALL
  paidSet: null, // the confirmation of several paid at once: {ids, amountDisplay}
  paymentsAvailable: true, // whether the clinic can take card payments now, as the server last said
  unavailableReason: "", // the server's words for a patient when it can't
};

// Keep where the patient is in this tab, so reloading the frame resumes there (see tab.js).
export function remember() {
  saveTab({
    view: state.view,
    active: state.active,
    email: document.getElementById("pw-email").value,
    receiptEmailFor: Object.fromEntries(state.receiptEmailFor),
  });
}
