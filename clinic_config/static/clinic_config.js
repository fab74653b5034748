// Configure > Client Payments: the clinic's Stripe account and payment settings.
// Signs in only with the in-memory Bearer token from session.js (no cookies, no form posts), which is what keeps
// other sites from making these changes on an admin's behalf.
import { AMOUNT_NUMBER, amountText } from "/static/amount.js";
import { session, api } from "/static/session.js";
import { io } from "/widget/static/vendor/socket.io-client/socket.io.esm.min.js";

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

function render(config, { settings = true } = {}) {
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
    const finish = stripe.finish_on_stripe ? "click Finish on Stripe" : "finish setting it up in Stripe";
    let line = `Linked to ${name}. It can take payments.`;
    if (!stripe.charges_enabled) {
      line = stripe.health.details_submitted
        ? `Linked to ${name}, but Stripe has paused its payments: ${finish}.`
        : `Linked to ${name}, but it can't take payments yet: ${finish}.`;
    }
    $("stripe-status").textContent = line;
    $("acct-name").textContent = stripe.name || "—";
    $("acct-id").textContent = stripe.account_id;
    $("acct-country").textContent = stripe.country || "—";
    $("acct-currency").textContent = (stripe.default_currency || "—").toUpperCase();
    $("acct-charges").textContent = stripe.charges_enabled ? "Yes" : "Not yet";
    $("acct-payouts").textContent = stripe.health.payouts_enabled ? "Yes" : "Not yet";
    $("dashboard-link").href = stripe.dashboard_url;
    renderHealth(stripe);
  } else {
    $("stripe-status").textContent = "No Stripe account is linked, so clinicians can't request payments.";
    renderWays(config.onboarding);
  }
  if (settings) renderSettings(config);
}

function fillList(list, items) {
  list.replaceChildren(...items.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
  list.parentElement.hidden = items.length === 0;
}

function renderHealth(stripe) {
  const h = stripe.health;
  const pending = h.pending_verification.length > 0;
  $("requirements").hidden = !(h.needs_action || h.eventually_due.length || h.disabled_reason || pending);
  $("req-disabled").textContent = h.disabled_reason || "";
  fillList($("req-overdue"), h.past_due);
  fillList($("req-due"), h.currently_due);
  $("req-due-title").textContent = h.current_deadline
    ? `Stripe needs these by ${h.current_deadline}` : "Stripe still needs";
  fillList($("req-later"), h.eventually_due);
  $("req-checking").hidden = !pending;
  $("req-checking").textContent = pending ? `Stripe is checking: ${h.pending_verification.join(", ")}.` : "";
  // The clinic's own account (OAuth) is finished in its own Stripe dashboard, which the link above opens.
  $("finish-wrap").hidden = !(stripe.finish_on_stripe && (h.needs_action || h.eventually_due.length));
}

function renderWays(onboarding) {
  const ways = onboarding.ways;
  $("way-oauth").hidden = !ways.includes("oauth");
  $("way-hosted").hidden = !ways.includes("hosted");
  const select = $("account-country");
  if (!select.options.length) {
    for (const { code, name } of onboarding.countries) select.append(new Option(name, code));
  }
  const previous = onboarding.previous_accounts.find((a) => a.kind === "hosted" || ways.includes("oauth"));
  $("relink").hidden = !previous;
  if (previous) {
    const name = previous.name || previous.account_id;
    relinkTarget = previous;
    $("relink-button").textContent = `Link ${name} again`;
    $("relink-text").textContent = previous.kind === "hosted"
      ? `${name} (${previous.account_id}) was this clinic's account before. Link it again to keep everything in one `
        + "Stripe account. Payments, receipts and refunds taken before stay here either way."
      : `${name} (${previous.account_id}) was this clinic's account before. On Stripe, choose it again to keep `
        + "everything in one Stripe account. Payments, receipts and refunds taken before stay here either way.";
  }
}

let relinkTarget = null;

// Stripe's pages can't be framed: leave the platform's frame for the whole window.
function goTo(url) {
  try {
    window.top.location.href = url;
  } catch {
    window.location.href = url;
  }
}

async function tripToStripe(button, path, body) {
  button.disabled = true;
  try {
    const answer = await api(path, { method: "POST", body });
    announce("Opening Stripe…");
    goTo(answer.onboarding_url || answer.authorize_url);
  } catch (error) {
    button.disabled = false;
    announce(error.message, "bad");
    load();
  }
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

async function load(options) {
  try {
    render(await api("/api/v1/clinic"), options);
  } catch (error) {
    $("stripe-status").textContent = error.message;
    announce(error.message, "bad");
  }
}

$("go-to-stripe").addEventListener("click", (event) => {
  tripToStripe(event.currentTarget, "/api/v1/clinic/stripe/connect");
});
$("create-stripe-account").addEventListener("click", (event) => {
  tripToStripe(event.currentTarget, "/api/v1/clinic/stripe/accounts", { country: $("account-country").value });
});
$("finish-on-stripe").addEventListener("click", (event) => {
  tripToStripe(event.currentTarget, "/api/v1/clinic/stripe/onboarding-link");
});
$("relink-button").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  if (!relinkTarget) return;
  if (relinkTarget.kind !== "hosted") {
    tripToStripe(button, "/api/v1/clinic/stripe/connect");
    return;
  }
  button.disabled = true;
  try {
    render(await api("/api/v1/clinic/stripe/relink", { method: "POST", body: { account_id: relinkTarget.account_id } }));
    announce("The Stripe account is linked again.");
    $("stripe-status").focus();
  } catch (error) {
    announce(error.message, "bad");
  } finally {
    button.disabled = false;
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
    const first = [$("relink-button"), $("go-to-stripe"), $("create-stripe-account")].find((b) => !b.closest("[hidden]"));
    first?.focus();
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

// What Stripe says about the account arrives live (account.updated → clinic_status): read the page's data again.
function listen() {
  const socket = io({ path: "/socket.io", auth: { token: session.token }, transports: ["websocket", "polling"] });
  let pending = null;
  socket.on("clinic_status", () => {
    clearTimeout(pending);
    // Only the account's part: what the admin is typing in the settings form stays as it is.
    pending = setTimeout(async () => {
      const before = $("stripe-status").textContent;
      await load({ settings: false });
      const now = $("stripe-status").textContent;
      // Said aloud, and replacing an earlier message that no longer holds.
      if (now !== before) announce(now, now.includes("It can take payments.") ? "ok" : "warn");
    }, 150);
  });
}

if (session) {
  load();
  listen();
}
