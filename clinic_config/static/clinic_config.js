// Configure > Client Payments: the clinic's Stripe account and payment settings.
// Signs in only with the in-memory Bearer token from session.js (no cookies, no form posts), which is what keeps
// other sites from making these changes on an admin's behalf.
import { AMOUNT_NUMBER, amountText } from "/static/amount.js";
import { session, api } from "/static/session.js";

const $ = (id) => document.getElementById(id);
const announcer = $("announcer");
const FIELDS = [
  "default_currency", "preset_amounts", "receipt_business_name", "receipt_abn", "receipt_provider_name",
  "receipt_provider_number", "receipt_address", "receipt_phone", "receipt_footer",
];

// Back from Stripe, the address holds the single-use code and state: take them out of history.
if (window.location.pathname !== "/clinic-config") window.history.replaceState(null, "", "/clinic-config");

function announce(message, kind = "ok") {
  announcer.replaceChildren();
  const p = document.createElement("p");
  p.className = `notice ${kind}`;
  p.textContent = message;
  announcer.append(p);
}

function render(config) {
  $("clinic-name").textContent = config.clinic.name || config.clinic.id;
  $("addon-off").hidden = config.clinic.addon_enabled;
  const notices = $("notices");
  notices.replaceChildren(...config.notices.map((n) => {
    const p = document.createElement("p");
    p.className = "notice bad";
    p.setAttribute("role", "alert");
    p.textContent = n.message;
    return p;
  }));
  const stripe = config.stripe;
  $("not-connected").hidden = Boolean(stripe);
  $("connected").hidden = !stripe;
  $("confirm-remove").hidden = true;
  if (stripe) {
    const name = stripe.name || stripe.account_id;
    $("stripe-status").textContent = stripe.charges_enabled
      ? `Linked to ${name}. It can take payments.`
      : `Linked to ${name}, but it can't take payments yet: finish setting it up in Stripe.`;
    $("acct-name").textContent = stripe.name || "—";
    $("acct-id").textContent = stripe.account_id;
    $("acct-country").textContent = stripe.country || "—";
    $("acct-currency").textContent = (stripe.default_currency || "—").toUpperCase();
    $("acct-charges").textContent = stripe.charges_enabled ? "Yes" : "Not yet";
    $("dashboard-link").href = stripe.dashboard_url;
  } else {
    $("stripe-status").textContent = "No Stripe account is linked, so clinicians can't request payments.";
  }
  renderSettings(config);
}

function renderSettings(config) {
  const s = config.settings;
  const select = $("default_currency");
  if (!select.options.length) {
    for (const code of config.currencies) select.append(new Option(code.toUpperCase(), code));
  }
  select.value = s.default_currency;
  $("preset_amounts").value = s.preset_amounts_text;
  $("preset_amounts-display").textContent = s.preset_amounts_display.length
    ? `Clinicians will see: ${s.preset_amounts_display.join(", ")}`
    : "";
  for (const name of FIELDS.slice(2)) $(name).value = s[name] ?? "";
}

function clearErrors() {
  for (const name of FIELDS) {
    $(`${name}-error`).textContent = "";
    $(name).removeAttribute("aria-invalid");
  }
}

function markInvalid(name, message) {
  $(`${name}-error`).textContent = message;
  $(name).setAttribute("aria-invalid", "true");
}

function showError(error) {
  if (error.field && $(error.field)) {
    markInvalid(error.field, error.message);
    $(error.field).focus();
  }
  announce(error.message, "bad");
}

// The server's rules, checked here too so every field's problem shows at once (the server checks again, and alone
// knows each currency's decimals and limits). Messages are the server's words.
const MAX_PRESETS = 8;
const TEXT_LIMITS = {
  receipt_business_name: 200, receipt_provider_name: 200, receipt_provider_number: 50, receipt_address: 500,
  receipt_phone: 50, receipt_footer: 1000,
};
const ABN_WEIGHTS = [10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19];

