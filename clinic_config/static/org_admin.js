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
    }
  });
  li.append(label, detail);
  return li;
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
