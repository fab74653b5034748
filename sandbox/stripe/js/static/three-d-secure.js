/*
 * The sandbox's 3-D Secure challenge, framed by stripe.js in a modal over the host page.
 *
 * The shopper picks the outcome; this page tells the sandbox API (same origin) and then tells the host page that the
 * challenge is over, which re-reads the PaymentIntent (or SetupIntent) to learn the result. As in elements-inner.js, the fragment
 * names the parent's origin, and only that origin is written to.
 */
(() => {
  'use strict';

  const TAG = 'callpay-sandbox-stripe';
  const params = new URLSearchParams(window.location.hash.slice(1));
  const FRAME_ID = params.get('frameId');
  const PARENT_ORIGIN = params.get('parentOrigin');
  const KEY = params.get('key');
  const ACCOUNT = params.get('stripeAccount');
  const INTENT = params.get('paymentIntent');
  const CLIENT_SECRET = params.get('clientSecret');

  const buttons = [...document.querySelectorAll('button[data-action]')];
  const status = document.getElementById('challenge-status');

  function framedByClaimedParent() {
    if (!FRAME_ID || !KEY || !INTENT || !CLIENT_SECRET || !PARENT_ORIGIN || window.parent === window) return false;
    const ancestors = window.location.ancestorOrigins;
    return !(ancestors && ancestors.length > 0 && ancestors[0] !== PARENT_ORIGIN);
  }

  function send(type, payload = {}) {
    window.parent.postMessage({ tag: TAG, frameId: FRAME_ID, type, ...payload }, PARENT_ORIGIN);
  }

  function apiHeaders() {
    const headers = { Authorization: `Bearer ${KEY}` };
    if (ACCOUNT) headers['Stripe-Account'] = ACCOUNT;
    return headers;
  }

  /** Show what is being paid for, as an issuer's page would; the challenge works without it. */
  async function showAmount() {
    if (!INTENT.startsWith('pi_')) return; // saving a card (a SetupIntent) charges nothing
    const url = new URL(`../v1/payment_intents/${encodeURIComponent(INTENT)}`, window.location.href);
    url.searchParams.set('client_secret', CLIENT_SECRET);
    try {
      const response = await fetch(url, { headers: apiHeaders(), credentials: 'omit' });
      if (!response.ok) return;
      const intent = await response.json();
      const currency = String(intent.currency || '').toUpperCase();
      // The code, not a symbol: "$" alone would not say which dollars.
      const format = new Intl.NumberFormat(undefined, { style: 'currency', currency, currencyDisplay: 'code' });
      // Amounts are in the currency's minor unit; Intl knows how many decimals each currency has (JPY: none).
      const decimals = format.resolvedOptions().maximumFractionDigits;
      const amount = document.getElementById('challenge-amount');
      amount.textContent = format.format(intent.amount / 10 ** decimals);
      amount.hidden = false;
    } catch {
      // Leave the amount out; it is only informative.
    }
  }

  async function finish(action) {
    for (const button of buttons) button.disabled = true;
    status.classList.remove('status--error');
    status.textContent = action === 'complete' ? 'Completing authentication…' : 'Failing authentication…';
    const url = new URL(
      `../_sandbox/3ds/${encodeURIComponent(INTENT)}/${action === 'complete' ? 'complete' : 'fail'}`,
      window.location.href,
    );
    let result;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: apiHeaders(),
        body: new URLSearchParams({ client_secret: CLIENT_SECRET }),
        credentials: 'omit',
      });
      const payload = await response.json().catch(() => null);
      result = response.ok
        ? { action }
        : { error: (payload && payload.error) || { type: 'api_error', message: `Unexpected response (HTTP ${response.status}).` } };
    } catch {
      result = { error: { type: 'api_connection_error', message: 'We could not reach the payment service. Check your connection and try again.' } };
    }
    if (result.error) {
      // Let the shopper see why, and try again; the host page only hears about a finished challenge.
      status.classList.add('status--error');
      status.textContent = result.error.message;
      for (const button of buttons) button.disabled = false;
      if (result.error.type !== 'api_connection_error') send('result', { result });
      return;
    }
    send('result', { result });
  }

  if (!framedByClaimedParent()) {
    status.textContent = 'This authentication page can only be opened by the payment form that needs it.';
    for (const button of buttons) button.disabled = true;
    return;
  }
  for (const button of buttons) button.addEventListener('click', () => finish(button.dataset.action));
  showAmount();
  // Keyboard users land on the first choice, also when focus comes back to the frame as a whole.
  buttons[0].focus();
  window.addEventListener('focus', () => {
    if (document.activeElement === document.body) buttons[0].focus();
  });
  send('ready');
})();
