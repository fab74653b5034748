/*
 * The offline sandbox's stand-in for Stripe.js v3.
 *
 * It defines the global `Stripe(publishableKey, {stripeAccount})` with the part of Stripe.js's surface that a
 * Payment Element integration uses: `elements()`, `elements.create('payment')`, `elements.submit()`,
 * `confirmPayment()`, `confirmSetup()` (saving a card with a SetupIntent), `retrievePaymentIntent()`,
 * `retrieveSetupIntent()` and `handleNextAction()`.
 *
 * As with real Stripe.js, card details never reach the host page: the fields live in an iframe served from the
 * sandbox's origin (elements-inner.html), which confirms the PaymentIntent itself and hands back only the result.
 * The two sides talk by postMessage, always addressed to the other side's exact origin, and every message received
 * is checked for both its origin and the window it came from.
 */
(() => {
  'use strict';

  if (window.Stripe && window.Stripe.isSandbox) {
    return; // loaded twice: keep the first copy, whose frames are already registered
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Where the sandbox lives: everything is relative to this script's own address, so the sandbox can run on any host
  // and port (or under a path prefix) without configuration.

  const scriptElement = document.currentScript || document.querySelector('script[src*="/v3"]');
  if (!scriptElement) {
    throw new Error('Sandbox Stripe.js must be loaded with a <script src="…/v3/"> tag.');
  }

  /** The `/v3/` directory the script was served from, whether it was loaded as `/v3`, `/v3/` or `/v3/stripe.js`. */
  function jsBaseOf(src) {
    const url = new URL(src, document.baseURI);
    url.search = '';
    url.hash = '';
    if (!url.pathname.endsWith('/')) {
      url.pathname = url.pathname.endsWith('.js') ? url.pathname.replace(/[^/]*$/, '') : `${url.pathname}/`;
    }
    return url;
  }

  const JS_BASE = jsBaseOf(scriptElement.src);
  const SANDBOX_ORIGIN = JS_BASE.origin;
  const API_BASE = new URL('../', JS_BASE); // the API's /v1/ sits beside /v3/
  const TAG = 'callpay-sandbox-stripe'; // marks our messages among whatever else a page posts

  const CONNECTION_ERROR = Object.freeze({
    type: 'api_connection_error',
    message: 'We could not reach the payment service. Check your connection and try again.',
  });

  /** Thrown for programming mistakes, as Stripe.js does, rather than resolved as `{error}`. */
  class IntegrationError extends Error {
    constructor(message) {
      super(message);
      this.name = 'IntegrationError';
    }
  }

  /** `pi_123_secret_456` -> `pi_123`, or null when the value is not a PaymentIntent client secret. */
  function intentIdFromSecret(clientSecret) {
    const match = typeof clientSecret === 'string' && /^(pi_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/.exec(clientSecret);
    return match ? match[1] : null;
  }

  /** `seti_123_secret_456` -> `seti_123`, or null when the value is not a SetupIntent client secret. */
  function setupIntentIdFromSecret(clientSecret) {
    const match = typeof clientSecret === 'string' && /^(seti_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/.exec(clientSecret);
    return match ? match[1] : null;
  }

  function newId(prefix) {
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Messages from our frames. One listener for the whole page; each frame registers the handler for its own window,
  // so a message is only ever delivered to the object that created the frame it came from.

  const frameHandlers = new Map(); // contentWindow -> function(message)

  window.addEventListener('message', (event) => {
    if (event.origin !== SANDBOX_ORIGIN) return;
    const handler = frameHandlers.get(event.source);
    const data = event.data;
    if (!handler || !data || data.tag !== TAG) return;
    handler(data);
  });

  // ---------------------------------------------------------------------------------------------------------------
  // The Payment Element: a frame holding the card fields.

  // 'loaderror' is accepted for compatibility with Stripe.js; a local sandbox frame has no CDN to fail on.
  const ELEMENT_EVENTS = new Set(['change', 'ready', 'focus', 'blur', 'escape', 'loaderror']);
  let frameCounter = 0;

  class PaymentElement {
    constructor(group, options) {
      this._group = group;
      this._options = { ...options };
      this._handlers = new Map();
      this._frame = null; // the <iframe>, while mounted
      this._container = null; // our wrapper around it, inside the host's mount node
      this._destroyed = false;
      this._pending = new Map(); // requestId -> {resolve, reject}
      this._resetReadiness();
    }

    _resetReadiness() {
      this._ready = false;
      this._readyPromise = new Promise((resolve) => {
        this._markReady = resolve;
      });
    }

    /** Show the card fields inside `target` (a CSS selector or a DOM element). */
    mount(target) {
      if (this._destroyed) throw new IntegrationError('This Element has been destroyed; create a new one.');
      if (this._frame) throw new IntegrationError('This Element is already mounted; call unmount() first.');
      const node = typeof target === 'string' ? document.querySelector(target) : target;
      if (!(node instanceof Element)) {
        throw new IntegrationError(`The selector you specified (${String(target)}) applies to no DOM elements.`);
      }

      const frameId = `${newId('frame_')}_${(frameCounter += 1)}`;
      const stripe = this._group._stripe;
      const params = new URLSearchParams({
        frameId,
        parentOrigin: window.location.origin,
        key: stripe._key,
      });
      if (stripe._account) params.set('stripeAccount', stripe._account);
      if (this._group._appearance) params.set('appearance', JSON.stringify(this._group._appearance));
      if (this._options.readOnly) params.set('readOnly', '1');

      const container = document.createElement('div');
      container.className = 'SandboxStripeElement';
      // Tests find the Payment Element by this id. A host page that marks its own mount node keeps the only one.
      if (!document.querySelector('[data-testid="payment-element"]')) container.dataset.testid = 'payment-element';
      const frame = document.createElement('iframe');
      frame.name = `__privateStripeFrame${frameCounter}`;
      frame.title = 'Secure payment input frame';
      // The fragment, unlike a query string, is never sent to the server, so the key and origin stay in the browser.
      frame.src = `${new URL('elements-inner.html', JS_BASE).href}#${params}`;
      frame.setAttribute('frameborder', '0');
      frame.setAttribute('allowtransparency', 'true');
      frame.setAttribute('scrolling', 'no');
      Object.assign(frame.style, {
        border: '0',
        display: 'block',
        width: '100%',
        minWidth: '100%',
        height: '190px', // replaced by the frame's own measurement as soon as it has laid itself out
        overflow: 'hidden',
        colorScheme: 'normal',
        background: 'transparent',
      });

      container.appendChild(frame);
      node.appendChild(container);
      this._frame = frame;
      this._container = container;
      this._frameId = frameId;
      frameHandlers.set(frame.contentWindow, (message) => this._onMessage(message));
    }

    /** Remove the fields from the page; the Element can be mounted again. */
    unmount() {
      if (!this._frame) return;
      frameHandlers.delete(this._frame.contentWindow);
      this._container.remove();
      this._frame = null;
      this._container = null;
      for (const { reject } of this._pending.values()) {
        reject(new IntegrationError('The Payment Element was unmounted while a request was in progress.'));
      }
      this._pending.clear();
      this._resetReadiness();
    }

    /** Unmount for good and let the Elements group create another Payment Element. */
    destroy() {
      this.unmount();
      this._destroyed = true;
      this._handlers.clear();
      this._group._forget(this);
    }

    on(event, handler) {
      if (!ELEMENT_EVENTS.has(event)) throw new IntegrationError(`Unsupported event "${event}" for the Payment Element.`);
      if (typeof handler !== 'function') throw new IntegrationError('The event handler must be a function.');
      if (!this._handlers.has(event)) this._handlers.set(event, new Set());
      this._handlers.get(event).add(handler);
      return this;
    }

    off(event, handler) {
      const handlers = this._handlers.get(event);
      if (handlers) {
        if (handler) handlers.delete(handler);
        else handlers.clear();
      }
      return this;
    }

    once(event, handler) {
      const wrapper = (payload) => {
        this.off(event, wrapper);
        handler(payload);
      };
      return this.on(event, wrapper);
    }

    /** Change options after mounting; `readOnly` is the one the card fields act on. */
    update(options = {}) {
      Object.assign(this._options, options);
      this._post('update', { options: { readOnly: Boolean(this._options.readOnly) } });
      return this;
    }

    focus() {
      this._post('focus');
      return this;
    }

    blur() {
      this._post('blur');
      return this;
    }

    clear() {
      this._post('clear');
      return this;
    }

    collapse() {
      return this; // a card-only element has nothing to collapse
    }

    _emit(event, payload) {
      for (const handler of [...(this._handlers.get(event) || [])]) {
        try {
          handler(payload);
        } catch (error) {
          // A faulty host handler must not stop the others, but it should still be visible to its developer.
          setTimeout(() => {
            throw error;
          });
        }
      }
    }

    _onMessage(message) {
      if (message.frameId !== this._frameId) return;
      switch (message.type) {
        case 'ready':
          if (!this._ready) {
            this._ready = true;
            this._markReady();
            this._emit('ready', { elementType: 'payment' });
          }
          break;
        case 'resize':
          if (this._frame && Number.isFinite(message.height) && message.height > 0) {
            this._frame.style.height = `${Math.ceil(message.height)}px`;
          }
          break;
        case 'change': {
          const payload = {
            elementType: 'payment',
            complete: Boolean(message.complete),
            empty: Boolean(message.empty),
            collapsed: false,
            value: { type: 'card' },
          };
          if (message.error) payload.error = message.error;
          this._emit('change', payload);
          break;
        }
        case 'focus':
        case 'blur':
        case 'escape':
          this._emit(message.type, { elementType: 'payment' });
          break;
        case 'reply': {
          const pending = this._pending.get(message.requestId);
          if (pending) {
            this._pending.delete(message.requestId);
            pending.resolve(message.result);
          }
          break;
        }
        default:
          break; // a newer frame may send more; ignoring is the compatible choice
      }
    }

    /** Send a one-way message once the frame is ready. */
    _post(type, payload = {}) {
      if (!this._frame) return;
      const frame = this._frame;
      this._readyPromise.then(() => {
        if (this._frame === frame) {
          frame.contentWindow.postMessage({ tag: TAG, frameId: this._frameId, type, ...payload }, SANDBOX_ORIGIN);
        }
      });
    }

    /** Ask the frame to do something and wait for its reply. */
    _request(type, payload = {}) {
      if (!this._frame) {
        return Promise.reject(new IntegrationError('The Payment Element must be mounted before it can be used.'));
      }
      const requestId = newId('req_');
      const answer = new Promise((resolve, reject) => this._pending.set(requestId, { resolve, reject }));
      this._post(type, { requestId, ...payload });
      return answer;
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Elements: the group an integration creates its Payment Element from.

  class Elements {
    constructor(stripe, options) {
      this._stripe = stripe;
      this._clientSecret = options.clientSecret || null;
      this._appearance = options.appearance || null;
      this._element = null;
    }

    create(type, options = {}) {
      if (type !== 'payment') {
        throw new IntegrationError(`The sandbox's Stripe.js supports only the "payment" Element, not "${type}".`);
      }
      if (this._element) throw new IntegrationError('Can only create one Element of type payment.');
      this._element = new PaymentElement(this, options);
      return this._element;
    }

    getElement(type) {
      return type === 'payment' ? this._element : null;
    }

    /** New appearance or client secret; a mounted element restyles itself straight away. */
    update(options = {}) {
      if (options.clientSecret) this._clientSecret = options.clientSecret;
      if (options.appearance) {
        this._appearance = options.appearance;
        if (this._element) this._element._post('update', { appearance: this._appearance });
      }
      return this;
    }

    /** Validate the fields (showing what is wrong in them); resolves to `{}` or `{error}`. */
    async submit() {
      const element = this._mountedElement('elements.submit()');
      return element._request('submit');
    }

    async fetchUpdates() {
      return {};
    }

    _mountedElement(caller) {
      if (!this._element || !this._element._frame) {
        throw new IntegrationError(`${caller} needs a mounted Payment Element.`);
      }
      return this._element;
    }

    _forget(element) {
      if (this._element === element) this._element = null;
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The 3-D Secure challenge: a modal over the host page whose content, like the card fields, comes from the
  // sandbox's origin. It resolves once the shopper has completed or failed the test authentication.

  function runThreeDSecureChallenge(stripe, intent, clientSecret) {
    return new Promise((resolve) => {
      const frameId = newId('3ds_');
      const params = new URLSearchParams({
        frameId,
        parentOrigin: window.location.origin,
        key: stripe._key,
        paymentIntent: intent.id, // a PaymentIntent's or a SetupIntent's: the page serves both
        clientSecret,
      });
      if (stripe._account) params.set('stripeAccount', stripe._account);

      const overlay = document.createElement('div');
      overlay.className = 'SandboxStripe3DS';
      overlay.setAttribute('role', 'dialog');
      overlay.setAttribute('aria-modal', 'true');
      overlay.setAttribute('aria-label', '3D Secure authentication');
      Object.assign(overlay.style, {
        position: 'fixed',
        inset: '0',
        zIndex: '2147483647',
        display: 'flex',
        alignItems: 'center',
        justifyContent: 'center',
        background: 'rgba(16, 24, 40, 0.55)',
      });
      const frame = document.createElement('iframe');
      frame.name = `__privateStripe3DSFrame_${frameId}`;
      frame.title = '3D Secure authentication';
      frame.src = `${new URL('three-d-secure.html', JS_BASE).href}#${params}`;
      Object.assign(frame.style, {
        border: '0',
        width: 'min(420px, calc(100vw - 24px))',
        height: 'min(400px, calc(100vh - 24px))',
        borderRadius: '10px',
        background: '#fff',
        boxShadow: '0 18px 48px rgba(16, 24, 40, 0.35)',
      });
      overlay.appendChild(frame);

      // Make the page behind the dialog unreachable by keyboard and screen readers while it is open.
      const previouslyFocused = document.activeElement;
      const madeInert = [];
      for (const sibling of document.body.children) {
        if (!sibling.inert) {
          sibling.inert = true;
          madeInert.push(sibling);
        }
      }
      document.body.appendChild(overlay);
      // Focus moves into the dialog now; the challenge page puts it on its first button once loaded.
      frame.focus();

      frameHandlers.set(frame.contentWindow, (message) => {
        if (message.frameId !== frameId) return;
        if (message.type === 'result') {
          frameHandlers.delete(frame.contentWindow);
          overlay.remove();
          for (const node of madeInert) node.inert = false;
          if (previouslyFocused && typeof previouslyFocused.focus === 'function') previouslyFocused.focus();
          resolve(message.result);
        }
      });
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The Stripe object.

  class StripeSandbox {
    constructor(key, options) {
      this._key = key;
      this._account = options.stripeAccount || null;
      this._confirming = false;
    }

    elements(options = {}) {
      return new Elements(this, options);
    }

    /**
     * Confirm the PaymentIntent with the card in the Payment Element, running 3-D Secure when the card asks for it.
     * Resolves to `{paymentIntent}` or `{error}`; with `redirect: 'always'` a successful payment instead sends the
     * browser to `return_url`, as Stripe.js does.
     */
    async confirmPayment(options = {}) {
      const { elements, confirmParams = {}, redirect = 'always' } = options;
      if (!(elements instanceof Elements)) {
        throw new IntegrationError('stripe.confirmPayment(): pass the `elements` instance that created the Payment Element.');
      }
      if (redirect !== 'always' && redirect !== 'if_required') {
        throw new IntegrationError('stripe.confirmPayment(): `redirect` must be "always" or "if_required".');
      }
      if (redirect === 'always' && !confirmParams.return_url) {
        throw new IntegrationError(
          "stripe.confirmPayment(): the `confirmParams.return_url` argument is required unless passing `redirect: 'if_required'`.",
        );
      }
      const clientSecret = options.clientSecret || elements._clientSecret;
      if (!intentIdFromSecret(clientSecret)) {
        throw new IntegrationError(
          'stripe.confirmPayment(): a PaymentIntent client secret is required, either here or in stripe.elements().',
        );
      }
      const element = elements._mountedElement('stripe.confirmPayment()');
      if (this._confirming) {
        return { error: { type: 'invalid_request_error', code: 'confirmation_in_progress', message: 'This payment is already being confirmed.' } };
      }

      this._confirming = true;
      try {
        const result = await element._request('confirm', { clientSecret, confirmParams: plainCopy(confirmParams) });
        const outcome = await this._settle(result, clientSecret, PAYMENT);
        if (outcome.paymentIntent && redirect === 'always' && isFinished(outcome.paymentIntent)) {
          window.location.assign(returnUrlFor(confirmParams.return_url, outcome.paymentIntent, clientSecret, PAYMENT));
          return new Promise(() => {}); // like Stripe.js: the page is going away, so the promise never settles
        }
        return outcome;
      } finally {
        this._confirming = false;
      }
    }

    /**
     * Confirm a SetupIntent with the card in the Payment Element (saving it for later), running 3-D Secure when
     * the card asks for it. Resolves to `{setupIntent}` or `{error}`; with `redirect: 'always'` a saved card
     * instead sends the browser to `return_url`, as Stripe.js does.
     */
    async confirmSetup(options = {}) {
      const { elements, confirmParams = {}, redirect = 'always' } = options;
      if (!(elements instanceof Elements)) {
        throw new IntegrationError('stripe.confirmSetup(): pass the `elements` instance that created the Payment Element.');
      }
      if (redirect !== 'always' && redirect !== 'if_required') {
        throw new IntegrationError('stripe.confirmSetup(): `redirect` must be "always" or "if_required".');
      }
      if (redirect === 'always' && !confirmParams.return_url) {
        throw new IntegrationError(
          "stripe.confirmSetup(): the `confirmParams.return_url` argument is required unless passing `redirect: 'if_required'`.",
        );
      }
      const clientSecret = options.clientSecret || elements._clientSecret;
      if (!setupIntentIdFromSecret(clientSecret)) {
        throw new IntegrationError(
          'stripe.confirmSetup(): a SetupIntent client secret is required, either here or in stripe.elements().',
        );
      }
      const element = elements._mountedElement('stripe.confirmSetup()');
      if (this._confirming) {
        return { error: { type: 'invalid_request_error', code: 'confirmation_in_progress', message: 'This card is already being saved.' } };
      }

      this._confirming = true;
      try {
        const result = await element._request('confirm', { clientSecret, confirmParams: plainCopy(confirmParams) });
        const outcome = await this._settle(result, clientSecret, SETUP);
        if (outcome.setupIntent && redirect === 'always' && isFinished(outcome.setupIntent)) {
          window.location.assign(returnUrlFor(confirmParams.return_url, outcome.setupIntent, clientSecret, SETUP));
          return new Promise(() => {});
        }
        return outcome;
      } finally {
        this._confirming = false;
      }
    }

    /** Run whatever next action a confirmed PaymentIntent asks for (here: 3-D Secure). */
    async handleNextAction({ clientSecret } = {}) {
      const kind = setupIntentIdFromSecret(clientSecret) ? SETUP : PAYMENT;
      const retrieved = await kind.retrieve(this, clientSecret);
      if (retrieved.error) return retrieved;
      return this._settle({ [kind.key]: retrieved[kind.key] }, clientSecret, kind);
    }

    async retrievePaymentIntent(clientSecret) {
      const id = intentIdFromSecret(clientSecret);
      if (!id) {
        throw new IntegrationError('stripe.retrievePaymentIntent(): expected a client secret of the form pi_…_secret_….');
      }
      const query = new URLSearchParams({ client_secret: clientSecret });
      const { body, error } = await this._api('GET', `v1/payment_intents/${encodeURIComponent(id)}?${query}`);
      return error ? { error } : { paymentIntent: body };
    }

    async retrieveSetupIntent(clientSecret) {
      const id = setupIntentIdFromSecret(clientSecret);
      if (!id) {
        throw new IntegrationError('stripe.retrieveSetupIntent(): expected a client secret of the form seti_…_secret_….');
      }
      const query = new URLSearchParams({ client_secret: clientSecret });
      const { body, error } = await this._api('GET', `v1/setup_intents/${encodeURIComponent(id)}?${query}`);
      return error ? { error } : { setupIntent: body };
    }

    /** Turn a confirmation result into what confirmPayment() or confirmSetup() resolves to, authenticating first
     * when needed. */
    async _settle(result, clientSecret, kind) {
      if (!result || result.error) return { error: (result && result.error) || CONNECTION_ERROR };
      let intent = result[kind.key];
      if (intent.status === 'requires_action') {
        const action = intent.next_action || {};
        const sdk = action.type === 'use_stripe_sdk' ? action.use_stripe_sdk || {} : {};
        if (sdk.type !== 'three_d_secure_redirect') {
          return {
            error: {
              type: 'invalid_request_error',
              code: 'unsupported_next_action',
              message: `The sandbox cannot perform the next action "${action.type}".`,
              [kind.field]: intent,
            },
          };
        }
        const challenge = await runThreeDSecureChallenge(this, intent, clientSecret);
        if (challenge.error) return { error: challenge.error };
        const retrieved = await kind.retrieve(this, clientSecret);
        if (retrieved.error) return retrieved;
        intent = retrieved[kind.key];
      }
      const lastError = intent[kind.lastError];
      if (intent.status === 'requires_payment_method' && lastError) {
        // A failed authentication or a decline after it: Stripe.js reports the intent's last error.
        return { error: { ...lastError, [kind.field]: intent } };
      }
      return { [kind.key]: intent };
    }

    async _api(method, path, form) {
      const headers = { Authorization: `Bearer ${this._key}` };
      if (this._account) headers['Stripe-Account'] = this._account;
      let response;
      try {
        response = await fetch(new URL(path, API_BASE), { method, headers, body: form, credentials: 'omit' });
      } catch {
        return { error: CONNECTION_ERROR };
      }
      const body = await response.json().catch(() => null);
      if (response.ok && body) return { body };
      return { error: (body && body.error) || { type: 'api_error', message: `Unexpected response (HTTP ${response.status}).` } };
    }
  }

  // How the two kinds of intent differ, for the code they share.
  const PAYMENT = Object.freeze({
    key: 'paymentIntent',
    field: 'payment_intent',
    lastError: 'last_payment_error',
    retrieve: (stripe, clientSecret) => stripe.retrievePaymentIntent(clientSecret),
  });
  const SETUP = Object.freeze({
    key: 'setupIntent',
    field: 'setup_intent',
    lastError: 'last_setup_error',
    retrieve: (stripe, clientSecret) => stripe.retrieveSetupIntent(clientSecret),
  });

  function isFinished(intent) {
    return ['succeeded', 'processing', 'requires_capture'].includes(intent.status);
  }

  function returnUrlFor(returnUrl, intent, clientSecret, kind) {
    const url = new URL(returnUrl, window.location.href);
    url.searchParams.set(kind.field, intent.id);
    url.searchParams.set(`${kind.field}_client_secret`, clientSecret);
    url.searchParams.set('redirect_status', intent.status === 'processing' ? 'pending' : 'succeeded');
    return url.href;
  }

  /** confirmParams go through postMessage, which cannot carry functions or DOM nodes; keep only plain data. */
  function plainCopy(value) {
    return JSON.parse(JSON.stringify(value));
  }

  // ---------------------------------------------------------------------------------------------------------------

  function Stripe(publishableKey, options = {}) {
    if (typeof publishableKey !== 'string' || publishableKey === '') {
      throw new IntegrationError('Please call Stripe() with your publishable key. You used an empty string.');
    }
    if (/^[sr]k_/.test(publishableKey)) {
      throw new IntegrationError('You should not use your secret key with Stripe.js. Please pass a publishable key instead.');
    }
    if (!publishableKey.startsWith('pk_')) {
      throw new IntegrationError(`Invalid value for Stripe(): apiKey should be a publishable key. You passed ${publishableKey}.`);
    }
    return new StripeSandbox(publishableKey, options || {});
  }

  Stripe.version = 3;
  Stripe.isSandbox = true;
  Stripe.IntegrationError = IntegrationError;
  window.Stripe = Stripe;
})();
