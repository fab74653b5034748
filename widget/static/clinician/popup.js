// "Payment received": a compact banner laid over the panel's heading, so nothing on the form moves. It comes first
// in the page, so its Dismiss is the first stop in focus order, as it is the first thing on screen; it stays at the
// top while the panel scrolls, and the page keeps focused fields clear of it (scroll-padding, see clinician.css).
// Shown once per payment on this page; a second payment's banner lies over the first until that is dismissed. Requests
// paid together (Pay all) share one banner that lists each of them.

import { $, element } from "/widget/static/view.js";
import { startRefund } from "/widget/static/clinician/after_payment.js";

const refunds = JSON.parse(document.getElementById("panel-config").textContent).refunds ?? {};

const shown = new Set(); // ids whose pop-up has been shown on this page: never twice

export function showReceived(pr) {
  if (pr.pay_all) {
    showPaidTogether(pr);
    return;
  }
  showBanner({ id: pr.id, title: "Payment received", amount: pr.amount_display, description: pr.description,
    testid: "payment-received", label: `Dismiss: payment of ${pr.amount_display} received` });
}

// The patient paid several requests at once (Pay all): one pop-up for the payment, listing each request it paid.
// Each request's payment_received arrives on its own, moments apart: the later ones join the first one's pop-up.
function showPaidTogether(pr) {
  if (shown.has(pr.id)) return;
  const group = [...$("received-region").children].find((card) => card.dataset.payAll === pr.pay_all);
  if (!group) {
    showBanner({ id: pr.id, title: "Payment received", amount: pr.amount_display, description: pr.description,
      testid: "payment-received", label: `Dismiss: payment of ${pr.amount_display} received` });
    const card = $("received-region").firstElementChild;
    card.dataset.payAll = pr.pay_all;
    card.classList.add("cp-received-set");
    return;
  }
  shown.add(pr.id);
  let list = group.querySelector(".cp-received-items");
  if (!list) {
    // From one line to a list: the first request's line moves into it, and a refund is chosen per request below.
    const first = group.querySelector(".cp-received-detail");
    list = element("ul", { className: "cp-received-items", attrs: { "data-testid": "payment-received-items" } });
    list.append(receivedItem(first.querySelector(".cp-received-amount").textContent,
      first.querySelector(".cp-received-description").textContent));
    first.replaceWith(list);
    group.querySelector(".cp-received-refund")?.remove();
  }
  list.append(receivedItem(pr.amount_display, pr.description));
  const count = list.children.length;
  group.querySelector("h2").textContent = `Payment received for ${count} requests, paid together`;
  group.querySelector(".cp-received-dismiss:not(.secondary)").setAttribute("aria-label",
    `Dismiss: payment received for ${count} requests`);
}

function receivedItem(amount, description) {
  const item = element("li", { className: "cp-received-detail" });
  item.append(
    element("span", { className: "cp-received-amount", text: amount }),
    " ",
    element("span", { className: "cp-received-description", text: description }),
  );
  return item;
}

// The banner itself, for a payment or a pay-later link's notice (clinician/links.js).
export function showBanner({ id, title: words, amount, description, testid, label }) {
  if (shown.has(id)) return;
  shown.add(id);
  const pr = { id, amount_display: amount, description };
  const region = $("received-region");
  const card = element("div", { className: "cp-received", attrs: { "data-testid": testid } });
  card.dataset.id = pr.id;
  // When it was paid is in the list below; the banner keeps to what and how much, so it stays two short lines.
  const title = element("h2", { text: words });
  const detail = element("p", { className: "cp-received-detail" });
  detail.append(
    element("span", { className: "cp-received-amount", text: pr.amount_display }),
    " ",
    element("span", { className: "cp-received-description", text: pr.description }),
  );
  const dismiss = element("button", {
    className: "cp-received-dismiss",
    text: "Dismiss",
    attrs: { type: "button", "aria-label": label || `Dismiss: ${words.toLowerCase()}, ${pr.amount_display}` },
  });
  dismiss.addEventListener("click", () => dismissReceived(card));
  card.append(element("div", { className: "cp-received-text" }));
  if (refunds.allowed) {
    // A mistaken charge is seen first here: its refund is one press away, in the request's row below.
    const refund = element("button", {
      className: "cp-received-dismiss cp-received-refund secondary",
      text: "Refund",
      attrs: { type: "button", "aria-label": `Refund the payment of ${pr.amount_display}` },
    });
    refund.addEventListener("click", () => {
      dismissReceived(card);
      startRefund(pr.id);
    });
    card.append(refund);
  }
  card.append(dismiss);
  card.firstChild.append(title, detail);
  region.prepend(card); // the newest on top, and first in focus order
  region.classList.add("cp-has-received");
  document.documentElement.classList.add("cp-banner-shown");
}

function dismissReceived(card) {
  const region = $("received-region");
  const hadFocus = card.contains(document.activeElement);
  card.remove();
  const next = region.firstElementChild;
  if (!next) {
    region.classList.remove("cp-has-received");
    document.documentElement.classList.remove("cp-banner-shown");
  }
  // The keyboard goes on to what is next: the next banner's Dismiss, else the form's first field.
  if (hadFocus) (next?.querySelector("button") ?? $("amount")).focus();
}

// Escape dismisses the banner on top, wherever the focus is.
export function dismissOnEscape() {
  document.addEventListener("keydown", (event) => {
    const top = $("received-region").firstElementChild;
    if (event.key === "Escape" && top) dismissReceived(top);
  });
}
