// What may be done with a payment request now, as the server decides it: pages read these flags and never work a
// rule out from the status name.

// The server's lifecycle (addon/lifecycle.py) computes them and every PaymentRequest it sends carries them.
const flag = (pr, name) => Boolean(pr && pr[name]);
export const isPayable = (pr) => flag(pr, "payable");
export const isCancelable = (pr) => flag(pr, "cancelable");
export const isRefundable = (pr) => flag(pr, "refundable");
export const hasReceipt = (pr) => flag(pr, "receipt_available");

// Newest first.
export function newestFirst(requests) {
  return [...requests].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
}

// Whether `incoming` is at least as new as `current` (events can arrive out of order across a reconnect).
export function isNewer(incoming, current) {
  return !current || !incoming.updated_at || !current.updated_at || incoming.updated_at >= current.updated_at;
}
