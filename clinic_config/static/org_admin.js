// The org admin's on/off switch for Callpay in each clinic. Bearer token only (no cookies, no form posts).
import { session, api } from "/static/session.js";

const list = document.getElementById("clinics");
const announcer = document.getElementById("announcer");

function announce(message, kind = "ok") {
  const p = document.createElement("p");
  p.className = `notice ${kind}`;
  p.textContent = message;
  announcer.replaceChildren(p);
}

function row(clinic) {
  const li = document.createElement("li");
  li.className = "clinic-row";
  li.dataset.clinic = clinic.id;
  const label = document.createElement("label");
  label.className = "switch";
  const input = document.createElement("input");
  input.type = "checkbox";
  input.setAttribute("role", "switch");
  input.checked = clinic.addon_enabled;
  input.setAttribute("data-testid", `addon-switch-${clinic.id}`);
  const name = document.createElement("span");
  name.className = "clinic-name";
  name.textContent = clinic.name || clinic.id;
  label.append(input, name);
  const detail = document.createElement("p");
  detail.className = "muted";
  const describe = (c) => {
    detail.textContent = c.status.payments_available ? "Taking payments." : c.status.reason;
  };
  describe(clinic);
  input.addEventListener("change", async () => {
    const asked = !input.checked;
    if (asked) {
      // Turning it off stops every clinician of the clinic, mid-call too: ask first, saying so.
      input.checked = true;
      if (!(await confirmTurningOff(li, input, name.textContent))) return;
      input.checked = false;
    }
    input.disabled = true;
    try {
      const updated = await api(`/api/v1/org/clinics/${encodeURIComponent(clinic.id)}`, {
        method: "PATCH",
        body: { addon_enabled: input.checked },
      });
      input.checked = updated.addon_enabled;
      describe(updated);
      announce(`Callpay is now ${updated.addon_enabled ? "on" : "off"} for ${name.textContent}.`);
    } catch (error) {
      input.checked = !input.checked;
      announce(error.message, "bad");
    } finally {
      input.disabled = false;
      if (asked) input.focus(); // the question's buttons are gone: back to the switch it was about
    }
  });
  li.append(label, detail);
  return li;
}

// "Turn Callpay off for <clinic>?" under the clinic's switch; answers true for Turn off. Keep it on, or Escape,
// leaves it on and puts the keyboard back on the switch.
function confirmTurningOff(li, input, clinicName) {
  li.querySelector(".confirm")?.remove();
  return new Promise((resolve) => {
    const box = document.createElement("div");
    box.className = "confirm org-confirm";
    box.setAttribute("role", "group");
    box.dataset.testid = "addon-off-confirm";
    const question = document.createElement("p");
    question.id = `off-${li.dataset.clinic}`;
    question.className = "org-confirm-question";
    question.textContent = `Turn Callpay off for ${clinicName}?`;
    const effect = document.createElement("p");
    effect.textContent =
      "Its clinicians can't request payments from then on, including in calls under way, and patients can't pay " +
      "open requests by card until you turn it back on.";
    box.setAttribute("aria-labelledby", question.id);
    const off = document.createElement("button");
    off.type = "button";
    off.className = "danger";
    off.textContent = "Turn off";
    const keep = document.createElement("button");
    keep.type = "button";
    keep.className = "secondary";
    keep.textContent = "Keep it on";
    const answer = (turnOff) => {
      box.remove();
      if (!turnOff) input.focus();
      resolve(turnOff);
    };
    off.addEventListener("click", () => answer(true));
    keep.addEventListener("click", () => answer(false));
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") answer(false);
    });
    box.append(question, effect, off, keep);
    li.append(box);
    keep.focus();
  });
}

async function load() {
  try {
    const { clinics } = await api("/api/v1/org/clinics");
    list.replaceChildren(...clinics.map(row));
    document.getElementById("empty").hidden = clinics.length > 0;
  } catch (error) {
    announce(error.message, "bad");
  }
}

if (session) load();
