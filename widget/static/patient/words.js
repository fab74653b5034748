// What the patient reads: the words for each state, and Stripe's errors in plain words.

export const STATUS_WORDS = {
  requested: "Waiting for payment",
  processing: "Processing your payment…",
  authorized: "Card authorised — not charged yet. You're charged at the end of the consultation.",
  paid: "Paid",
  failed: "Not paid yet — the last attempt didn't go through",
  canceled: "Cancelled by your clinician",
  refunded: "Refunded",
  partially_refunded: "Paid, partly refunded",
};

export const RELEASED_WORDS = "Hold released by your clinician — you haven't been charged";
export const SPLIT_WORDS = "Split into instalments — nothing charged for this one";

export function statusWords(pr) {
  if (pr.capture === "hold" && pr.status === "canceled") return RELEASED_WORDS;
  if (pr.status === "canceled" && pr.replaced_by_plan) return SPLIT_WORDS;
  return STATUS_WORDS[pr.status] || pr.status;
}

// The confirmation's first line: paid in full, or what has happened since (a refund).
export function successLead(pr, clinic) {
  return pr.status === "paid" ? `Your payment to ${clinic} is complete.` : `${statusWords(pr)}.`;
}

// What an open request says while the clinic can't take card payments; the notice above the list says why.
export const NOT_PAYABLE_NOW = "Can't be paid by card right now";
export const UNAVAILABLE_FALLBACK =
  "The clinic can't take card payments right now. Your clinician will tell you how to pay.";
export const SESSION_ENDED = "Your session has ended. Close this and open it again from the video call.";
export const NOT_FROM_CALL = "This page opens from the video call. Close it and open it again from there.";
export const CONNECTION_LOST = "Connection lost. Reconnecting…";
export const CANCELED_NOTICE = "Your clinician cancelled that payment request. You haven't been charged.";
export const CANCELED_WHILE_PAYING =
  "Your clinician cancelled this payment request while you were paying. Your card hasn't been charged.";

// A request the clinician addressed to another participant of the call.
export function sentToWords(pr) {
  return `Sent to ${pr.payer.name} to pay`;
}

function lowerFirst(text) {
  return text ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

export function paymentErrorMessage(error) {
  if (!error) return "Payment failed. Please try again.";
  if (error.type === "validation_error") return error.message || "Check your card details and try again.";
  if (error.type === "api_connection_error") {
    return "We couldn't reach the payment service. Check your connection and try again.";
  }
  const code = error.code;
  const decline = error.decline_code;
  if (code === "payment_intent_authentication_failure") {
    return "Payment failed — your bank couldn't confirm it was you. Try again, or try another card.";
  }
  if (code === "card_declined" && decline === "insufficient_funds") {
    return "Payment failed — your card doesn't have enough funds. Try another card.";
  }
  if (code === "card_declined") return "Payment failed — your card was declined. Try another card.";
  if (code === "expired_card") return "Payment failed — your card has expired. Try another card.";
  if (code === "incorrect_cvc") return "Payment failed — the security code (CVC) is wrong. Check it and try again.";
  if (code === "incorrect_number" || code === "invalid_number") {
    return "Payment failed — the card number is wrong. Check it and try again.";
  }
  if (code === "processing_error") {
    return "Payment failed — there was a problem processing your card. Try again in a moment.";
  }
  const detail = (error.message || "please try again.").trim();
  return `Payment failed — ${lowerFirst(detail)}${/[.!?]$/.test(detail) ? "" : "."}`;
}

// A failure that means these card details won't pay, so the fields are cleared for another card (a wrong CVC or
// number is left for the patient to correct, and a connection problem leaves everything as it was).
export function wantsAnotherCard(error) {
  return Boolean(error) && ["card_declined", "expired_card"].includes(error.code);
}

// Pay all: a request of the set stopped being payable before its card payment existed (the server words the same
// news once it does: its 409 set_changed).
export function setChangedWords(lost, total) {
  const names = lost.map((pr) => `${pr.amount_display} for ${pr.description}`);
  const what = names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  let reason;
  if (lost.every((pr) => pr.status === "canceled")) reason = `Your clinician cancelled ${what}. You haven't been charged for it.`;
  else if (lost.every((pr) => pr.receipt_available)) reason = `${what} has been paid already.`;
  else reason = `${what} can't be paid now.`;
  return total ? `${reason} The new total is ${total}.` : `${reason} There's nothing left to pay.`;
}
