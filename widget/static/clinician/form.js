// The Request payment form: amount (as typed: the server reads it), what it's for (with a counter near the
// server's limit), every problem shown at once, and one request however often it is sent.

import { askToConfirm } from "/widget/static/confirm_amount.js";
import { $, announcer } from "/widget/static/view.js";

const config = JSON.parse($("panel-config").textContent);
const form = $("request-form");
const amountInput = $("amount");
const descriptionInput = $("description");
const submit = $("submit");
const speak = announcer("announcer");

const DESCRIPTION_MAX = config.description_max;
const COUNT_FROM = Math.floor(DESCRIPTION_MAX * 0.8); // the counter shows from here on
let pendingRef = null; // the client_ref of a request not yet acknowledged: a resend reuses it, so no duplicate

// Characters as the server counts them (code points of the text without surrounding spaces).
const length = (text) => [...text.trim()].length;

function showFieldError(field, message, { focus = true } = {}) {
  const box = $(`${field}-error`);
  const input = { amount: amountInput, description: descriptionInput }[field];
  if (!box || !input) return false;
  box.textContent = message;
  box.hidden = false;
  input.setAttribute("aria-invalid", "true");
  if (focus) input.focus();
  return true;
}

function clearErrors() {
  $("amount-confirm").hidden = true;
  $("amount-confirm").replaceChildren();
  for (const id of ["amount-error", "description-error", "form-error"]) {
    $(id).hidden = true;
    $(id).textContent = "";
  }
  amountInput.removeAttribute("aria-invalid");
  descriptionInput.removeAttribute("aria-invalid");
}

export function showFormError(message) {
  $("form-error").textContent = message;
  $("form-error").hidden = false;
}

function descriptionProblem(typed) {
  if (!typed.trim()) return "Say what the payment is for.";
  const over = length(typed) - DESCRIPTION_MAX;
  if (over > 0) return `Keep the description to ${DESCRIPTION_MAX} characters or fewer (${over} too many).`;
  return null;
}

// The server's answer: every problem at once (`errors`), each beside its field, the first one focused. The amount
// is read only there (the clinic's locale, currency and limits); the description's length is also counted here,
// and that count says by how much it is over.
function showProblems(error) {
  const problems = error.errors ?? [error];
  problems.forEach((problem, index) => {
    const message = (problem.field === "description" && descriptionProblem(descriptionInput.value)) || problem.message;
    if (!(problem.field && showFieldError(problem.field, message, { focus: index === 0 }))) showFormError(message);
  });
}

// "412 of 500 characters", shown near the limit; past it, how many too many. Screen readers hear it when they come
// to the field (it describes it) and once as the limit is reached or passed, not on every key.
let lastSaid = "under";
function updateCounter() {
  const count = length(descriptionInput.value);
  const counter = $("description-count");
  const over = count - DESCRIPTION_MAX;
  counter.hidden = count < COUNT_FROM;
  counter.textContent = over > 0
    ? `${count} of ${DESCRIPTION_MAX} characters: ${over} too many`
    : `${count} of ${DESCRIPTION_MAX} characters`;
  counter.classList.toggle("cp-count-over", over > 0);
  const now = over > 0 ? "over" : count === DESCRIPTION_MAX ? "at" : "under";
  if (now !== lastSaid && now !== "under") {
    speak(`The description is ${now === "over" ? "over" : "at"} the limit of ${DESCRIPTION_MAX} characters.`);
  }
  lastSaid = now;
}

function newRef() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

// `send(body)` emits request_payment and answers the server's ack (it rejects when no answer comes); `onCreated`
// takes the new request.
export function wireForm({ send, onCreated }) {
  for (const preset of document.querySelectorAll(".cp-preset")) {
    preset.addEventListener("click", () => {
      amountInput.value = preset.dataset.amount;
      pendingRef = null;
      descriptionInput.focus();
    });
  }
  const others = ["item-code", "payer", "capture-hold"].map((id) => document.getElementById(id));
  for (const input of [amountInput, descriptionInput, ...others].filter(Boolean)) {
    input.addEventListener("input", () => {
      pendingRef = null; // different details make a different request
    });
  }
  descriptionInput.addEventListener("input", updateCounter);
  updateCounter();

  // `confirm`: the clinician has said yes to the server's "Request A$800.00? That is more than A$500.00."
  async function sendRequest(confirm) {
    pendingRef ??= newRef();
    const body = { amount: amountInput.value.trim(), description: descriptionInput.value, client_ref: pendingRef };
    if (confirm) body.confirm = true;
    // The item number is optional; it goes on the patient's receipt (a Medicare or health fund item).
    const itemCode = document.getElementById("item-code")?.value.trim();
    if (itemCode) body.item_code = itemCode;
    submit.disabled = true;
    submit.textContent = "Sending…";
    let ack;
    try {
      ack = await send(body);
    } catch {
      // No answer: keep the same client_ref, so pressing again can't create a second request.
      showFormError("No answer from Callpay yet. Check your connection, then press Request payment again.");
      return;
    } finally {
      submit.disabled = false;
      submit.textContent = "Request payment";
    }
    if (!ack.ok && ack.error.code === "confirm_required") {
      // Nothing was made: the same client_ref goes again with the clinician's yes.
      askToConfirm($("amount-confirm"), ack.error.message, {
        onConfirm: () => sendRequest(true),
        onChange: () => amountInput.select(),
      });
      return;
    }
    pendingRef = null;
    if (!ack.ok) {
      showProblems(ack.error);
      return;
    }
    onCreated(ack.payment_request);
    form.reset();
    updateCounter();
    amountInput.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    clearErrors();
    sendRequest(false);
  });
}

// The form works only while the clinic can take payments and the session lasts.
export function setFormEnabled(enabled) {
  $("request-fields").disabled = !enabled;
}
