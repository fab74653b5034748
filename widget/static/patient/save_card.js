// A card on file, in the patient widget. When the clinic saves cards, the start of the call asks once: the clinic's
// policy, an email for receipts, then "Agree and save a card" (the consent is recorded by the server with the
// policy exactly as shown here) opens Stripe's card fields for a SetupIntent on the clinic's account, confirmed with
// Stripe.js's confirmSetup; or "Not now", and the call goes on (not asked again in this call). A saved card is shown
// with Remove. The server owns every rule: this module asks it and shows its answer.

import { api, ApiError } from "/static/session.js";
import { $, show, announcer } from "/widget/static/view.js";
import { loadStripeJs, APPEARANCE } from "/widget/static/patient/card.js";

const announce = announcer("pw-status");
const saving = { offer: null, stripe: null, elements: null, element: null, clientSecret: null, busy: false };

export async function startSavedCard() {
  $("pw-savecard-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (saving.element) saveCard();
    else agree();
  });
  $("pw-savecard-not-now").addEventListener("click", notNow);
  $("pw-savedcard-remove").addEventListener("click", () => {
    show("pw-savedcard-confirm", true);
    show("pw-savedcard-actions", false);
    $("pw-savedcard-remove-no").focus();
  });
  $("pw-savedcard-remove-no").addEventListener("click", () => {
    show("pw-savedcard-confirm", false);
    show("pw-savedcard-actions", true);
    $("pw-savedcard-remove").focus();
  });
  $("pw-savedcard-remove-yes").addEventListener("click", removeCard);
  try {
    render(await api("/api/v1/saved-card"), { focus: false });
  } catch {
    // The card on file is a nicety of the clinic's: payments in the call work without it.
  }
}

function render(offer, { focus }) {
  saving.offer = offer;
  const card = offer.card && offer.card.status === "active" ? offer.card : null;
  show("pw-savecard", Boolean(offer.ask));
  show("pw-savedcard", Boolean(card) && !offer.ask);
  if (offer.ask) {
    $("pw-savecard-clinic").textContent = offer.clinic_name;
    $("pw-savecard-policy").textContent = offer.policy;
    if (offer.email && !$("pw-savecard-email").value) $("pw-savecard-email").value = offer.email;
    if (offer.card && offer.card.failure_message) setError(offer.card.failure_message);
  }
  if (card) {
    $("pw-savedcard-clinic").textContent = offer.clinic_name;
    $("pw-savedcard-card").textContent = card.card || "Card";
    $("pw-savedcard-when").textContent = card.consent_display ? `Saved ${card.consent_display}.` : "";
    $("pw-savedcard-policy").textContent = card.consent_text || "";
    show("pw-savedcard-confirm", false);
    show("pw-savedcard-actions", true);
  }
  if (focus) (offer.ask ? $("pw-savecard-title") : card ? $("pw-savedcard-title") : $("pw-list")).focus();
}

function setBusy(busy, label) {
  saving.busy = busy;
  $("pw-savecard-submit").disabled = busy;
  $("pw-savecard-not-now").disabled = busy;
  $("pw-savecard-email").disabled = busy;
  $("pw-savecard-form").setAttribute("aria-busy", busy ? "true" : "false");
  if (label) $("pw-savecard-submit").textContent = label;
  if (saving.element) saving.element.update({ readOnly: busy });
}

function setError(message) {
  $("pw-savecard-error").textContent = message || "";
  show("pw-savecard-error", Boolean(message));
}

