"""What Stripe.js does in a patient's browser, against the sandbox: publishable key, client secret, typed cards,
the 3-D Secure challenge routes and CORS."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from sandbox.stripe import RunningSandbox

from .conftest import connect_account, new_platform_key

Json = dict[str, Any]


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str, secret_key: str) -> None:
        self.http, self.base, self.secret_key = http, base, secret_key
        self.publishable_key = "pk_test_" + secret_key.removeprefix("sk_test_")

    async def call(
        self, method: str, path: str, data: Json | None = None, *, key: str | None = None, account: str | None = None
    ) -> tuple[int, Json]:
        headers = {"Authorization": f"Bearer {key or self.secret_key}"}
        if account:
            headers["Stripe-Account"] = account
        kwargs: Json = {"params": data} if method == "GET" else {"data": data}
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as answer:
            return answer.status, await answer.json()

    async def intent(self, account: str | None = None, **extra: str) -> Json:
        status, body = await self.call(
            "POST", "/v1/payment_intents", {"amount": "8000", "currency": "aud", **extra}, account=account
        )
        assert status == 200, body
        return body

    async def browser_confirm(self, pi: Json, number: str, *, account: str | None = None) -> tuple[int, Json]:
        form = {
            "client_secret": pi["client_secret"],
            "payment_method_data[type]": "card",
            "payment_method_data[card][number]": number,
            "payment_method_data[card][exp_month]": "12",
            "payment_method_data[card][exp_year]": "2034",
            "payment_method_data[card][cvc]": "123",
            "payment_method_data[billing_details][email]": "pat@example.com",
            "return_url": "https://clinic.example/paid",
            "use_stripe_sdk": "true",
        }
        return await self.call(
            "POST", f"/v1/payment_intents/{pi['id']}/confirm", form, key=self.publishable_key, account=account
        )


@pytest.fixture
def api(http: aiohttp.ClientSession, sandbox: RunningSandbox) -> Api:
    return Api(http, sandbox.url, new_platform_key())


async def test_publishable_key_reads_an_intent_only_with_its_client_secret(api: Api) -> None:
    pi = await api.intent()
    status, body = await api.call(
        "GET", f"/v1/payment_intents/{pi['id']}", {"client_secret": pi["client_secret"]}, key=api.publishable_key
    )
    assert status == 200 and body["id"] == pi["id"]
    status, body = await api.call("GET", f"/v1/payment_intents/{pi['id']}", key=api.publishable_key)
    assert status == 400 and body["error"]["param"] == "client_secret"
    status, body = await api.call(
        "GET", f"/v1/payment_intents/{pi['id']}", {"client_secret": "pi_x_secret_y"}, key=api.publishable_key
    )
    assert status == 400 and body["error"]["param"] == "client_secret"


async def test_publishable_key_cannot_call_server_routes(api: Api) -> None:
    status, body = await api.call(
        "POST", "/v1/payment_intents", {"amount": "8000", "currency": "aud"}, key=api.publishable_key
    )
    assert status == 401 and body["error"]["code"] == "secret_key_required"


async def test_secret_key_cannot_send_card_numbers(api: Api) -> None:
    pi = await api.intent()
    status, body = await api.call(
        "POST",
        f"/v1/payment_intents/{pi['id']}/confirm",
        {
            "payment_method_data[type]": "card",
            "payment_method_data[card][number]": "4242424242424242",
            "payment_method_data[card][exp_month]": "12",
            "payment_method_data[card][exp_year]": "2034",
        },
    )
    assert status == 400 and body["error"]["type"] == "invalid_request_error"


async def test_typed_visa_succeeds(api: Api) -> None:
    pi = await api.intent(receipt_email="pat@example.com")
    status, body = await api.browser_confirm(pi, "4242 4242 4242 4242")
    assert status == 200 and body["status"] == "succeeded"
    status, charge = await api.call("GET", f"/v1/charges/{body['latest_charge']}")
    assert charge["payment_method_details"]["card"]["last4"] == "4242"
    assert charge["billing_details"]["email"] == "pat@example.com"


@pytest.mark.parametrize(
    ("number", "code", "decline_code", "message"),
    [
        ("4000000000000002", "card_declined", "generic_decline", "Your card was declined."),
        ("4000000000009995", "card_declined", "insufficient_funds", "Your card has insufficient funds."),
        ("4000000000000069", "expired_card", "expired_card", "Your card has expired."),
        ("4000000000000127", "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
    ],
)
async def test_typed_declines(api: Api, number: str, code: str, decline_code: str, message: str) -> None:
    pi = await api.intent()
    status, body = await api.browser_confirm(pi, number)
    assert status == 402
    error = body["error"]
    assert (error["type"], error["code"], error["decline_code"], error["message"]) == (
        "card_error",
        code,
        decline_code,
        message,
    )
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert error["payment_intent"]["last_payment_error"]["payment_method"]["card"]["last4"] == number[-4:]
    status, events = await api.call("GET", "/v1/events", {"type": "payment_intent.payment_failed"})
    assert [event["data"]["object"]["id"] for event in events["data"]] == [pi["id"]]
    # the same intent can then be paid with another card
    status, body = await api.browser_confirm(pi, "4242424242424242")
    assert status == 200 and body["status"] == "succeeded" and body["last_payment_error"] is None


async def test_bad_card_number_is_a_card_error(api: Api) -> None:
    pi = await api.intent()
    status, body = await api.browser_confirm(pi, "4242424242424241")
    assert status == 402 and body["error"]["code"] == "incorrect_number"


async def test_three_d_secure_complete(api: Api) -> None:
    pi = await api.intent()
    status, body = await api.browser_confirm(pi, "4000002500003155")
    assert status == 200 and body["status"] == "requires_action"
    assert body["next_action"]["type"] == "use_stripe_sdk"
    sdk = body["next_action"]["use_stripe_sdk"]
    assert sdk["type"] == "three_d_secure_redirect"
    assert sdk["stripe_js"] == f"{api.base}/_sandbox/3ds/{pi['id']}"
    status, body = await api.call(
        "POST", f"/_sandbox/3ds/{pi['id']}/complete", {"client_secret": pi["client_secret"]}, key=api.publishable_key
    )
    assert status == 200 and body["status"] == "succeeded" and body["next_action"] is None
    status, events = await api.call("GET", "/v1/events")
    assert [event["type"] for event in events["data"]][:3] == [
        "payment_intent.succeeded",
        "charge.succeeded",
        "payment_intent.requires_action",
    ]


async def test_three_d_secure_fail(api: Api) -> None:
    pi = await api.intent()
    await api.browser_confirm(pi, "4000002500003155")
    status, body = await api.call(
        "POST", f"/_sandbox/3ds/{pi['id']}/fail", {"client_secret": pi["client_secret"]}, key=api.publishable_key
    )
    assert status == 200 and body["status"] == "requires_payment_method"
    error = body["last_payment_error"]
    assert error["code"] == "payment_intent_authentication_failure"
    assert error["message"] == (
        "We are unable to authenticate your payment method. Please choose a different payment method and try again."
    )
    status, body = await api.call(
        "POST", f"/_sandbox/3ds/{pi['id']}/complete", {"client_secret": pi["client_secret"]}, key=api.publishable_key
    )
    assert status == 400 and body["error"]["code"] == "payment_intent_unexpected_state"


async def test_three_d_secure_then_declined(api: Api) -> None:
    pi = await api.intent()
    status, body = await api.browser_confirm(pi, "4000008260003178")
    assert body["status"] == "requires_action"
    status, body = await api.call(
        "POST", f"/_sandbox/3ds/{pi['id']}/complete", {"client_secret": pi["client_secret"]}, key=api.publishable_key
    )
    assert status == 200 and body["status"] == "requires_payment_method"
    assert body["last_payment_error"]["decline_code"] == "insufficient_funds"


async def test_three_d_secure_needs_the_client_secret(api: Api) -> None:
    pi = await api.intent()
    await api.browser_confirm(pi, "4000002500003155")
    status, _ = await api.call(
        "POST", f"/_sandbox/3ds/{pi['id']}/complete", {"client_secret": "nope"}, key=api.publishable_key
    )
    assert status == 400  # a parameter naming what does not exist, as Stripe answers a wrong client_secret


async def test_connected_account_in_the_browser(api: Api, http: aiohttp.ClientSession) -> None:
    token = await connect_account(http, api.base, api.secret_key)
    account = token["stripe_user_id"]
    pi = await api.intent(account=account, application_fee_amount="300")
    status, body = await api.browser_confirm(pi, "4000002500003155", account=account)
    assert status == 200 and body["status"] == "requires_action"
    status, body = await api.call(
        "POST",
        f"/_sandbox/3ds/{pi['id']}/complete",
        {"client_secret": pi["client_secret"]},
        key=api.publishable_key,
        account=account,
    )
    assert status == 200 and body["status"] == "succeeded"
    # the same intent is unknown to the platform itself
    status, body = await api.browser_confirm(pi, "4242424242424242")
    assert status == 404 and body["error"]["code"] == "resource_missing"


async def test_stripe_js_style_key_parameter(api: Api) -> None:
    pi = await api.intent()
    async with api.http.get(
        f"{api.base}/v1/payment_intents/{pi['id']}",
        params={"key": api.publishable_key, "client_secret": pi["client_secret"]},
    ) as answer:
        assert answer.status == 200


async def test_cors_preflight_and_headers(api: Api) -> None:
    headers = {
        "Origin": "https://clinic.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, stripe-account, content-type",
    }
    async with api.http.options(f"{api.base}/v1/payment_intents/pi_x/confirm", headers=headers) as answer:
        assert answer.status == 204
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        allowed = answer.headers["Access-Control-Allow-Headers"].lower()
        assert {"authorization", "stripe-account", "content-type"} <= {h.strip() for h in allowed.split(",")}
    async with api.http.options(f"{api.base}/_sandbox/3ds/pi_x/complete", headers=headers) as answer:
        assert answer.status == 204
    pi = await api.intent()
    async with api.http.get(
        f"{api.base}/v1/payment_intents/{pi['id']}",
        params={"client_secret": pi["client_secret"]},
        headers={"Authorization": f"Bearer {api.publishable_key}"},
    ) as answer:
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert answer.headers["Request-Id"].startswith("req_")
