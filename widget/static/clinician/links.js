// Pay-later links on the clinician panel: what became of each request when the call ended (a link, emailed or
// waiting to be shared), Send link on an unpaid request, and the notice when a link of this clinician's is paid
// or expires (unless its payment is in this call, whose "Payment received" already says so).

import { api, session } from "/static/session.js";
import { element } from "/widget/static/view.js";
import { shareBox } from "/widget/static/links_share.js";
import { showBanner } from "/widget/static/clinician/popup.js";

const byRequest = new Map(); // payment request id → its newest PaymentLink
let rerender = () => {};
let say = () => {};

export function wireLinks({ render, announce }) {
  rerender = render;
  say = announce;
}

export function upsertLink(link) {
  if (link.payment_request) byRequest.set(link.payment_request, link);
}

const LINK_WORDS = {
  active: (l) => (l.email ? `Pay-later link emailed to ${l.email}, until ${l.expires_display}` : `Pay-later link ready to share, until ${l.expires_display}`),
  paid: () => "Paid through its pay-later link",
  expired: () => "Its pay-later link expired unpaid",
  canceled: () => "Its pay-later link was cancelled",
};

// The part of a request's list item about pay later; null when there is nothing to say or do.
export function linkPart(pr) {
  const link = byRequest.get(pr.id);
  if (link) {
    const part = element("div", { className: "pl-part", attrs: { "data-testid": "request-link" } });
    part.append(element("p", { className: "pl-part-words", text: LINK_WORDS[link.status](link) }));
    if (link.status === "active") {
      const details = element("details");
      details.append(element("summary", { text: "Share the link" }), shareBox(link, {
        announce: say, onChange: (updated) => { upsertLink(updated); },
      }));
      part.append(details);
    }
    return part;
  }
  if (!pr.payable) return null;
  const button = element("button", {
    className: "secondary", text: "Send link",
    attrs: { type: "button", "data-testid": "send-link", "aria-label": `Send link for ${pr.amount_display}, ${pr.description}` },
  });
  button.dataset.action = "send-link";
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const link = await api("/api/v1/payment-links", {
        method: "POST", body: { from_request: pr.id, client_ref: `send-link:${pr.id}` },
      });
      upsertLink(link);
      rerender();
      say(link.email ? `Pay-later link emailed to ${link.email}.` : "Pay-later link made: share it below.");
    } catch (error) {
      button.disabled = false;
      say(error.message);
    }
  });
  const actions = element("div", { className: "cp-request-actions" });
  actions.append(button);
  return actions;
}

export function onLinkChanged(link, { inThisCall }) {
  upsertLink(link);
  rerender();
  const mine = session && link.clinician && link.clinician.id === session.user?.id;
  if (link.notice && mine && !inThisCall(link.payment_request)) {
    showBanner({
      id: `link:${link.id}:${link.status}`,
      title: link.status === "paid" ? "Pay-later link paid" : "Pay-later link expired",
      amount: link.amount_display,
      description: link.description,
      testid: "link-notice",
    });
  }
}
