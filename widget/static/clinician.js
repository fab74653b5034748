// The Request payment panel: ask the patient in the call for a payment (clinician/form.js), follow each request
// (clinician/list.js) and see it land (clinician/popup.js), all over the live connection (live.js), authenticated
// with the page's in-memory session token.

import { session } from "/static/session.js";
import { connectLive } from "/widget/static/live.js";
import { $ } from "/widget/static/view.js";
import { requests, upsert, renderList, onCancel, onItemExtra, announce } from "/widget/static/clinician/list.js";
import { onAfterPayment } from "/widget/static/clinician/after_payment.js";
import { wireLinks, linkPart, onLinkChanged } from "/widget/static/clinician/links.js";
import { wirePlans, planPart } from "/widget/static/clinician/plans.js";
import { showReceived, dismissOnEscape } from "/widget/static/clinician/popup.js";
import { wireForm, setFormEnabled, showFormError } from "/widget/static/clinician/form.js";
import { withCapture, onHoldAction } from "/widget/static/clinician/holds.js";
import { showPeople, withPayer } from "/widget/static/clinician/payer.js";
import { payingNow } from "/widget/static/requests.js";

const config = JSON.parse($("panel-config").textContent);
onAfterPayment({ render: renderList, announce });
const ACK_TIMEOUT_MS = 10000;

let paymentsAvailable = Boolean(config.status?.payments_available);
let sessionEnded = false;

const refreshForm = () => setFormEnabled(paymentsAvailable && !sessionEnded);

// The line under the heading says what the live connection is doing, in plain words: it is what brings the
// patient's payment here, so its loss and its return are both said.
const LIVE_WORDS = {
  connecting: "Live updates: connecting…",
  connected: "Live updates: connected. Payments show here as they happen.",
  lost: "Live updates: connection lost. Reconnecting… Payments made meanwhile show when it's back.",
  back: "Live updates: connected again. Everything is up to date.",
};

function showLive(state, message) {
  const line = $("connection");
  if (state === "ended") {
    sessionEnded = true;
    refreshForm();
  }
  line.textContent = state === "ended"
    ? message || "Your session has ended. Close this panel and open Request payment again from the call."
    : LIVE_WORDS[state];
  line.dataset.state = state;
  line.classList.toggle("bad", state === "lost" || state === "ended");
}

const live = connectLive(session?.token, {
  onState: showLive,
  on: {
    clinic_status(status) {
      paymentsAvailable = Boolean(status.payments_available);
      $("unavailable").hidden = paymentsAvailable;
      $("unavailable-reason").textContent = status.reason ?? "";
      refreshForm();
    },
    payment_requests(all) {
      // A (re)connect: the server's list is the truth. A payment that landed while we were disconnected gets its
      // pop-up now, since the once-only payment_received went out while nobody here was listening.
      for (const pr of all) {
        const before = requests.get(pr.id);
        upsert(pr);
        if (before && !before.paid_at && pr.paid_at) showReceived(pr);
      }
      renderList();
    },
    payment_request(pr) {
      const wasPaying = payingNow(requests.get(pr.id));
      upsert(pr);
      renderList();
      const current = requests.get(pr.id);
      if (!wasPaying && payingNow(current)) announce(current.paying.words);
    },
    participants(list) {
      showPeople(list, { announce });
    },
    payment_received(pr) {
      upsert(pr);
      renderList();
      showReceived(pr);
    },
    payment_link(link) {
      onLinkChanged(link, { inThisCall: (id) => requests.has(id) });
    },
  },
});

wireLinks({ render: renderList, announce });
wirePlans(config.plans, { render: renderList, announce });
onItemExtra((pr) => {
  const parts = [linkPart(pr), planPart(pr)].filter(Boolean);
  if (parts.length < 2) return parts[0] ?? null;
  const both = document.createElement("div");
  both.append(...parts);
  return both;
});

wireForm({
  send: (body) => live.call("request_payment", withPayer(withCapture(body)), ACK_TIMEOUT_MS),
  onCreated(pr) {
    upsert(pr);
    renderList();
  },
});

onCancel(async (pr) => {
  let ack;
  try {
    ack = await live.call("cancel_payment_request", { id: pr.id }, ACK_TIMEOUT_MS);
  } catch {
    showFormError("No answer from Callpay yet. Check your connection and try again.");
    return false;
  }
  if (!ack.ok) {
    showFormError(ack.error.message);
    return false;
  }
  upsert(ack.payment_request);
  return true;
});

onHoldAction(async (kind, pr, amount) => {
  const event = kind === "capture" ? "capture_payment_request" : "release_payment_request";
  const body = amount ? { id: pr.id, amount } : { id: pr.id };
  let ack;
  try {
    ack = await live.call(event, body, ACK_TIMEOUT_MS);
  } catch {
    showFormError("No answer from Callpay yet. Check your connection and try again.");
    return false;
  }
  if (!ack.ok) {
    showFormError(ack.error.message);
    return false;
  }
  upsert(ack.payment_request);
  renderList();
  announce(kind === "capture" ? `Charged ${ack.payment_request.amount_display}.` : "Hold released. Nothing was charged.");
  return true;
});

dismissOnEscape();
refreshForm();
