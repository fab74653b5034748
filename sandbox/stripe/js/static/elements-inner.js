/*
 * The card fields of the sandbox Payment Element, framed by stripe.js on the host page.
 *
 * This page is served from the sandbox's origin, so the host page can neither read these inputs nor see the
 * confirmation request, which is sent from here. The host learns only what Stripe.js would tell it: whether the
 * fields are empty or complete, the first error to show, and the confirmed PaymentIntent (or the error).
 *
 * The frame's address fragment says who framed it (frameId, parentOrigin) and how to call the API (key,
 * stripeAccount). Messages go only to that origin, and only messages from the parent window at that origin are read.
 */
(() => {
  'use strict';

  const TAG = 'callpay-sandbox-stripe';
  const params = new URLSearchParams(window.location.hash.slice(1));
  const FRAME_ID = params.get('frameId');
  const PARENT_ORIGIN = params.get('parentOrigin');
  const KEY = params.get('key');
  const ACCOUNT = params.get('stripeAccount');

  // ---------------------------------------------------------------------------------------------------------------
  // Who may talk to this frame. Chromium and Safari tell a frame its ancestors' origins; where they do, the origin
  // named in the fragment must be the real one, so a page cannot frame us while claiming to be someone else.

  function framedByClaimedParent() {
    if (!FRAME_ID || !KEY || !PARENT_ORIGIN || window.parent === window) return false;
    let origin;
    try {
      origin = new URL(PARENT_ORIGIN).origin;
    } catch {
      return false;
    }
    if (origin !== PARENT_ORIGIN) return false; // must be exactly scheme://host[:port], as postMessage compares it
    const ancestors = window.location.ancestorOrigins;
    return !(ancestors && ancestors.length > 0 && ancestors[0] !== PARENT_ORIGIN);
  }

  function send(type, payload = {}) {
    window.parent.postMessage({ tag: TAG, frameId: FRAME_ID, type, ...payload }, PARENT_ORIGIN);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Card rules: brands by prefix, their lengths, digit grouping and security-code length.

  const BRANDS = [
    { brand: 'amex', label: 'AMEX', prefix: /^3[47]/, lengths: [15], gaps: [4, 10], cvc: 4 },
    { brand: 'diners', label: 'DINERS', prefix: /^3(0[0-5]|[689])/, lengths: [14], gaps: [4, 10], cvc: 3 },
    { brand: 'jcb', label: 'JCB', prefix: /^35/, lengths: [16], gaps: [4, 8, 12], cvc: 3 },
    { brand: 'visa', label: 'VISA', prefix: /^4/, lengths: [16], gaps: [4, 8, 12], cvc: 3 },
    { brand: 'mastercard', label: 'MC', prefix: /^(5[1-5]|2[2-7])/, lengths: [16], gaps: [4, 8, 12], cvc: 3 },
    { brand: 'discover', label: 'DISCOVER', prefix: /^(6011|65|64[4-9])/, lengths: [16], gaps: [4, 8, 12], cvc: 3 },
    { brand: 'unionpay', label: 'UNIONPAY', prefix: /^62/, lengths: [16, 17, 18, 19], gaps: [4, 8, 12], cvc: 3 },
  ];
  // An unknown brand may still be a valid card; accept either security-code length for it.
  const UNKNOWN = { brand: 'unknown', label: '', prefix: null, lengths: [16], gaps: [4, 8, 12], cvc: 3, cvcMax: 4 };

  function brandOf(digits) {
    return BRANDS.find((b) => b.prefix.test(digits)) || UNKNOWN;
  }

  function luhnValid(digits) {
    let sum = 0;
    for (let i = 0; i < digits.length; i += 1) {
      let d = Number(digits[digits.length - 1 - i]);
      if (i % 2 === 1) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function validationError(code, message) {
    return { type: 'validation_error', code, message };
  }

  const MESSAGES = {
    incomplete_number: 'Your card number is incomplete.',
    invalid_number: 'Your card number is invalid.',
    incomplete_expiry: "Your card's expiration date is incomplete.",
    invalid_expiry_month: "Your card's expiration date is invalid.",
    invalid_expiry_month_past: "Your card's expiration date is in the past.",
    invalid_expiry_year_past: "Your card's expiration year is in the past.",
    invalid_expiry_year: "Your card's expiration year is invalid.",
    incomplete_cvc: "Your card's security code is incomplete.",
  };

  function problem(code) {
    return { complete: false, error: validationError(code, MESSAGES[code]) };
  }

  const OK = Object.freeze({ complete: true, error: null });

  function checkNumber(digits) {
    const brand = brandOf(digits);
    const longest = Math.max(...brand.lengths);
    if (!brand.lengths.includes(digits.length)) {
      return problem(digits.length > longest ? 'invalid_number' : 'incomplete_number');
    }
    if (!luhnValid(digits)) {
      // A shorter valid length may still grow (UnionPay), so only the longest one is definitely wrong.
      return problem(digits.length === longest ? 'invalid_number' : 'incomplete_number');
    }
    return OK;
  }

  /** `digits` is MMYY (or a prefix of it). */
  function checkExpiry(digits, now = new Date()) {
    if (digits.length >= 2) {
      const month = Number(digits.slice(0, 2));
      if (month < 1 || month > 12) return problem('invalid_expiry_month');
    }
    if (digits.length < 4) return problem('incomplete_expiry');
    const month = Number(digits.slice(0, 2));
    const year = 2000 + Number(digits.slice(2, 4));
    const thisYear = now.getFullYear();
    if (year < thisYear) return problem('invalid_expiry_year_past');
    if (year === thisYear && month < now.getMonth() + 1) return problem('invalid_expiry_month_past');
    if (year > thisYear + 50) return problem('invalid_expiry_year');
    return OK;
  }

  function checkCvc(digits, brand) {
    return digits.length >= brand.cvc ? OK : problem('incomplete_cvc');
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Formatting as the shopper types, keeping the caret after the same digit it followed.

  const onlyDigits = (text) => text.replace(/\D/g, '');

  function formatNumber(digits) {
    const brand = brandOf(digits);
    const clipped = digits.slice(0, Math.max(...brand.lengths));
    let out = '';
    for (let i = 0; i < clipped.length; i += 1) {
      if (brand.gaps.includes(i)) out += ' ';
      out += clipped[i];
    }
    return out;
  }

  /** `raw` as typed or pasted -> MMYY digits. */
  function expiryDigits(raw, deleting) {
    const slashed = /^\s*(\d{1,2})\s*\/\s*(\d*)\s*$/.exec(raw);
    let digits;
    if (slashed && !(deleting && slashed[2] === '')) {
      // "1/" or "1/34" means January; but "1 /" left by deleting a month digit means the shopper is still editing.
      digits = slashed[1].padStart(2, '0') + slashed[2];
    } else {
      digits = onlyDigits(raw);
    }
    // A month that cannot have a second digit (2-9) is January-padded at once, as most card forms do.
    if (digits.length === 1 && /[2-9]/.test(digits)) digits = `0${digits}`;
    // Browser autofill may supply a four-digit year: "12/2034".
    if (digits.length === 6 && digits.slice(2, 4) === '20') digits = digits.slice(0, 2) + digits.slice(4);
    return digits.slice(0, 4);
  }

  function formatExpiry(digits, deleting) {
    if (digits.length > 2) return `${digits.slice(0, 2)} / ${digits.slice(2)}`;
    // Add the separator after a full month, except while deleting, or backspace could never get past it.
    if (digits.length === 2 && !deleting) return `${digits} / `;
    return digits;
  }

  function setValueKeepingCaret(input, formatted) {
    const caret = input.selectionStart ?? input.value.length;
    const wasAtEnd = caret === input.value.length;
    const digitsBeforeCaret = onlyDigits(input.value.slice(0, caret)).length;
    input.value = formatted;
    if (document.activeElement !== input) return;
    if (wasAtEnd) {
      // Typing at the end stays at the end, even when formatting added digits ("4" -> "04 / ").
      input.setSelectionRange(formatted.length, formatted.length);
      return;
    }
    let position = 0;
    let seen = 0;
    while (position < formatted.length && seen < digitsBeforeCaret) {
      if (/\d/.test(formatted[position])) seen += 1;
      position += 1;
    }
    if (seen === onlyDigits(formatted).length) position = formatted.length; // step over a trailing " / "
    input.setSelectionRange(position, position);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The fields.

  const form = document.getElementById('card-form');
  const brandBadge = document.getElementById('card-brand');

  function field(name) {
    const input = document.getElementById(`card-${name}`);
    return {
      name,
      input,
      wrapper: input.closest('.field'),
      errorText: document.getElementById(`card-${name}-error`),
      // Incomplete values are only called out once the shopper has left the field (or tried to pay), not while
      // they are still typing; outright invalid values are shown at once.
      touched: false,
    };
  }

  const number = field('number');
  const expiry = field('expiry');
  const cvc = field('cvc');
  const FIELDS = [number, expiry, cvc];

  function values() {
    return {
      number: onlyDigits(number.input.value),
      expiry: onlyDigits(expiry.input.value),
      cvc: onlyDigits(cvc.input.value),
    };
  }

  function checks() {
    const v = values();
    const brand = brandOf(v.number);
    return new Map([
      [number, checkNumber(v.number)],
      [expiry, checkExpiry(v.expiry)],
      [cvc, checkCvc(v.cvc, brand)],
    ]);
  }

  function visibleError(f, check) {
    if (!check.error) return null;
    if (f.touched) return check.error;
    if (f.input.value === '') return null;
    return check.error.code.startsWith('incomplete') ? null : check.error;
  }

  /** Show the current state; returns what the host page may learn about it. */
  function render() {
    const v = values();
    const brand = brandOf(v.number);
    brandBadge.textContent = brand.label;
    brandBadge.dataset.brand = brand.brand;
    cvc.input.maxLength = brand.cvcMax || brand.cvc;
    cvc.input.placeholder = brand.cvc === 4 ? 'CVV' : 'CVC';

    let firstError = null;
    let complete = true;
    for (const [f, check] of checks()) {
      const error = visibleError(f, check);
      f.input.setAttribute('aria-invalid', error ? 'true' : 'false');
      f.wrapper.classList.toggle('field--invalid', Boolean(error));
      if (f.errorText.textContent !== (error ? error.message : '')) {
        f.errorText.textContent = error ? error.message : '';
      }
      if (error && !firstError) firstError = error;
      complete = complete && check.complete;
    }
    const state = { complete, empty: FIELDS.every((f) => f.input.value === '') };
    if (firstError) state.error = firstError;
    return state;
  }

  let lastChange = '';
  function renderAndReport({ always }) {
    const state = render();
    const key = JSON.stringify(state);
    if (always || key !== lastChange) {
      lastChange = key;
      send('change', state);
    }
  }

  /** Validate everything as if paying: show every problem, focus the first one. Returns the first error or null. */
  function validateAll() {
    for (const f of FIELDS) f.touched = true;
    renderAndReport({ always: false });
    for (const [f, check] of checks()) {
      if (check.error) {
        f.input.focus();
        return check.error;
      }
    }
    return null;
  }

  const caretAtEnd = (input) => input.selectionStart === input.value.length;

  number.input.addEventListener('input', () => {
    number.touched = false;
    setValueKeepingCaret(number.input, formatNumber(onlyDigits(number.input.value)));
    cvc.input.value = onlyDigits(cvc.input.value).slice(0, brandOf(onlyDigits(number.input.value)).cvcMax || 4);
    renderAndReport({ always: true });
    if (checks().get(number).complete && caretAtEnd(number.input)) expiry.input.focus();
  });

  expiry.input.addEventListener('input', (event) => {
    expiry.touched = false;
    const deleting = typeof event.inputType === 'string' && event.inputType.startsWith('delete');
    setValueKeepingCaret(expiry.input, formatExpiry(expiryDigits(expiry.input.value, deleting), deleting));
    renderAndReport({ always: true });
    if (checks().get(expiry).complete && caretAtEnd(expiry.input)) cvc.input.focus();
  });

  cvc.input.addEventListener('input', () => {
    cvc.touched = false;
    const brand = brandOf(values().number);
    setValueKeepingCaret(cvc.input, onlyDigits(cvc.input.value).slice(0, brand.cvcMax || brand.cvc));
    renderAndReport({ always: true });
  });

  // Backspace at the start of an empty field goes back to the previous one, as in Stripe's split card fields.
  for (const [f, previous] of [[expiry, number], [cvc, expiry]]) {
    f.input.addEventListener('keydown', (event) => {
      if (event.key === 'Backspace' && f.input.value === '') {
        event.preventDefault();
        previous.input.focus();
        const end = previous.input.value.length;
        previous.input.setSelectionRange(end, end);
      }
    });
  }

  for (const f of FIELDS) {
    f.input.addEventListener('blur', () => {
      if (f.input.value !== '') f.touched = true;
      renderAndReport({ always: false });
    });
  }

  // Focus entering or leaving the frame as a whole becomes the element's focus and blur events.
  let focused = false;
  document.addEventListener('focusin', () => {
    if (!focused) {
      focused = true;
      send('focus');
    }
  });
  document.addEventListener('focusout', (event) => {
    if (!event.relatedTarget || !form.contains(event.relatedTarget)) {
      focused = false;
      send('blur');
    }
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') send('escape');
  });

  // Enter in a field would submit this inner form; paying is the host page's decision, so ignore it.
  form.addEventListener('submit', (event) => event.preventDefault());

  function clearFields() {
    for (const f of FIELDS) {
      f.input.value = '';
      f.touched = false;
    }
    renderAndReport({ always: true });
  }

  let busy = false;
  function setReadOnly(readOnly) {
    for (const f of FIELDS) f.input.readOnly = readOnly;
    form.classList.toggle('card-form--readonly', readOnly);
  }
  let hostReadOnly = params.get('readOnly') === '1';

  // ---------------------------------------------------------------------------------------------------------------
  // Appearance passed by the host (a subset of Stripe's Appearance API), applied as CSS custom properties.

  const APPEARANCE_VARIABLES = {
    colorPrimary: '--color-primary',
    colorBackground: '--color-background',
    colorText: '--color-text',
    colorTextSecondary: '--color-text-secondary',
    colorTextPlaceholder: '--color-placeholder',
    colorDanger: '--color-danger',
    fontFamily: '--font-family',
    fontSizeBase: '--font-size-base',
    borderRadius: '--border-radius',
    spacingUnit: '--spacing-unit',
  };

  function applyAppearance(appearance) {
    const root = document.documentElement;
    root.dataset.theme = appearance && appearance.theme === 'night' ? 'night' : 'stripe';
    const variables = (appearance && appearance.variables) || {};
    for (const [name, property] of Object.entries(APPEARANCE_VARIABLES)) {
      const value = variables[name];
      // setProperty parses one value and cannot inject rules, but keep absurd values out all the same.
      if ((typeof value === 'string' && value.length <= 200) || typeof value === 'number') {
        root.style.setProperty(property, String(value));
      } else {
        root.style.removeProperty(property);
      }
    }
  }

  function parseAppearance(text) {
    try {
      return text ? JSON.parse(text) : null;
    } catch {
      return null;
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Confirming the PaymentIntent, from this origin.

  /** `pi_…_secret_…` or `seti_…_secret_…` -> the intent's id, or null for anything else. */
  function intentIdFromSecret(clientSecret) {
    const match =
      typeof clientSecret === 'string' && /^((?:pi|seti)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/.exec(clientSecret);
    return match ? match[1] : null;
  }

  /** Stripe's form encoding of nested parameters: a[b][c]=v. */
  function appendNested(form, prefix, value) {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      value.forEach((item, index) => appendNested(form, `${prefix}[${index}]`, item));
    } else if (typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) appendNested(form, prefix ? `${prefix}[${key}]` : key, item);
    } else {
      form.append(prefix, String(value));
    }
  }

  async function confirm(clientSecret, confirmParams) {
    if (busy) {
      return { error: { type: 'invalid_request_error', code: 'confirmation_in_progress', message: 'This payment is already being confirmed.' } };
    }
    const invalid = validateAll();
    if (invalid) return { error: invalid };
    const intentId = intentIdFromSecret(clientSecret);
    if (!intentId) {
      return { error: { type: 'invalid_request_error', message: 'The client secret is not a PaymentIntent or SetupIntent client secret.' } };
    }

    const body = new URLSearchParams();
    // The host's parameters first (return_url, receipt_email, billing details…); the card and the client secret
    // are then set over them so the host cannot substitute either.
    appendNested(body, '', confirmParams || {});
    const v = values();
    body.set('client_secret', clientSecret);
    // As Stripe.js does: it runs any next action (3-D Secure) itself, so it wants use_stripe_sdk, not a redirect.
    body.set('use_stripe_sdk', 'true');
    body.set('payment_method_data[type]', 'card');
    body.set('payment_method_data[card][number]', v.number);
    body.set('payment_method_data[card][exp_month]', String(Number(v.expiry.slice(0, 2))));
    body.set('payment_method_data[card][exp_year]', String(2000 + Number(v.expiry.slice(2, 4))));
    body.set('payment_method_data[card][cvc]', v.cvc);

    const headers = { Authorization: `Bearer ${KEY}` };
    if (ACCOUNT) headers['Stripe-Account'] = ACCOUNT;
    const setup = intentId.startsWith('seti_');
    const collection = setup ? 'setup_intents' : 'payment_intents';
    const url = new URL(`../v1/${collection}/${encodeURIComponent(intentId)}/confirm`, window.location.href);

    busy = true;
    setReadOnly(true);
    form.setAttribute('aria-busy', 'true');
    try {
      const response = await fetch(url, { method: 'POST', headers, body, credentials: 'omit' });
      const payload = await response.json().catch(() => null);
      if (response.ok && payload) return setup ? { setupIntent: payload } : { paymentIntent: payload };
      return { error: (payload && payload.error) || { type: 'api_error', message: `Unexpected response (HTTP ${response.status}).` } };
    } catch {
      return { error: { type: 'api_connection_error', message: 'We could not reach the payment service. Check your connection and try again.' } };
    } finally {
      busy = false;
      setReadOnly(hostReadOnly);
      form.removeAttribute('aria-busy');
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Requests from the host page.

  async function handle(message) {
    switch (message.type) {
      case 'submit': {
        const error = validateAll();
        return error ? { error } : {};
      }
      case 'confirm':
        return confirm(message.clientSecret, message.confirmParams);
      case 'update':
        if (message.appearance) applyAppearance(message.appearance);
        if (message.options) {
          hostReadOnly = Boolean(message.options.readOnly);
          if (!busy) setReadOnly(hostReadOnly);
        }
        return null;
      case 'focus':
        number.input.focus();
        return null;
      case 'blur':
        if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
        return null;
      case 'clear':
        clearFields();
        return null;
      default:
        return null;
    }
  }

  function start() {
    if (!framedByClaimedParent()) {
      form.hidden = true;
      document.getElementById('frame-refused').hidden = false;
      return;
    }

    window.addEventListener('message', (event) => {
      if (event.source !== window.parent || event.origin !== PARENT_ORIGIN) return;
      const message = event.data;
      if (!message || message.tag !== TAG || message.frameId !== FRAME_ID) return;
      handle(message).then((result) => {
        if (message.requestId) send('reply', { requestId: message.requestId, result });
      });
    });

    applyAppearance(parseAppearance(params.get('appearance')));
    setReadOnly(hostReadOnly);

    // The host sizes the iframe to whatever this page needs, so error texts never get cut off or scroll.
    const reportHeight = () => send('resize', { height: Math.ceil(document.body.getBoundingClientRect().height) });
    new ResizeObserver(reportHeight).observe(document.body);
    reportHeight();

    render();
    send('ready');
  }

  start();
})();
