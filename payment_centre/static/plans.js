// The payment centre's instalment plans: the list, one plan's schedule (a receipt for each instalment paid), Cancel
// plan, and Offer an instalment plan on the payment whose details are open. The server decides who may, how the
// amounts split and what each instalment's status is; this page shows its answers and sends what was chosen.

import { api, download, session } from "/static/session.js";
import { element } from "/widget/static/view.js";

const $ = (id) => document.getElementById(id);
const config = JSON.parse($("centre-config").textContent);
const PLAN_WORDS = { active: "Active", completed: "Paid in full", canceled: "Cancelled" };
const INSTALMENT_WORDS = {
  scheduled: "Scheduled",
  charging: "Being charged",
  paid: "Paid",
  unpaid: "Waiting for the patient",
  canceled: "Cancelled",
};
const INTERVAL_WORDS = { weekly: "every week", fortnightly: "every two weeks", monthly: "every month" };
let plans = [];
let open = null; // the plan whose schedule is shown
let opener = null;
let shown = null; // the payment whose details are open (for Offer a plan)

function outcome(message, kind) {
  $("plan-outcome").replaceChildren(element("p", { className: `notice ${kind}`, text: message }));
}

// --- The list ----------------------------------------------------------------------------------------------

function row(plan) {
  const tr = element("tr", { attrs: { "data-testid": "plan-row", "data-id": plan.id } });
  const cell = (text, className) => element("td", { text, className });
  const next = plan.next_due_display ? `${plan.next_amount_display} on ${plan.next_due_display}` : "—";
  const status = element("td");
  status.append(element("span", { className: `cp-status cp-status-${plan.status}`, text: PLAN_WORDS[plan.status] }));
  const action = element("td");
  const button = element("button", {
    className: "secondary cp-open",
    text: "Schedule",
    attrs: { type: "button", "data-testid": "plan-open", "aria-label": `Schedule of ${plan.description}, ${plan.amount_display}` },
  });
  button.addEventListener("click", () => openPlan(plan.id, button));
  action.append(button);
  tr.append(
    cell([plan.patient_name, plan.patient_email].filter(Boolean).join(" · ") || "—"),
    cell(`${plan.description} (${plan.count} instalments, ${INTERVAL_WORDS[plan.interval]})`),
    cell(plan.amount_display, "num"),
    cell(plan.paid_display, "num"),
    cell(plan.outstanding_display, "num"),
    cell(next),
    status,
    action,
  );
  return tr;
}

async function load() {
  try {
    plans = (await api("/api/v1/plans")).data;
    $("plans-error").hidden = true;
  } catch (error) {
    $("plans-error").textContent = error.message;
    $("plans-error").hidden = false;
    return;
  }
  $("plans-body").replaceChildren(...plans.map(row));
  $("plans-empty").hidden = plans.length > 0;
  if (open) {
    const fresh = plans.find((plan) => plan.id === open.id);
    if (fresh) renderPlan(fresh);
  }
}

// --- One plan ----------------------------------------------------------------------------------------------

function renderPlan(plan) {
  open = plan;
  $("plan-detail-title").textContent = `${plan.amount_display} · ${plan.description}`;
  const facts = $("plan-facts");
  facts.replaceChildren();
  const fact = (label, value) => {
    if (!value) return;
    const div = element("div");
    div.append(element("dt", { text: label }), element("dd", { text: value }));
    facts.append(div);
  };
  fact("Status", PLAN_WORDS[plan.status]);
  fact("Patient", [plan.patient_name, plan.patient_email].filter(Boolean).join(" · "));
  fact("Clinician", plan.clinician.name);
  fact("Instalments", `${plan.count}, ${INTERVAL_WORDS[plan.interval]}`);
  fact("Paid", plan.paid_display);
  fact("Outstanding", plan.outstanding_display);
  fact("Next", plan.next_due_display ? `${plan.next_amount_display} on ${plan.next_due_display}` : null);
  $("plan-schedule-body").replaceChildren(...plan.instalments.map((inst) => {
    const tr = element("tr", { attrs: { "data-testid": "instalment-row", "data-number": String(inst.number) } });
    let words = INSTALMENT_WORDS[inst.status] ?? inst.status;
    if (inst.status === "unpaid" && inst.payment_link) words = "Pay-later link sent";
    if (inst.late) words += " (charged late)";
    const receipt = element("td");
    if (inst.status === "paid" && inst.payment_request) {
      const button = element("button", {
        className: "secondary cp-open",
        text: "Receipt (PDF)",
        attrs: { type: "button", "aria-label": `Receipt for instalment ${inst.number}` },
      });
      button.addEventListener("click", () =>
        download(`/api/v1/payment-requests/${encodeURIComponent(inst.payment_request)}/receipt.pdf`, "receipt.pdf")
          .catch((error) => outcome(error.message, "bad")));
      receipt.append(button);
    }
    tr.append(
      element("td", { text: `${inst.number} of ${plan.count}` }),
      element("td", { text: inst.due_display }),
      element("td", { text: inst.amount_display, className: "num" }),
      element("td", { text: words }),
      receipt,
    );
    return tr;
  }));
  $("plan-cancel").hidden = !plan.cancelable;
}

