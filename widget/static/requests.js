// What may be done with a payment request now, as the server decides it: pages read these flags and never work a
// rule out from the status name.

// The server's lifecycle (addon/lifecycle.py) computes them and every PaymentRequest it sends carries them.
const flag = (pr, name) => Boolean(pr && pr[name]);
export const isPayable = (pr) => flag(pr, "payable");
export const isCancelable = (pr) => flag(pr, "cancelable");
export const isRefundable = (pr) => flag(pr, "refundable");
export const hasReceipt = (pr) => flag(pr, "receipt_available");

// Who may pay it: anyone in the call (no payer), or only the participant it is addressed to (by launch id).
export const isForSomeoneElse = (pr, userId) => Boolean(pr && pr.payer && pr.payer.id !== userId);
export const isPayableBy = (pr, userId) => isPayable(pr) && !isForSomeoneElse(pr, userId);

// Someone in the call is paying it right now, as the server last said; it lapses at `expires_at` by itself.
export const payingNow = (pr) => Boolean(pr && pr.paying && Date.parse(pr.paying.expires_at) > Date.now());

// Newest first.
export function newestFirst(requests) {
  return [...requests].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
}

// Whether `incoming` is at least as new as `current` (events can arrive out of order across a reconnect).
export function isNewer(incoming, current) {
  return !current || !incoming.updated_at || !current.updated_at || incoming.updated_at >= current.updated_at;
}
