"""The patient page's Content-Security-Policy lets in exactly the Stripe.js the settings name."""

from __future__ import annotations

from tests.conftest import make_settings
from widget.patient import content_security_policy


def directives(policy: str) -> dict[str, set[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = set(values)
    return parsed


def test_with_stripe_it_allows_what_stripes_csp_guidance_lists() -> None:
    policy = directives(content_security_policy(make_settings("sqlite+aiosqlite:///x"), "callpay.example"))
    assert {"https://js.stripe.com", "https://*.js.stripe.com"} <= policy["script-src"]
    assert {"https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"} <= policy["frame-src"]
    assert "https://api.stripe.com" in policy["connect-src"]
    assert policy["default-src"] == {"'self'"}
    assert "'unsafe-inline'" not in policy["script-src"]


def test_elsewhere_it_allows_only_the_configured_origins() -> None:
    settings = make_settings(
        "sqlite+aiosqlite:///x",
        stripe_js_url="http://127.0.0.1:12111/v3/",
        stripe_api_base="http://127.0.0.1:12111",
    )
    policy = directives(content_security_policy(settings, "127.0.0.1:8080"))
    assert policy["script-src"] == {"'self'", "http://127.0.0.1:12111"}
    assert policy["frame-src"] == {"http://127.0.0.1:12111"}
    assert not any("stripe.com" in value for values in policy.values() for value in values)