function presetsProblem(value, currency) {
  const items = value.split(/[;\n]|,\s+/).map((item) => item.trim()).filter(Boolean);
  if (items.length > MAX_PRESETS) return `Enter at most ${MAX_PRESETS} preset amounts.`;
  for (const item of items) {
    const text = amountText(item, currency);
    if (!AMOUNT_NUMBER.test(text)) {
      return `Preset amount '${item}': Enter the amount as a number, such as 80.00.`;
    }
    if (!(Number(text) > 0)) return `Preset amount '${item}': Enter an amount greater than zero.`;
  }
  return null;
}

function abnProblem(value) {
  const digits = value.replace(/[\s-]/g, "");
  if (!digits) return null;
  if (!/^\d{11}$/.test(digits)) return "An ABN has 11 digits, such as 51 824 753 556.";
  const numbers = [...digits].map(Number);
  numbers[0] -= 1;
  const sum = numbers.reduce((total, n, i) => total + n * ABN_WEIGHTS[i], 0);
  return sum % 89 === 0 ? null : "That ABN isn't valid: check the digits against the ABN Lookup.";
}

function fieldProblems(body) {
  const problems = [];
  const presets = presetsProblem(body.preset_amounts, body.default_currency);
  if (presets) problems.push(["preset_amounts", presets]);
  const abn = abnProblem(body.receipt_abn);
  if (abn) problems.push(["receipt_abn", abn]);
  for (const [name, limit] of Object.entries(TEXT_LIMITS)) {
    if (body[name].trim().length > limit) problems.push([name, `Keep this to ${limit} characters or fewer.`]);
  }
  const phone = body.receipt_phone.trim();
  if (phone && !problems.some(([name]) => name === "receipt_phone") && !/^[0-9 +()\-]{6,30}$/.test(phone)) {
    problems.push(["receipt_phone", "Enter the phone number with digits, spaces, + ( ) or - only."]);
  }
  // In the form's order, so focus lands on the first one a person meets.
  return problems.sort(([a], [b]) => FIELDS.indexOf(a) - FIELDS.indexOf(b));
}

async function load() {
  try {
    render(await api("/api/v1/clinic"));
  } catch (error) {
    $("stripe-status").textContent = error.message;
    announce(error.message, "bad");
  }
}

$("go-to-stripe").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const { authorize_url: url } = await api("/api/v1/clinic/stripe/connect", { method: "POST" });
    announce("Opening Stripe…");
    // Stripe's pages can't be framed: leave the platform's frame for the whole window.
    try {
      window.top.location.href = url;
    } catch {
      window.location.href = url;
    }
  } catch (error) {
    button.disabled = false;
    announce(error.message, "bad");
  }
});

$("remove").addEventListener("click", () => {
  $("confirm-remove").hidden = false;
  $("confirm-remove-no").focus();
});
$("confirm-remove-no").addEventListener("click", () => {
  $("confirm-remove").hidden = true;
  $("remove").focus();
});
$("confirm-remove-yes").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    render(await api("/api/v1/clinic/stripe/disconnect", { method: "POST" }));
    announce("The Stripe account was removed. Clinicians can't request payments until you link one again.");
    $("go-to-stripe").focus();
  } catch (error) {
    announce(error.message, "bad");
  } finally {
    button.disabled = false;
  }
});

$("settings").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const body = Object.fromEntries(FIELDS.map((name) => [name, $(name).value]));
  const problems = fieldProblems(body);
  if (problems.length) {
    for (const [name, message] of problems) markInvalid(name, message);
    $(problems[0][0]).focus();
    const count = problems.length === 1 ? "1 field needs" : `${problems.length} fields need`;
    announce(`Settings not saved: ${count} fixing.`, "bad");
    return;
  }
  const button = $("save-settings");
  button.disabled = true;
  try {
    render(await api("/api/v1/clinic/settings", { method: "PATCH", body }));
    announce("Settings saved.");
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
});

if (session) load();
