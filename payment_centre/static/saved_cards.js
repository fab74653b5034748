// The payment centre's saved cards: each card with the policy its patient agreed to, and the clinic's fees charged
// to it (team admins; clinicians when the clinic allows). The server decides everything (who may, what it costs,
// whether the bank took it) and words the outcome; this page asks and shows the answer.

import { api, session } from "/static/session.js";
import { element } from "/widget/static/view.js";

const $ = (id) => document.getElementById(id);
let page = null;
let charging = null; // {card, fee, clientRef, opener}

function row(card) {
  const tr = element("tr", { attrs: { "data-testid": "saved-card-row", "data-id": card.id } });
  const cell = (text) => element("td", { text });
  const policy = element("td");
  const details = element("details");
  details.append(
    element("summary", { text: card.consent_display ? `Agreed ${card.consent_display}` : "Agreed" }),
    element("p", { className: "sc-policy", text: card.consent_text || "" }),
  );
  policy.append(details);
  const actions = element("td", { className: "sc-actions" });
  if (page.may_charge) {
    for (const fee of page.fees) {
      const button = element("button", {
        className: "secondary",
        text: `Charge ${fee.label.toLowerCase()} (${fee.amount_display})`,
        attrs: {
          type: "button",
          "data-testid": "charge-fee",
          "data-kind": fee.kind,
          "aria-label": `Charge ${card.patient.name} the ${fee.label.toLowerCase()} of ${fee.amount_display}`,
        },
      });
      button.addEventListener("click", () => openCharge(card, fee, button));
      actions.append(button);
    }
  }
  tr.append(
    cell(card.patient.name),
    cell([card.card, card.email].filter(Boolean).join(" · ")),
    cell(card.saved_display || "—"),
    policy,
    actions,
  );
  return tr;
}

function render() {
  $("saved-cards-body").replaceChildren(...page.data.map(row));
  $("saved-cards-empty").hidden = page.data.length > 0;
  const fees = page.fees.map((fee) => `${fee.label}: ${fee.amount_display}`).join(" · ");
  $("saved-cards-fees").textContent = fees
    ? `${fees}.${page.may_charge ? "" : " Only a clinic admin can charge them."}`
    : "The clinic hasn't set a no-show or late-cancellation fee. A clinic admin can set them in Client Payments.";
}

function showOutcome(message, kind) {
  const box = $("saved-cards-outcome");
  box.replaceChildren(element("p", { className: `notice ${kind}`, text: message }));
}

function openCharge(card, fee, opener) {
  charging = { card, fee, opener, clientRef: crypto.randomUUID() };
  $("fee-dialog-title").textContent = `Charge the ${fee.label.toLowerCase()}?`;
  $("fee-dialog-text").textContent =
    `${card.patient.name}'s ${card.card || "saved card"} will be charged ${fee.amount_display}, under the policy ` +
    `they agreed to${card.consent_display ? ` on ${card.consent_display}` : ""}.`;
  $("fee-call").value = card.call;
  $("fee-call-error").textContent = "";
  $("fee-call").removeAttribute("aria-invalid");
  $("fee-confirm").textContent = `Charge ${fee.amount_display}`;
  $("fee-confirm").disabled = false;
  $("fee-dialog").showModal();
  $("fee-confirm").focus();
}

function closeCharge() {
  $("fee-dialog").close();
  if (charging && charging.opener) charging.opener.focus();
  charging = null;
}

async function charge() {
  if (!charging || $("fee-confirm").disabled) return;
  const { card, fee, clientRef } = charging;
  $("fee-confirm").disabled = true;
  $("fee-confirm").textContent = "Charging…";
  try {
    const answer = await api(`/api/v1/saved-cards/${encodeURIComponent(card.id)}/fees`, {
      method: "POST",
      body: { kind: fee.kind, call: $("fee-call").value.trim() || undefined, client_ref: clientRef },
    });
    closeCharge();
    showOutcome(answer.message, answer.outcome === "paid" ? "ok" : "warn");
    document.dispatchEvent(new CustomEvent("callpay:payments-changed"));
  } catch (error) {
    if (error.field === "call") {
      $("fee-call-error").textContent = error.message;
      $("fee-call").setAttribute("aria-invalid", "true");
      $("fee-call").focus();
    } else {
      closeCharge();
      showOutcome(error.message, "bad");
      if (error.code === "card_removed") load();
    }
  } finally {
    $("fee-confirm").disabled = false;
    if (charging) $("fee-confirm").textContent = `Charge ${fee.amount_display}`;
  }
}

async function load() {
  try {
    page = await api("/api/v1/saved-cards");
    $("saved-cards-error").hidden = true;
    render();
  } catch (error) {
    $("saved-cards-error").textContent = error.message;
    $("saved-cards-error").hidden = false;
  }
}

if (session && $("saved-cards")) {
  $("fee-form").addEventListener("submit", (event) => {
    event.preventDefault();
    charge();
  });
  $("fee-cancel").addEventListener("click", closeCharge);
  $("fee-dialog").addEventListener("cancel", () => {
    if (charging && charging.opener) window.setTimeout(() => charging?.opener.focus(), 0);
  });
  load();
}
