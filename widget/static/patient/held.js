// Card holds, as the patient sees them: the card authorised (nothing charged yet), then charged at the end of the
// consultation, or released with nothing charged. The server's status says which; this only chooses the words.

import { announce, backToList, showConnection } from "/widget/static/patient/list.js";
import { RELEASED_WORDS } from "/widget/static/patient/words.js";

export function isHeld(pr) {
  return Boolean(pr) && pr.status === "authorized";
}

function heldAmount(pr) {
  return pr.amount_authorized_display || pr.amount_display;
}

// The card is authorised: back to the list, saying plainly that no money has moved.
export function leaveHeld(pr) {
  backToList(pr.id);
  const words = `Your card is authorised for ${heldAmount(pr)}. Nothing is charged until the end of your consultation.`;
  announce(words);
  showConnection(words, "");
}

// What the patient is told when a hold they authorised changes: charged (for how much) or released.
export function holdNews(before, pr) {
  if (!isHeld(before) || !pr || pr.capture !== "hold") return null;
  if (pr.status === "canceled") return `${RELEASED_WORDS}.`;
  if (pr.paid_at) return `Your clinician charged ${pr.amount_display} of the ${heldAmount(before)} held on your card.`;
  return null;
}
