// Instalment plans on the clinician panel: on an unpaid request over the clinic's minimum, "Split into
// instalments" asks how many and how often, and offers the plan. The request is then replaced by the first
// instalment, which the patient pays now; the server decides everything else and words it.

import { api } from "/static/session.js";
import { element } from "/widget/static/view.js";

const INTERVALS = [["weekly", "Every week"], ["fortnightly", "Every two weeks"], ["monthly", "Every month"]];
let plans = null; // {min_amount, currency} from the panel's config; null: plans are off
let rerender = () => {};
let say = () => {};
let openFor = null; // the request whose plan form is open, and what was chosen in it (the list re-renders often)
const chosen = { count: "3", interval: "monthly" };

export function wirePlans(config, { render, announce }) {
  plans = config && config.min_amount !== null ? config : null;
  rerender = render;
  say = announce;
}

function offerable(pr) {
  return Boolean(plans && pr.payable && pr.capture !== "hold" && pr.currency === plans.currency
    && pr.amount > plans.min_amount && !/ — instalment \d+ of \d+/.test(pr.description));
}

function select(id, label, options, key) {
  const wrap = element("div", { className: "pp-field" });
  const input = element("select", { attrs: { id, "data-testid": `plan-${key}` } });
  for (const [value, words] of options) {
    const option = element("option", { text: words, attrs: { value } });
    if (value === chosen[key]) option.selected = true;
    input.append(option);
  }
  input.addEventListener("change", () => { chosen[key] = input.value; });
  wrap.append(element("label", { text: label, attrs: { for: id } }), input);
  return wrap;
}

// The part of a request's list item about instalments; null when it can't be split.
export function planPart(pr) {
  if (!offerable(pr)) return null;
  const part = element("div", { className: "pp-part" });
  if (openFor !== pr.id) {
    const button = element("button", {
      className: "secondary", text: "Split into instalments",
      attrs: { type: "button", "data-testid": "plan-offer", "aria-label": `Split ${pr.amount_display}, ${pr.description}, into instalments` },
    });
    button.addEventListener("click", () => {
      openFor = pr.id;
      rerender();
      document.getElementById(`plan-count-${pr.id}`)?.focus();
    });
    part.append(button);
    return part;
  }
  const form = element("form", { className: "pp-form", attrs: { "aria-label": `Instalments for ${pr.description}` } });
  const counts = Array.from({ length: 11 }, (_, n) => [String(n + 2), `${n + 2} instalments`]);
  const error = element("p", { className: "field-error", attrs: { role: "alert", "data-testid": "plan-error" } });
  const submit = element("button", { text: "Offer the plan", attrs: { type: "submit", "data-testid": "plan-submit" } });
  const back = element("button", { className: "secondary", text: "Don't split it", attrs: { type: "button" } });
  back.addEventListener("click", () => { openFor = null; rerender(); });
  form.append(
    element("p", { className: "muted", text: `The patient pays the first instalment now; the rest are charged on their dates to their saved card, or emailed as a link.` }),
    select(`plan-count-${pr.id}`, "How many", counts, "count"),
    select(`plan-interval-${pr.id}`, "How often", INTERVALS, "interval"),
    error,
  );
  const actions = element("div", { className: "cp-request-actions" });
  actions.append(submit, back);
  form.append(actions);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const plan = await api(`/api/v1/payment-requests/${encodeURIComponent(pr.id)}/plan`, {
        method: "POST", body: { count: Number(chosen.count), interval: chosen.interval },
      });
      openFor = null;
      rerender();
      say(`Plan made: ${plan.amount_display} in ${plan.count} instalments. The patient can pay the first, ` +
        `${plan.instalments[0].amount_display}, now; the next is ${plan.next_amount_display} on ${plan.next_due_display}.`);
    } catch (err) {
      submit.disabled = false;
      error.textContent = err.message;
    }
  });
  part.append(form);
  return part;
}
