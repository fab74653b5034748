// "Request A$800.00? That is more than A$500.00." — the server asks this (ack error `confirm_required`) when a
// request is above the clinic's "confirm requests above" amount. The question is the server's words; this only
// shows them with a Confirm and a Change button, and says which was chosen.

// Shows the question in `box` (emptied first) and focuses Confirm. Confirm calls `onConfirm`, Change (or Escape)
// calls `onChange`; either way the question goes away.
export function askToConfirm(box, question, { onConfirm, onChange }) {
  box.replaceChildren();
  const text = document.createElement("p");
  text.id = "amount-confirm-question";
  text.className = "cp-confirm-question";
  text.textContent = question;
  const confirm = button("Confirm", "amount-confirm");
  const change = button("Change", "amount-change", "secondary");
  const close = (then) => () => {
    box.replaceChildren();
    box.hidden = true;
    then();
  };
  confirm.addEventListener("click", close(onConfirm));
  change.addEventListener("click", close(onChange));
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !box.hidden) {
      event.stopPropagation(); // Escape here means "change it", not "dismiss the pop-up"
      close(onChange)();
    }
  });
  box.setAttribute("role", "group");
  box.setAttribute("aria-labelledby", text.id);
  box.append(text, confirm, change);
  box.hidden = false;
  confirm.focus();
}

function button(label, testid, className = "") {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.dataset.testid = testid;
  if (className) element.className = className;
  return element;
}
