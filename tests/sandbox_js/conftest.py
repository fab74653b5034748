"""Fixtures for the Stripe.js stand-in's tests: the real sandbox in-process, and a host page on another origin."""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest_asyncio
import stripe
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.stripe import RunningSandbox

# The suite-wide registration (pytest_plugins in tests/conftest.py) makes these available everywhere; importing them
# here keeps this directory runnable on its own as well.
from tests.browser_support import (  # noqa: F401
    browser,
    context,
    page,
    page_errors,
    pytest_runtest_makereport,
)

SECRET_KEY = "sk_test_js"
PUBLISHABLE_KEY = "pk_test_js"


@pytest_asyncio.fixture
async def sandbox_url(sandbox: RunningSandbox) -> str:
    return sandbox.url


@pytest_asyncio.fixture
async def stripe_client(sandbox_url: str) -> AsyncIterator[stripe.StripeClient]:
    http_client = stripe.AIOHTTPClient()
    yield stripe.StripeClient(
        SECRET_KEY, http_client=http_client, base_addresses={"api": sandbox_url, "connect": sandbox_url}
    )
    # Its aiohttp session belongs to this test's event loop; stripe-python leaves this method unannotated.
    await http_client.close_async()  # type: ignore[no-untyped-call]


CreateIntent = Callable[..., Awaitable[stripe.PaymentIntent]]


@pytest_asyncio.fixture
async def create_intent(stripe_client: stripe.StripeClient) -> CreateIntent:
    async def create(
        amount: int = 8000, currency: str = "aud", *, stripe_account: str | None = None
    ) -> stripe.PaymentIntent:
        return await stripe_client.v1.payment_intents.create_async(
            {"amount": amount, "currency": currency, "automatic_payment_methods": {"enabled": True}},
            {"stripe_account": stripe_account} if stripe_account else None,
        )

    return create


@pytest_asyncio.fixture
async def connected_account(sandbox_url: str) -> str:
    """A clinic's account connected to the platform through Connect OAuth, as the clinic config page does it."""
    consent = {
        "client_id": "ca_" + SECRET_KEY.removeprefix("sk_test_"),
        "response_type": "code",
        "scope": "read_write",
        "redirect_uri": "http://localhost/connected",
        "action": "authorize",
        "account": "new",
        "business_name": "Harbour Telehealth",
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox_url}/oauth/authorize", data=consent, allow_redirects=False) as answer:
            assert answer.status == 302, await answer.text()
            code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        # stripe-python's OAuth helper is synchronous only; the token endpoint is one form POST.
        async with http.post(
            f"{sandbox_url}/oauth/token",
            data={"grant_type": "authorization_code", "code": code},
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
        ) as answer:
            assert answer.status == 200, await answer.text()
            token = await answer.json()
    return str(token["stripe_user_id"])


# The host page: what a merchant page (the patient widget) does with Stripe.js, on an origin of its own.
HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Host checkout</title>
  <link rel="icon" href="data:,">
  <script src="{stripe_js}"></script>
  <style>body {{ font-family: sans-serif; max-width: 480px; margin: 24px auto; }}</style>
</head>
<body>
  <h1>Pay your clinician</h1>
  <div id="payment-element" data-testid="payment-element"></div>
  <button id="pay" type="button">Pay A$80.00</button>
  <button id="clear" type="button">Clear the card</button>
  <pre id="result"></pre>
  <script id="config" type="application/json">{config}</script>
  <script src="/host.js"></script>
</body>
</html>
"""

HOST_SCRIPT = """
const config = JSON.parse(document.getElementById('config').textContent);
// Everything the sandbox's frames tell this page, to check that no card number is ever among it.
window.messagesSeen = [];
window.addEventListener('message', (event) => window.messagesSeen.push(JSON.stringify(event.data)));
window.changeEvents = [];

const stripe = Stripe(config.publishableKey, config.stripeAccount ? { stripeAccount: config.stripeAccount } : {});
window.stripe = stripe;
const elements = stripe.elements({
  clientSecret: config.clientSecret,
  appearance: { variables: { colorPrimary: '#6b21a8', borderRadius: '8px' } },
});
window.elements = elements;
const element = elements.create('payment');
element.on('ready', () => { document.body.dataset.ready = 'true'; });
element.on('change', (event) => {
  window.changeEvents.push(event);
  document.body.dataset.complete = String(event.complete);
});
element.mount('#payment-element');

document.getElementById('clear').addEventListener('click', () => element.clear());

document.getElementById('pay').addEventListener('click', async () => {
  const out = document.getElementById('result');
  delete out.dataset.done;
  // A SetupIntent's client secret saves the card (confirmSetup); a PaymentIntent's pays (confirmPayment).
  const confirm = config.clientSecret.startsWith('seti_') ? stripe.confirmSetup : stripe.confirmPayment;
  const result = await confirm.call(stripe, {
    elements,
    confirmParams: {
      return_url: config.returnUrl,
      payment_method_data: { billing_details: { email: 'patient@example.com' } },
    },
    redirect: config.redirect,
  });
  out.textContent = JSON.stringify(result, null, 2);
  out.dataset.done = result.error ? 'error' : (result.paymentIntent || result.setupIntent).status;
});
"""


@dataclass(frozen=True)
class HostSite:
    origin: str

    def checkout_url(
        self, client_secret: str, *, redirect: str = "if_required", stripe_account: str | None = None
    ) -> str:
        query = {"client_secret": client_secret, "redirect": redirect}
        if stripe_account:
            query["stripe_account"] = stripe_account
        return f"{self.origin}/checkout?{urlencode(query)}"


@pytest_asyncio.fixture
async def host_site(sandbox_url: str) -> AsyncIterator[HostSite]:
    async def checkout(request: web.Request) -> web.Response:
        origin = f"{request.scheme}://{request.host}"
        config = {
            "publishableKey": PUBLISHABLE_KEY,
            "clientSecret": request.query["client_secret"],
            "redirect": request.query.get("redirect", "if_required"),
            "returnUrl": f"{origin}/return",
            "stripeAccount": request.query.get("stripe_account"),
        }
        body = HOST_PAGE.format(
            stripe_js=html.escape(f"{sandbox_url}/v3/"),
            # "</" cannot appear inside the JSON anyway, but escape it as any page embedding JSON should.
            config=json.dumps(config).replace("</", "<\\/"),
        )
        return web.Response(text=body, content_type="text/html")

    async def host_js(request: web.Request) -> web.Response:
        return web.Response(text=HOST_SCRIPT, content_type="application/javascript")

    async def returned(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>Returned</title><h1>Thank you</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/checkout", checkout)
    app.router.add_get("/host.js", host_js)
    app.router.add_get("/return", returned)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        # "localhost" rather than 127.0.0.1: a different site from the sandbox, not just another port.
        yield HostSite(origin=f"http://localhost:{server.port}")
    finally:
        await server.close()
