// The card fields: Stripe.js loaded once, its Payment Element mounted for the request being paid, focused, cleared
// after a decline, and taken down when the patient leaves the step.

import { $ } from "/widget/static/view.js";
import { state } from "/widget/static/patient/state.js";

export const APPEARANCE = {
  theme: "stripe",
  variables: { colorPrimary: "#0b5cad", colorText: "#1a1f36", colorDanger: "#a4141c", fontSizeBase: "16px" },
};

const stripeScripts = new Map(); // url -> Promise

export function loadStripeJs(url) {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  if (!stripeScripts.has(url)) {
    const loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.addEventListener("load", () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("no Stripe"))));
      script.addEventListener("error", () => reject(new Error("Stripe.js did not load")));
      document.head.append(script);
    });
    loading.catch(() => stripeScripts.delete(url)); // let a later try load it again
    stripeScripts.set(url, loading);
  }
  return stripeScripts.get(url);
}

// Mount the Payment Element for the PaymentIntent the server started; answers the checkout it belongs to.
export function mountCard(StripeJs, data, { requestId, email }) {
  const stripe = StripeJs(data.publishable_key, { stripeAccount: data.stripe_account });
  const elements = stripe.elements({ clientSecret: data.client_secret, appearance: APPEARANCE });
  const element = elements.create("payment", { layout: "tabs" });
  element.mount($("pw-payment-element"));
  return { requestId, email, clientSecret: data.client_secret, stripe, elements, element };
}

export function teardownCard() {
  if (state.checkout && state.checkout.element) {
    try {
      state.checkout.element.destroy();
    } catch {
      // already gone with its frame; nothing to clean up
    }
  }
  $("pw-payment-element").replaceChildren();
}

// Move the keyboard into the card fields. The fields live in Stripe's cross-origin frame, and Chromium lets a frame
// take focus only once it holds focus itself, so the frame element is focused first, then the field inside it.
export function focusCardFields() {
  const frame = $("pw-payment-element").querySelector("iframe");
  if (frame) frame.focus();
  if (state.checkout && state.checkout.element) state.checkout.element.focus();
}

// Empty the card fields for another card (the Element keeps its own state; only it can reset it), then put the
// patient in the card number.
export function clearCardFields() {
  if (state.checkout && state.checkout.element) state.checkout.element.clear();
  focusCardFields();
}

export function setCardReadOnly(readOnly) {
  if (state.checkout && state.checkout.element) state.checkout.element.update({ readOnly });
}

// Submit the card fields and confirm the payment with Stripe, staying on this page unless the bank needs a
// redirect. Resolves to null when paid, or to Stripe's error (shown by the caller in the patient's words).
export async function confirmCard(checkout) {
  const submitted = await checkout.elements.submit();
  if (submitted && submitted.error) return submitted.error;
  const result = await checkout.stripe.confirmPayment({
    elements: checkout.elements,
    clientSecret: checkout.clientSecret,
    confirmParams: { return_url: window.location.href },
    redirect: "if_required",
  });
  return result.error ?? null;
}
