// Configure > Client Payments: the clinic's Stripe account and payment settings.
// Signs in only with the in-memory Bearer token from session.js (no cookies, no form posts), which is what keeps
// other sites from making these changes on an admin's behalf.
import { session, api } from "/static/session.js";
import { io } from "/widget/static/vendor/socket.io-client/socket.io.esm.min.js";
import { CARD_FIELDS, renderCardSettings, cardSettings } from "/clinic-config/static/saved_cards.js";

const $ = (id) => document.getElementById(id);
const announcer = $("announcer");
const FIELDS = [
  "locale", "default_currency", "preset_amounts", "confirm_above", "receipt_business_name", "receipt_abn", "receipt_provider_name",
  "receipt_provider_number", "receipt_address", "receipt_phone", "receipt_footer",
  // Pay later (the last five): the server reads the amounts in the clinic's locale.
  "call_ended_action", "link_min_amount", "link_max_amount", "link_reminder_hours", "link_notice_email",
];
// The payment centre's settings: a time zone, and whether (and how long) clinicians may refund their own.
const CENTRE_FIELDS = [
  "receipt_gst_line", "timezone", "clinician_refunds", "clinician_refund_window_hours", "share_description_with_stripe",
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
  // The clinic as its staff know it: the platform's name, else its Stripe account's; never its platform id.
  $("clinic-name").textContent = config.clinic.name || config.stripe?.name || "your clinic";
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
  // A new account has everything "past due" in Stripe's terms; to its admin that is simply what setting up takes.
  $("req-overdue-title").textContent = h.details_submitted
    ? "Overdue: payments are paused until Stripe has" : "Before payments can start, Stripe needs";
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
  const locales = $("locale");
  if (!locales.options.length) for (const tag of config.locales) locales.append(new Option(tag, tag));
  locales.value = s.locale;
  $("preset_amounts").value = s.preset_amounts_text;
  $("preset_amounts-display").textContent = s.preset_amounts_display.length
    ? `Clinicians will see: ${s.preset_amounts_display.join(", ")}`
    : "";
  $("confirm_above").value = s.confirm_above_text;
  $("confirm_above-display").textContent = `Requests above ${s.confirm_above_display} are confirmed first.`;
  for (const name of FIELDS.slice(4, -5)) $(name).value = s[name] ?? "";
  $("call_ended_action").value = s.call_ended_action;
  $("link_min_amount").value = s.link_min_amount_text;
  $("link_max_amount").value = s.link_max_amount_text;
  $("link_reminder_hours").value = s.link_reminder_hours ?? "";
  $("link_notice_email").value = s.link_notice_email ?? "";
  renderCentreSettings(config);
  renderCardSettings(s);
}

function renderCentreSettings(config) {
  const s = config.settings;
  const zones = $("timezone");
  if (!zones.options.length) {
    for (const zone of config.timezones) zones.append(new Option(zone.replaceAll("_", " "), zone));
  }
  zones.value = s.timezone;
  $("receipt_gst_line").value = s.receipt_gst_line ?? "";
  $("clinician_refunds").checked = Boolean(s.clinician_refunds);
  $("clinician_refund_window_hours").value = String(s.clinician_refund_window_hours ?? "");
  $("share_description_with_stripe").checked = Boolean(s.share_description_with_stripe);
}

function centreSettings() {
  const hours = $("clinician_refund_window_hours").value.trim();
  return {
    receipt_gst_line: $("receipt_gst_line").value,
    timezone: $("timezone").value,
    clinician_refunds: $("clinician_refunds").checked,
    // Whole hours go as a number; anything else goes as typed, and the server says what to write.
    clinician_refund_window_hours: /^\d+$/.test(hours) ? Number(hours) : hours,
    share_description_with_stripe: $("share_description_with_stripe").checked,
  };
}

function clearErrors() {
  for (const name of [...FIELDS, ...CENTRE_FIELDS, ...CARD_FIELDS]) {
    $(`${name}-error`).textContent = "";
    $(name).removeAttribute("aria-invalid");
  }
}

function markInvalid(name, message) {
  $(`${name}-error`).textContent = message;
  $(name).setAttribute("aria-invalid", "true");
}

// The server checks every field and answers with all of its problems at once (`errors`, in the form's order): each
// is shown beside its field (several for one field, such as two bad preset amounts, one under the other), and focus
// goes to the first. The rules live only on the server.
function showErrors(error) {
  const problems = error.errors ?? [error];
  const byField = new Map();
  for (const problem of problems) {
    const name = problem.field && $(problem.field) ? problem.field : null;
    if (name) byField.set(name, [...(byField.get(name) ?? []), problem.message]);
  }
  for (const [name, messages] of byField) markInvalid(name, messages.join(" "));
  const first = problems.find((problem) => byField.has(problem.field));
  if (first) $(first.field).focus();
  if (problems.length === 1) return announce(error.message, "bad");
  const count = byField.size === 1 ? "1 field needs" : `${byField.size} fields need`;
  announce(`Settings not saved: ${count} fixing.`, "bad");
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
  const body = {
    ...Object.fromEntries(FIELDS.map((name) => [name, $(name).value])), ...centreSettings(), ...cardSettings(),
  };
  const button = $("save-settings");
  button.disabled = true;
  try {
    render(await api("/api/v1/clinic/settings", { method: "PATCH", body }));
    announce("Settings saved.");
  } catch (error) {
    showErrors(error);
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
