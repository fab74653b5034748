"""Launch verification as the host platform, a forger and a replayer see it: through the API and through a page."""

from __future__ import annotations

import html
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import launch_token

# HS512 with the platform's 40-byte key is only built to prove it is refused.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("expired", {"times": (-200, -100)}, "has expired"),
    ("future iat", {"times": (120, 200)}, "dated in the future"),
    ("wrong aud", {"extra": {"aud": "someone-else"}}, "made for another app"),
    ("wrong signature", {"secret": "another-secret-that-is-long-enough-0123456789"}, "signature doesn't match"),
    ("alg none", {"algorithm": "none"}, "not signed the way Callpay expects"),
    ("alg HS512", {"algorithm": "HS512"}, "not signed the way Callpay expects"),
    ("lifetime over 300 s", {"lifetime": 301}, "lives longer than Callpay allows"),
    ("unknown role", {"role": "superuser"}, "names a role Callpay doesn't know"),
    ("empty sub", {"extra": {"sub": " "}}, "has an empty 'sub'"),
    ("exp not a time", {"extra": {"exp": "tomorrow"}}, "not valid"),
    *[
        (f"missing {claim}", {"drop": (claim,)}, f"missing '{claim}'")
        for claim in ("iss", "sub", "role", "org", "iat", "exp", "jti")
    ],
    ("missing aud", {"drop": ("aud",)}, "missing 'aud'"),
    ("staff without clinic", {"clinic": None}, "missing 'clinic'"),
    ("staff without name", {"name": None}, "missing 'name'"),
    ("patient without call", {"role": "patient", "call": None}, "missing 'call'"),
    ("garbage", {}, "not valid"),
    ("overlong clinic", {"clinic": "c" * 201}, "'clinic' is longer than Callpay accepts"),
    ("overlong jti", {"extra": {"jti": "j" * 201}}, "'jti' is longer than Callpay accepts"),
]


def _token(case: dict[str, Any]) -> str:
    """The case's launch, with times (iat, exp offsets in seconds) taken from the moment the test runs."""
    if not case:
        return "not-a-jwt"
    case = dict(case)
    if "times" in case:
        now = int(time.time())
        iat, exp = case.pop("times")
        case["extra"] = {"iat": now + iat, "exp": now + exp}
    return launch_token(**{"role": "team_admin", **case})


@pytest.mark.parametrize(("name", "case", "says"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_a_bad_launch_is_refused_by_the_api_saying_why(
    client: TestClient[Any, Any], name: str, case: dict[str, Any], says: str
) -> None:
    response = await client.post("/api/v1/sessions", json={"launch": _token(case)})
    assert response.status == 401, name
    error = (await response.json())["error"]
    assert error["code"] == "launch_rejected"
    assert says in error["message"]
    assert "open it again from the video-call platform" in error["message"]


@pytest.mark.parametrize(("name", "case", "says"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_a_bad_launch_gets_a_401_page_that_says_what_to_do(
    client: TestClient[Any, Any], name: str, case: dict[str, Any], says: str
) -> None:
    response = await client.get("/clinic-config", params={"launch": _token(case)})
    assert response.status == 401, name
    assert response.content_type == "text/html"
    text = await response.text()
    assert says.replace("'", "&#39;") in text
    assert "callpay-session" not in text  # nothing else: no session, no script
    assert "<script" not in text
    assert "frame-ancestors" in response.headers["Content-Security-Policy"]


async def test_a_replayed_jti_is_refused_even_through_a_different_door(client: TestClient[Any, Any]) -> None:
    token = launch_token(role="team_admin", call=None)
    assert (await client.get("/clinic-config", params={"launch": token})).status == 200
    response = await client.post("/api/v1/sessions", json={"launch": token})
    assert response.status == 401
    assert "already been used" in (await response.json())["error"]["message"]
    response = await client.get("/clinic-config", params={"launch": token})
    assert response.status == 401
    assert "already been used" in await response.text()


async def test_a_good_launch_opens_the_page_with_its_session_and_no_launch_in_it(
    client: TestClient[Any, Any],
) -> None:
    token = launch_token(role="team_admin", call=None)
    response = await client.get("/clinic-config", params={"launch": token})
    assert response.status == 200
    text = await response.text()
    assert 'id="callpay-session"' in text
    assert token not in text
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp


async def test_a_launch_within_clock_skew_is_accepted(client: TestClient[Any, Any]) -> None:
    now = int(time.time())
    token = launch_token(role="team_admin", extra={"iat": now + 20, "exp": now + 200})
    assert (await client.post("/api/v1/sessions", json={"launch": token})).status == 201


@pytest.mark.parametrize(
    ("path", "role", "where"),
    [
        ("/clinic-config", "team_admin", "Configure > Client Payments on the video-call platform"),
        ("/widget/clinician", "team_member", "Apps & Tools in the call"),
        ("/widget/patient", "patient", "the video call"),
        ("/org-admin", "org_admin", "the video-call platform"),
    ],
)
async def test_a_reload_or_a_reused_link_says_what_happened_and_where_to_open_it(
    client: TestClient[Any, Any], path: str, role: str, where: str
) -> None:
    # A reload: the page removed its launch from the address bar, so none comes back.
    reloaded = await client.get(path)
    assert reloaded.status == 401
    text = html.unescape(await reloaded.text())
    assert "can't be reloaded or opened on its own" in text
    assert f"Open it again from {where}." in text
    # Back, or the host re-showing an old address: the launch comes back, used.
    token = launch_token(role=role, call=None if role in ("team_admin", "org_admin") else "call-1")
    assert (await client.get(path, params={"launch": token})).status == 200
    reused = await client.get(path, params={"launch": token})
    assert reused.status == 401
    text = html.unescape(await reused.text())
    assert "already been used" in text and "each one works only once" in text
    assert f"Open it again from {where}." in text
    assert "<script" not in text


async def test_every_page_has_an_icon(client: TestClient[Any, Any]) -> None:
    page = await client.get("/clinic-config")
    assert '<link rel="icon" href="/static/icons/request-payment.svg"' in await page.text()
    icon = await client.get("/favicon.ico")
    assert icon.status == 200
    assert icon.content_type == "image/svg+xml"
    assert (await icon.text()).startswith("<svg")