async function openPlan(id, from) {
  opener = from ?? null;
  try {
    renderPlan(await api(`/api/v1/plans/${encodeURIComponent(id)}`));
  } catch (error) {
    outcome(error.message, "bad");
    return;
  }
  $("plan-detail").hidden = false;
  $("plan-detail").focus();
}

function closePlan() {
  $("plan-detail").hidden = true;
  open = null;
  opener?.focus();
}

async function cancelPlan() {
  if (!open) return;
  const button = $("plan-cancel-confirm");
  button.disabled = true;
  try {
    const plan = await api(`/api/v1/plans/${encodeURIComponent(open.id)}/cancel`, { method: "POST", body: {} });
    $("plan-cancel-dialog").close();
    renderPlan(plan);
    outcome("Plan cancelled: no more instalments will be charged or sent.", "ok");
    $("plan-detail").focus();
    load();
  } catch (error) {
    $("plan-cancel-dialog").close();
    outcome(error.message, "bad");
  } finally {
    button.disabled = false;
  }
}

// --- Offer a plan on the payment shown ---------------------------------------------------------------------

function offerable(pr) {
  const plan = config.plans;
  return Boolean(plan && plan.min_amount !== null && pr.payable && pr.capture !== "hold"
    && pr.currency === plan.currency && pr.amount > plan.min_amount);
}

function preview() {
  if (!shown) return;
  const count = Number($("plan-count").value);
  $("plan-preview").textContent =
    `${shown.amount_display} in ${count} instalments, ${INTERVAL_WORDS[$("plan-interval").value]}; the first is paid now.`;
}

async function offer() {
  if (!shown) return;
  const button = $("plan-submit");
  button.disabled = true;
  $("plan-error").hidden = true;
  try {
    const plan = await api(`/api/v1/payment-requests/${encodeURIComponent(shown.id)}/plan`, {
      method: "POST",
      body: { count: Number($("plan-count").value), interval: $("plan-interval").value },
    });
    $("plan-offer-form").hidden = true;
    $("plan-offer").hidden = true;
    const first = plan.instalments[0];
    outcome(
      `Plan made: ${plan.amount_display} in ${plan.count} instalments. The patient can pay the first, ` +
        `${first.amount_display}, now; the next is ${plan.next_amount_display} on ${plan.next_due_display}.`,
      "ok",
    );
    document.dispatchEvent(new CustomEvent("callpay:payments-changed"));
    await load();
    openPlan(plan.id);
  } catch (error) {
    $("plan-error").textContent = error.message;
    $("plan-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

if (session && $("plans")) {
  $("plan-close").addEventListener("click", closePlan);
  $("plan-detail").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePlan();
  });
  $("plan-cancel").addEventListener("click", () => {
    $("plan-cancel-dialog").showModal();
    $("plan-cancel-keep").focus();
  });
  $("plan-cancel-keep").addEventListener("click", () => {
    $("plan-cancel-dialog").close();
    $("plan-cancel").focus();
  });
  $("plan-cancel-form").addEventListener("submit", (event) => {
    event.preventDefault();
    cancelPlan();
  });
  document.addEventListener("callpay:payments-changed", () => load());
  // The payment shown in the details: the plan it was split into, or is an instalment of.
  document.addEventListener("callpay:payment-shown", (event) => {
    shown = event.detail;
    const plan = plans.find((p) => p.payment_request === shown.id
      || p.instalments.some((inst) => inst.payment_request === shown.id));
    $("detail-plan").hidden = !plan;
    if (!plan) return;
    const inst = plan.instalments.find((i) => i.payment_request === shown.id);
    $("detail-plan-words").textContent = inst
      ? `Instalment ${inst.number} of ${plan.count} of a plan for ${plan.amount_display}. `
      : `Split into an instalment plan of ${plan.count} (${plan.amount_display}). `;
    $("detail-plan-open").onclick = () => openPlan(plan.id, $("detail-plan-open"));
  });
  if ($("plan-offer")) {
    document.addEventListener("callpay:payment-shown", (event) => {
      shown = event.detail;
      $("plan-offer").hidden = !offerable(shown);
      $("plan-offer-form").hidden = true;
    });
    $("plan-offer").addEventListener("click", () => {
      $("plan-offer-form").hidden = false;
      $("plan-error").hidden = true;
      preview();
      $("plan-count").focus();
    });
    $("plan-count").addEventListener("change", preview);
    $("plan-interval").addEventListener("change", preview);
    $("plan-offer-cancel").addEventListener("click", () => {
      $("plan-offer-form").hidden = true;
      $("plan-offer").focus();
    });
    $("plan-offer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      offer();
    });
  }
  load();
}
