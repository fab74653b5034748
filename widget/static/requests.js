// What may be done with a payment request now, as the server decides it: pages read these flags and never work a
// rule out from the status name.

// TEMPORARY until the flags are served: the old status rule.
const flag = (pr, name, statuses) => Boolean(pr && (name in pr ? pr[name] : statuses.includes(pr.status)));
export const isPayable = (pr) => flag(pr, "payable", ["requested", "failed"]);
export const isCancelable = (pr) => flag(pr, "cancelable", ["requested", "failed"]);
export const hasReceipt = (pr) => flag(pr, "receipt_available", ["paid", "refunded", "partially_refunded"]);

// Newest first.
export function newestFirst(requests) {
  return [...requests].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
}

// Whether `incoming` is at least as new as `current` (events can arrive out of order across a reconnect).
export function isNewer(incoming, current) {
  return !current || !incoming.updated_at || !current.updated_at || incoming.updated_at >= current.updated_at;
}
