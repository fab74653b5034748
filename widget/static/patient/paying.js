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

// The checkout for `requestId` opened: say so now, and again every 40 seconds while it stays open.
export function startPaying(requestId) {
  stopRenewing();
  sayPaying(requestId, "checkout");
  const timer = window.setInterval(() => {
    if (state.view !== "checkout" || state.active !== requestId) {
      stopRenewing();
      return;
    }
    sayPaying(requestId, currentStep());
  }, RENEW_MS);
  renewing = { requestId, timer };
}

export function stopRenewing() {
  if (renewing) window.clearInterval(renewing.timer);
  renewing = null;
}

// The patient left the checkout without paying (Back, or the page closing).
export function stopPaying(requestId, options) {
  stopRenewing();
  sayPaying(requestId, "closed", options);
}

window.addEventListener("pagehide", () => {
  if (renewing && state.view === "checkout") stopPaying(renewing.requestId, { keepalive: true });
});