function setEmailError(message) {
  const input = $("pw-savecard-email");
  $("pw-savecard-email-error").textContent = message || "";
  show("pw-savecard-email-error", Boolean(message));
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

// "Agree and save a card": the server records the consent and makes the SetupIntent; the card fields open.
async function agree() {
  if (saving.busy) return;
  setError(null);
  setEmailError(null);
  const email = $("pw-savecard-email").value.trim();
  setBusy(true, "Opening the card form…");
  show("pw-savecard-loading", true);
  try {
    const setup = await api("/api/v1/saved-card/setup", {
      method: "POST",
      body: { email, agree: true, policy: saving.offer.policy },
    });
    let StripeJs;
    try {
      StripeJs = await loadStripeJs(setup.stripe_js_url);
    } catch {
      throw new ApiError(0, { code: "stripe_js", message: "We couldn't load the secure card form. Check your connection and try again." });
    }
    saving.stripe = StripeJs(setup.publishable_key, { stripeAccount: setup.stripe_account });
    saving.clientSecret = setup.client_secret;
    saving.elements = saving.stripe.elements({ clientSecret: setup.client_secret, appearance: APPEARANCE });
    saving.element = saving.elements.create("payment", { layout: "tabs" });
    saving.element.mount($("pw-savecard-element"));
    show("pw-savecard-card", true);
    saving.element.once("ready", () => {
      const frame = $("pw-savecard-element").querySelector("iframe");
      if (frame) frame.focus();
      saving.element.focus();
      announce("Enter your card details, then press Save card.");
    });
  } catch (error) {
    if (error instanceof ApiError && error.field === "email") {
      setEmailError(error.message);
      $("pw-savecard-email").focus();
    } else if (error instanceof ApiError && error.code === "policy_changed") {
      setError(error.message);
      await reload();
    } else {
      setError(error instanceof ApiError ? error.message : "Something went wrong. Please try again.");
    }
  } finally {
    show("pw-savecard-loading", false);
    setBusy(false, saving.element ? "Save card" : "Agree and save a card");
  }
}

function saveError(error) {
  if (!error) return "Your card couldn't be saved. Please try again.";
  if (error.type === "validation_error") return error.message || "Check your card details and try again.";
  if (error.code === "setup_intent_authentication_failure") {
    return "Your bank couldn't confirm it was you, so the card wasn't saved. Try again, or try another card.";
  }
  if (error.code === "card_declined") return "Your card was declined, so it wasn't saved. Try another card.";
  return `Your card couldn't be saved — ${(error.message || "please try again.").replace(/^./, (c) => c.toLowerCase())}`;
}

// "Save card": Stripe.js confirms the SetupIntent (3-D Secure in its own dialog when the bank asks); the server
// then asks Stripe whether it really succeeded and saves the card.
async function saveCard() {
  if (saving.busy) return;
  setError(null);
  setBusy(true, "Saving…");
  announce("Saving your card. Please wait.");
  let saved = false;
  try {
    const submitted = await saving.elements.submit();
    if (submitted && submitted.error) {
      setError(saveError(submitted.error));
      return;
    }
    const result = await saving.stripe.confirmSetup({
      elements: saving.elements,
      clientSecret: saving.clientSecret,
      confirmParams: { return_url: window.location.href },
      redirect: "if_required",
    });
    if (result.error) {
      setError(saveError(result.error));
      if (["card_declined", "expired_card"].includes(result.error.code)) saving.element.clear();
      return;
    }
    const offer = await api("/api/v1/saved-card/confirmation", { method: "POST" });
    saved = Boolean(offer.card && offer.card.status === "active");
    if (saved) {
      teardown();
      render(offer, { focus: true });
      announce(`Your card is saved for ${offer.clinic_name}.`);
    } else {
      setError((offer.card && offer.card.failure_message) || "Your card couldn't be saved. Please try again.");
    }
  } catch (error) {
    setError(error instanceof ApiError ? error.message : "Something went wrong. Please try again.");
  } finally {
    if (!saved) setBusy(false, "Save card");
  }
}

function teardown() {
  if (saving.element) {
    try {
      saving.element.destroy();
    } catch {
      // already gone with its frame
    }
  }
  saving.element = null;
  saving.elements = null;
  $("pw-savecard-element").replaceChildren();
  show("pw-savecard-card", false);
  $("pw-savecard-submit").textContent = "Agree and save a card";
}

async function notNow() {
  if (saving.busy) return;
  setBusy(true);
  try {
    const offer = await api("/api/v1/saved-card/decline", { method: "POST" });
    teardown();
    render(offer, { focus: true });
    announce("No card saved. You won't be asked again in this call.");
  } catch (error) {
    setError(error instanceof ApiError ? error.message : "Something went wrong. Please try again.");
  } finally {
    setBusy(false);
  }
}

async function removeCard() {
  const card = saving.offer && saving.offer.card;
  if (!card) return;
  const button = $("pw-savedcard-remove-yes");
  button.disabled = true;
  show("pw-savedcard-error", false);
  try {
    await api(`/api/v1/saved-cards/${encodeURIComponent(card.id)}/remove`, { method: "POST" });
    const offer = await api("/api/v1/saved-card");
    // Removed: the card is gone, and the question isn't put again unprompted in this call.
    render({ ...offer, ask: false }, { focus: false });
    $("pw-list").focus();
    announce("Your card was removed. The clinic can no longer charge it.");
  } catch (error) {
    $("pw-savedcard-error").textContent = error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
    show("pw-savedcard-error", true);
  } finally {
    button.disabled = false;
  }
}

async function reload() {
  try {
    render(await api("/api/v1/saved-card"), { focus: false });
  } catch {
    // keep what is shown
  }
}
