// The payer's page tells Callpay they are paying now (checkout open, card being confirmed) and when they stop, so
// their clinician doesn't cancel the request under their hands. What the page says lapses on the server unless it
// is said again, so it is renewed while the checkout stays open; a patient who walks away blocks no one.

import { session } from "/static/session.js";
import { state } from "/widget/static/patient/state.js";

const RENEW_MS = 40000; // the server lets it lapse after 90 seconds
let renewing = null; // {requestId, timer}

const pathFor = (requestId) => `/api/v1/payment-requests/${encodeURIComponent(requestId)}/paying`;

// Fire and forget: this is news for the clinician, never something that stops the patient paying. `keepalive`
// lets "closed" still go out as the page is going away.
export function sayPaying(requestId, step, { keepalive = false } = {}) {
  if (!requestId || !session?.token) return;
  fetch(pathFor(requestId), {
    method: "POST",
    keepalive,
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${session.token}` },
    body: JSON.stringify({ step }),
  }).catch(() => {});
}

// The step the page is at: confirming while the payment is in flight, else the checkout is open.
const currentStep = () => (state.busy ? "confirming" : "checkout");

// The checkout for `active` (one request's id, or PAY_ALL for several at once: `ids`) opened: say so for each now,
// and again every 40 seconds while it stays open.
export function startPaying(active, ids = [active]) {
  stopRenewing();
  for (const id of ids) sayPaying(id, "checkout");
  const timer = window.setInterval(() => {
    if (state.view !== "checkout" || state.active !== active) {
      stopRenewing();
      return;
    }
    for (const id of renewing.ids) sayPaying(id, currentStep());
  }, RENEW_MS);
  renewing = { active, ids: [...ids], timer };
}

// Pay all's set shrank (a request cancelled meanwhile): only the rest are renewed.
export function keepPaying(ids) {
  if (renewing) renewing.ids = [...ids];
}

export function stopRenewing() {
  if (renewing) window.clearInterval(renewing.timer);
  renewing = null;
}

// The patient left the checkout without paying (Back, or the page closing).
export function stopPaying(requestId, options) {
  const ids = renewing && renewing.active === requestId ? renewing.ids : [requestId];
  stopRenewing();
  for (const id of ids) sayPaying(id, "closed", options);
}

window.addEventListener("pagehide", () => {
  if (renewing && state.view === "checkout") stopPaying(renewing.active, { keepalive: true });
});
