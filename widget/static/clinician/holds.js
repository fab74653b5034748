// Card holds on the clinician's panel: send a request as a hold, then Charge now (the whole hold or a smaller final
// amount, never more) or Release hold (nothing charged). The server decides what is allowed (`capturable`).

import { $, element } from "/widget/static/view.js";

const finalTyped = new Map(); // request id → the final amount typed, kept across the list's re-renders
let act = async () => false; // how Charge now / Release hold reach the server; clinician.js sets it

export function onHoldAction(handler) {
  act = handler;
}

// What the form sends, with "hold" when the clinician ticked it.
export function withCapture(body) {
  return $("capture-hold")?.checked ? { ...body, capture: "hold" } : body;
}

export function holdMeta(pr) {
  if (pr.status !== "authorized" || !pr.amount_authorized_display) return null;
  return `Card held for ${pr.amount_authorized_display}, not charged yet`;
}

export function renderHoldActions(pr) {
  const group = element("div", { className: "cp-hold", attrs: { role: "group", "aria-label": `Card hold: ${pr.description}` } });
  const inputId = `final-${pr.id}`;
  const hintId = `final-hint-${pr.id}`;
  const label = element("label", { text: "Final amount (optional)", attrs: { for: inputId } });
  const hint = element("p", {
    className: "muted cp-hint",
    text: `Up to ${pr.amount_authorized_display || pr.amount_display}. Leave it empty to charge the whole hold.`,
  });
  hint.id = hintId;
  const input = element("input", {
    attrs: { id: inputId, type: "text", inputmode: "decimal", autocomplete: "off", "aria-describedby": hintId },
  });
  input.dataset.testid = "final-amount";
  input.value = finalTyped.get(pr.id) || "";
  input.addEventListener("input", () => finalTyped.set(pr.id, input.value));
  const what = `${pr.amount_authorized_display || pr.amount_display}, ${pr.description}`;
  const charge = element("button", { text: "Charge now", attrs: { type: "button", "aria-label": `Charge now: ${what}` } });
  charge.dataset.action = "capture";
  charge.dataset.testid = "charge-now";
  const release = element("button", {
    className: "secondary",
    text: "Release hold",
    attrs: { type: "button", "aria-label": `Release hold: ${what}` },
  });
  release.dataset.action = "release";
  release.dataset.testid = "release-hold";
  const run = async (kind) => {
    charge.disabled = release.disabled = true;
    const amount = input.value.trim();
    const done = await act(kind, pr, kind === "capture" && amount ? amount : null);
    charge.disabled = release.disabled = false;
    if (done) finalTyped.delete(pr.id);
  };
  charge.addEventListener("click", () => run("capture"));
  release.addEventListener("click", () => run("release"));
  const buttons = element("div", { className: "cp-request-actions" });
  buttons.append(charge, release);
  group.append(label, hint, input, buttons);
  return group;
}
