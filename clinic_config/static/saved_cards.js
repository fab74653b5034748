// Configure > Client Payments, Saved cards: on or off, the policy patients agree to, the two fees (typed as people
// type amounts; the server reads them in the clinic's locale and says what it understood), and whether clinicians
// may charge them. The rules (a policy is required while on) live on the server.

const $ = (id) => document.getElementById(id);

export const CARD_FIELDS = [
  "saved_cards_enabled", "saved_card_policy", "no_show_fee", "late_cancellation_fee", "clinician_fees",
  "plan_min_amount",
];

export function renderCardSettings(s) {
  $("saved_cards_enabled").checked = Boolean(s.saved_cards_enabled);
  $("saved_card_policy").value = s.saved_card_policy ?? "";
  $("no_show_fee").value = s.no_show_fee_text ?? "";
  $("late_cancellation_fee").value = s.late_cancellation_fee_text ?? "";
  $("no_show_fee-display").textContent = s.no_show_fee_display ? `Charged as ${s.no_show_fee_display}` : "";
  $("late_cancellation_fee-display").textContent = s.late_cancellation_fee_display
    ? `Charged as ${s.late_cancellation_fee_display}`
    : "";
  $("clinician_fees").checked = Boolean(s.clinician_fees);
  $("plan_min_amount").value = s.plan_min_amount_text ?? "";
  $("plan_min_amount-display").textContent = s.plan_min_amount_display
    ? `Requests over ${s.plan_min_amount_display} can be split`
    : "";
}

export function cardSettings() {
  return {
    saved_cards_enabled: $("saved_cards_enabled").checked,
    saved_card_policy: $("saved_card_policy").value,
    no_show_fee: $("no_show_fee").value,
    late_cancellation_fee: $("late_cancellation_fee").value,
    clinician_fees: $("clinician_fees").checked,
    plan_min_amount: $("plan_min_amount").value,
  };
}
