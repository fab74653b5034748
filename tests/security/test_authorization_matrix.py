"""Who may do what: every route the app serves and every Socket.IO event it handles, tried as every role.

The rows are generated from the app itself — its route table (``app.router``) and the handlers registered on its
Socket.IO server — and each must have an entry below saying what every role gets. A route or event the app gains
without an entry here fails the test (and so does an entry for one it no longer serves), so the matrix can't fall
behind the app. Roles, in the order each row lists them (and the order they are tried in):

    none                  no credentials at all
    other_org             the org admin of another organisation
    other_clinic          the clinic admin of another clinic of the same organisation
    other_call_patient    a patient in another call of the same clinic
    other_call_clinician  a clinician of the same clinic, in another call
    patient               the patient of the call the payments were made in
    clinician             that call's clinician, who asked for them
    clinic_admin          the clinic's admin
    org_admin             the admin of the clinic's organisation

Every route that needs a session answers ``none`` with 401; and every answer an outsider gets (the first four
roles after ``none``) is checked to carry nothing of the clinic's call: no request or link id, no patient's email or
name.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import pytest
import socketio
from aiohttp import web

from addon.app import create_app
from addon.settings import Settings
from addon.wire.routes import ROUTES as CONTRACT_ROUTES
from realtime.server import SERVER
from sandbox.stripe import RunningSandbox
from tests.conftest import bearer, launch_token
from tests.support.payflow import PayStack, SocketUser, build_stack

ROLES = (
    "none",
    "other_org",
    "other_clinic",
    "other_call_patient",
    "other_call_clinician",
    "patient",
    "clinician",
    "clinic_admin",
    "org_admin",
)
# Outside the clinic's call: nothing of it may reach them. (A clinician of the same clinic in another call is the
# clinic's staff, who the contract lets read any of its requests by id, as its payment centre does for admins.)
OUTSIDERS = ("other_org", "other_clinic", "other_call_patient")
PATIENT_NAME = "Pat Matrix"
PATIENT_EMAIL = "pat.matrix@example.com"
CLAIMS: dict[str, dict[str, Any]] = {
    "other_org": {"role": "org_admin", "sub": "org9-admin", "name": "Olga Other", "org": "org-9", "clinic": "clinic-9",
                  "call": None},
    "other_clinic": {"role": "team_admin", "sub": "clinic2-admin", "name": "Cleo Other", "clinic": "clinic-2",
                     "call": None},
    "other_call_patient": {"role": "patient", "sub": "patient-7", "name": "Pete Other", "call": "call-7"},
    "other_call_clinician": {"role": "team_member", "sub": "dr-bob", "name": "Dr Bob Babbage", "call": "call-7"},
    "patient": {"role": "patient", "sub": "patient-1", "name": PATIENT_NAME, "extra": {"email": PATIENT_EMAIL}},
    "clinician": {"role": "team_member", "sub": "dr-ada", "name": "Dr Ada Lovelace"},
    "clinic_admin": {"role": "team_admin", "sub": "clinic1-admin", "name": "Ann Admin", "call": None},
    "org_admin": {"role": "org_admin", "sub": "org1-admin", "name": "Orla Admin", "call": None},
}  # fmt: skip

# How a route is reached: a session's Bearer token (session), a launch in the address (launch: the pages), or by
# another authority that no session adds to (open: anyone; link: a pay-later link's token; platform: a
# launch-signed platform token; stripe: Stripe's signature; metrics: the metrics token). For the last kinds each
# role still sends its session, to show that a session grants nothing there.
Auth = Literal["session", "launch", "open", "link", "platform", "stripe", "metrics"]


@dataclass(frozen=True)
class Route:
    statuses: str  # one status per role, in ROLES order
    auth: Auth = "session"
    path: str | None = None  # the address tried, with {names} from the fixture's ids; default: the route's own
    body: Any = None
    # Changes what later rows see (unlinks the clinic's Stripe account): tried after every other row.
    last: bool = False
    # Ends the session it is sent with: each role sends a session opened for this row alone.
    own_session: bool = False

    def expected(self) -> dict[str, int]:
        codes = [int(code) for code in self.statuses.split()]
        assert len(codes) == len(ROLES), self.statuses
        return dict(zip(ROLES, codes, strict=True))


#                      none oorg ocli ocpa occl pat  clin cadm oadm
OPEN_200 = "200 200 200 200 200 200 200 200 200"

EXPECTED: dict[tuple[str, str], Route] = {
    # --- No session needed -----------------------------------------------------------------------------------
    ("GET", "/healthz"): Route(OPEN_200, auth="open"),
    ("GET", "/readyz"): Route(OPEN_200, auth="open"),
    ("GET", "/metrics"): Route("404 404 404 404 404 404 404 404 404", auth="metrics"),
    ("GET", "/favicon.ico"): Route(OPEN_200, auth="open"),
    ("GET", "/static"): Route(OPEN_200, auth="open", path="/static/icons/request-payment.svg"),
    ("GET", "/widget/static"): Route(OPEN_200, auth="open", path="/widget/static/live.js"),
    ("GET", "/clinic-config/static"): Route(OPEN_200, auth="open", path="/clinic-config/static/clinic_config.js"),
    ("GET", "/payment-centre/static"): Route(OPEN_200, auth="open", path="/payment-centre/static/payment_centre.js"),
    ("GET", "/api/v1/openapi.json"): Route(OPEN_200, auth="open"),
    ("POST", "/api/v1/sessions"): Route(
        "401 401 401 401 401 401 401 401 401", auth="open", body={"launch": "not-a-launch"}
    ),
    ("POST", "/stripe/webhook"): Route("400 400 400 400 400 400 400 400 400", auth="stripe", body={"id": "evt_x"}),
    ("POST", "/api/v1/platform/calls/{call}/ended"): Route("401 401 401 401 401 401 401 401 401", auth="platform"),
    ("GET", "/socket.io/"): Route("400 400 400 400 400 400 400 400 400", auth="open"),
    ("POST", "/socket.io/"): Route("400 400 400 400 400 400 400 400 400", auth="open"),
    ("OPTIONS", "/socket.io/"): Route("400 400 400 400 400 400 400 400 400", auth="open"),
    ("GET", "/clinic-config/oauth/callback"): Route("400 400 400 400 400 400 400 400 400", auth="open"),
    ("GET", "/clinic-config/stripe/onboarding/return"): Route("400 400 400 400 400 400 400 400 400", auth="open"),
    ("GET", "/clinic-config/stripe/onboarding/refresh"): Route("400 400 400 400 400 400 400 400 400", auth="open"),
    # A pay-later link's token is its own authority: whoever holds it, signed in or not, sees the same.
    ("GET", "/pay/{token}"): Route(OPEN_200, auth="link"),
    ("GET", "/api/v1/pay/{token}"): Route(OPEN_200, auth="link"),
    ("POST", "/api/v1/pay/{token}/checkout"): Route(OPEN_200, auth="link", body={"email": PATIENT_EMAIL}),
    ("POST", "/api/v1/pay/{token}/confirmation"): Route(OPEN_200, auth="link"),
    ("GET", "/api/v1/pay/{token}/receipt.pdf"): Route("404 404 404 404 404 404 404 404 404", auth="link"),
    # --- Pages: a launch for the role, in the address -----------------------------------------------------------
    ("GET", "/clinic-config"): Route("401 200 200 401 401 401 401 200 200", auth="launch"),
    ("GET", "/org-admin"): Route("401 200 401 401 401 401 401 401 200", auth="launch"),
    ("GET", "/widget/clinician"): Route("401 401 400 401 200 401 200 400 401", auth="launch"),
    ("GET", "/widget/patient"): Route("401 401 401 200 401 200 401 401 401", auth="launch"),
    ("GET", "/payment-centre"): Route("401 200 200 401 200 401 200 200 200", auth="launch"),
    # --- A session ----------------------------------------------------------------------------------------------
    ("DELETE", "/api/v1/sessions/current"): Route("401 204 204 204 204 204 204 204 204", own_session=True),
    ("GET", "/api/v1/profile"): Route("401 403 200 403 200 403 200 200 403"),
    ("PATCH", "/api/v1/profile"): Route("401 403 200 403 200 403 200 200 403", body={"provider_number": "2426351K"}),
    # The patient's side of a call.
    ("POST", "/api/v1/payment-requests/{id}/checkout"): Route(
        "401 404 404 404 404 200 403 404 404", path="/api/v1/payment-requests/{unpaid}/checkout",
        body={"email": PATIENT_EMAIL},
    ),
    ("POST", "/api/v1/calls/{call}/checkout"): Route(
        "401 403 403 404 403 200 403 403 403", body={"email": PATIENT_EMAIL, "payment_requests": ["{unpaid}"]},
    ),
    ("GET", "/api/v1/calls/{call}/pay-all"): Route("401 403 403 404 403 200 403 403 403"),
    ("POST", "/api/v1/payment-requests/{id}/paying"): Route(
        "401 404 404 404 404 200 403 404 404", path="/api/v1/payment-requests/{unpaid}/paying",
        body={"step": "checkout"},
    ),
    ("POST", "/api/v1/payment-requests/{id}/confirmation"): Route(
        "401 404 404 404 404 200 403 404 404", path="/api/v1/payment-requests/{paid}/confirmation",
    ),
    ("GET", "/api/v1/payment-requests/{id}"): Route(
        "401 404 404 404 200 200 200 200 200", path="/api/v1/payment-requests/{paid}"
    ),
    ("GET", "/api/v1/payment-requests/{id}/receipt.pdf"): Route(
        "401 404 404 404 200 200 200 200 200", path="/api/v1/payment-requests/{paid}/receipt.pdf"
    ),
    ("GET", "/api/v1/payment-requests/{id}/receipt"): Route(
        "401 404 404 404 200 200 200 200 200", path="/api/v1/payment-requests/{paid}/receipt"
    ),
    ("GET", "/api/v1/saved-card"): Route("401 403 403 200 403 200 403 403 403"),
    ("POST", "/api/v1/saved-card/setup"): Route(
        "401 403 403 409 403 409 403 403 403", body={"email": PATIENT_EMAIL, "agree": True, "policy": "matrix"}
    ),
    ("POST", "/api/v1/saved-card/decline"): Route("401 403 403 200 403 200 403 403 403"),
    ("POST", "/api/v1/saved-card/confirmation"): Route("401 403 403 409 403 409 403 403 403"),
    # The clinic's side.
    ("POST", "/api/v1/payment-requests/{id}/refunds"): Route(
        "401 404 404 404 403 404 403 201 403", path="/api/v1/payment-requests/{paid}/refunds",
        body={"amount": 100, "reason": "matrix", "client_ref": "matrix-refund"},
    ),
    ("POST", "/api/v1/payment-requests/{id}/receipt/resend"): Route(
        "401 404 404 404 403 404 409 409 403", path="/api/v1/payment-requests/{paid}/receipt/resend", body={},
    ),
    ("GET", "/api/v1/payments"): Route("401 200 200 403 200 403 200 200 200"),
    ("POST", "/api/v1/payment-links"): Route(
        "401 403 409 403 201 403 201 201 403", body={"amount": 2500, "description": "Matrix follow-up"}
    ),
    ("GET", "/api/v1/payment-links"): Route("401 403 200 403 200 403 200 200 403"),
    ("POST", "/api/v1/payment-links/{id}/remind"): Route(
        "401 403 404 403 404 403 200 429 403", path="/api/v1/payment-links/{link}/remind",
        body={"email": PATIENT_EMAIL},
    ),
    ("GET", "/api/v1/payment-links/{id}/qr.svg"): Route(
        "401 403 404 403 404 403 200 200 403", path="/api/v1/payment-links/{link}/qr.svg"
    ),
    ("POST", "/api/v1/payment-links/{id}/cancel"): Route(
        "401 403 404 403 404 403 200 409 403", path="/api/v1/payment-links/{link}/cancel", last=True
    ),
    # Instalment plans (the clinic's plans are off here: splitting answers whether it may, not a plan).
    ("POST", "/api/v1/payment-requests/{id}/plan"): Route(
        "401 403 404 403 403 403 409 409 403", path="/api/v1/payment-requests/{unpaid}/plan",
        body={"count": 2, "interval": "monthly"}, last=True,
    ),
    ("GET", "/api/v1/plans"): Route("401 403 200 403 200 403 200 200 403"),
    ("GET", "/api/v1/plans/{id}"): Route("401 403 404 403 404 403 404 404 403", path="/api/v1/plans/plan_matrix"),
    ("POST", "/api/v1/plans/{id}/cancel"): Route(
        "401 403 404 403 404 403 404 404 403", path="/api/v1/plans/plan_matrix/cancel"
    ),
    ("GET", "/api/v1/saved-cards"): Route("401 403 200 403 200 403 200 200 403"),
    ("POST", "/api/v1/saved-cards/{id}/remove"): Route(
        "401 403 403 404 403 404 403 403 403", path="/api/v1/saved-cards/sc_matrix/remove"
    ),
    ("POST", "/api/v1/saved-cards/{id}/fees"): Route(
        "401 403 404 403 404 403 404 404 403", path="/api/v1/saved-cards/sc_matrix/fees",
        body={"kind": "no_show", "client_ref": "matrix-fee"},
    ),
    ("GET", "/api/v1/clinic/status"): Route("401 200 200 403 200 403 200 200 200"),
    ("GET", "/api/v1/clinic"): Route("401 200 200 403 403 403 403 200 200"),
    ("PATCH", "/api/v1/clinic/settings"): Route(
        "401 200 200 403 403 403 403 200 200", body={"receipt_business_name": "Harbour Physio Pty Ltd"}
    ),
    ("POST", "/api/v1/clinic/stripe/connect"): Route("401 201 201 403 403 403 403 409 409"),
    ("POST", "/api/v1/clinic/stripe/accounts"): Route("401 201 201 403 403 403 403 409 409", body={"country": "AU"}),
    ("POST", "/api/v1/clinic/stripe/onboarding-link"): Route("401 201 201 403 403 403 403 409 409"),
    ("POST", "/api/v1/clinic/stripe/relink"): Route(
        "401 409 409 403 403 403 403 409 409", body={"account_id": "acct_matrix"}
    ),
    ("POST", "/api/v1/clinic/stripe/disconnect"): Route("401 200 200 403 403 403 403 200 409", last=True),
    ("GET", "/api/v1/org/clinics"): Route("401 200 403 403 403 403 403 403 200"),
    ("PATCH", "/api/v1/org/clinics/{clinic}"): Route(
        "401 404 403 403 403 403 403 403 200", body={"addon_enabled": True}
    ),
}  # fmt: skip

# Socket.IO: each role's socket (none: no token) and what each event's ack says ("ok" or the error's code); for
# connect, "ok" or the code the refusal carries.
NOT_AN_EVENT = ("disconnect",)  # a handler the server runs itself when a socket goes, never sent by a client
#                                none             oorg          ocli          ocpa          occl       pat
EXPECTED_EVENTS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "connect": ("session_missing ok ok ok ok ok ok ok ok", None),
    # Clinicians act in their own call only; a clinic admin signed in without a call has none to act in.
    "request_payment": (
        "session_missing role_not_allowed no_call role_not_allowed ok role_not_allowed ok no_call role_not_allowed",
        {"amount": "12.00", "description": "Matrix"},
    ),
    "cancel_payment_request": (
        "session_missing role_not_allowed not_found role_not_allowed not_found role_not_allowed ok not_found "
        "role_not_allowed",
        {"id": "{unpaid}"},
    ),
    "capture_payment_request": (
        "session_missing role_not_allowed not_found role_not_allowed not_found role_not_allowed not_held not_found "
        "role_not_allowed",
        {"id": "{paid}"},
    ),
    "release_payment_request": (
        "session_missing role_not_allowed not_found role_not_allowed not_found role_not_allowed not_held not_found "
        "role_not_allowed",
        {"id": "{paid}"},
    ),
}


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, from its route table (HEAD is aiohttp's own twin of each GET)."""
    served = set()
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        served.add((route.method, route.resource.canonical))
    return served


def served_events(app: web.Application) -> set[str]:
    """Every event the Socket.IO server has a handler for, in the default namespace."""
    return set(app[SERVER].handlers.get("/", {}))


def unlisted(app: web.Application) -> tuple[set[tuple[str, str]], set[str]]:
    """The routes and events the app serves that the matrix has no entry for."""
    return served_routes(app) - set(EXPECTED), served_events(app) - set(EXPECTED_EVENTS) - set(NOT_AN_EVENT)


def test_a_route_or_event_the_matrix_doesnt_list_is_caught(settings: Settings) -> None:
    app = create_app(settings)
    assert unlisted(app) == (set(), set())

    async def anything(_request: web.Request) -> web.Response:
        return web.json_response({})

    async def on_event(_sid: str, _data: Any = None) -> None:
        return None

    app.router.add_get("/api/v1/something-new", anything)
    app[SERVER].on("something_new", on_event)
    assert unlisted(app) == ({("GET", "/api/v1/something-new")}, {"something_new"})


def fill(value: Any, ids: Mapping[str, str]) -> Any:
    """``value`` with every "{name}" in its text replaced by that id."""
    text = json.dumps(value)
    for name, id_ in ids.items():
        text = text.replace("{" + name + "}", id_)
    return json.loads(text)


@dataclass
class World:
    """The clinic's call after a paid and an unpaid request and a pay-later link, and a session for each role."""

    stack: PayStack
    ids: dict[str, str]
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def markers(self) -> list[str]:
        """What of the clinic's call an outsider must never be told."""
        return [self.ids["paid"], self.ids["unpaid"], self.ids["link"], PATIENT_EMAIL, PATIENT_NAME]

    async def session_for(self, role: str) -> dict[str, Any]:
        return await self.stack.session(**CLAIMS[role])


async def build_world(stack: PayStack) -> World:
    await stack.connect_clinic()
    world = World(stack, {})
    for role in CLAIMS:
        world.sessions[role] = await world.session_for(role)
    doctor = await stack.socket(world.sessions["clinician"])
    paid = await stack.request_payment(doctor)
    status, checkout = await stack.api(
        "POST", f"/api/v1/payment-requests/{paid['id']}/checkout", world.sessions["patient"],
        json={"email": PATIENT_EMAIL},
    )  # fmt: skip
    assert status == 200, checkout
    await stack.confirm_intent(checkout["client_secret"].split("_secret_")[0])
    await stack.report(paid["id"], world.sessions["patient"])
    unpaid = await stack.request_payment(doctor, amount="45.00", description="Follow-up")
    status, link = await stack.api(
        "POST", "/api/v1/payment-links", world.sessions["clinician"],
        json={"amount": 3000, "description": "Pay later", "email": PATIENT_EMAIL, "name": PATIENT_NAME},
    )  # fmt: skip
    assert status == 201, link
    await stack.webhooks_settled()
    world.ids = {
        "paid": paid["id"],
        "unpaid": unpaid["id"],
        "link": link["id"],
        "token": link["url"].rstrip("/").rsplit("/", 1)[-1],
        "call": "call-1",
        "clinic": "clinic-1",
    }
    return world


async def try_route(world: World, method: str, canonical: str, route: Route, role: str) -> tuple[int, str]:
    stack = world.stack
    path = fill(route.path or canonical, world.ids)
    body = fill(route.body, world.ids) if route.body is not None else None
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    if role != "none":
        if route.auth == "launch":
            params["launch"] = launch_token(**CLAIMS[role])
        else:
            session = await world.session_for(role) if route.own_session else world.sessions[role]
            headers = bearer(session)
    response = await stack.client.request(method, path, json=body, headers=headers, params=params)
    return response.status, (await response.read()).decode(errors="replace")


@pytest.fixture
async def world_stack(
    sandbox: RunningSandbox, database_url: str, aiohttp_client: Callable[..., Any], http: aiohttp.ClientSession
) -> AsyncIterator[PayStack]:
    """The payment stack with rate limits off: each row tries one address nine times in a few milliseconds, and
    what is asked here is who may, not how often (tests/security/test_rate_limits.py asks that)."""
    built = await build_stack(sandbox, database_url, aiohttp_client, http, rate_limits="off")
    yield built
    for user in built.sockets:
        await user.close()


async def test_every_route_answers_every_role_as_the_matrix_says(world_stack: PayStack) -> None:
    stack = world_stack
    served = served_routes(stack.app)
    assert unlisted(stack.app)[0] == set(), "routes the app serves with no entry in the authorization matrix"
    assert set(EXPECTED) - served == set(), "entries in the matrix for routes the app no longer serves"
    # The matrix and the contract's route table agree on what kind of credential each /api/v1 route takes.
    kinds = {"session": {"session"}, "none": {"open", "link"}, "platform": {"platform"}}
    for method, path in served:
        if path.startswith("/api/v1/"):
            contract = next(r for r in CONTRACT_ROUTES if r.method == method.lower() and r.path == path)
            assert EXPECTED[(method, path)].auth in kinds[contract.auth], (method, path, contract.auth)

    world = await build_world(stack)
    order = sorted(EXPECTED.items(), key=lambda item: item[1].last)
    wrong: list[str] = []
    leaks: list[str] = []
    seen: dict[tuple[str, str], dict[str, int]] = {}
    for (method, canonical), route in order:
        expected = route.expected()
        for role in ROLES:
            status, text = await try_route(world, method, canonical, route, role)
            seen.setdefault((method, canonical), {})[role] = status
            if status != expected[role]:
                wrong.append(f"{method} {canonical} as {role}: {status}, expected {expected[role]}: {text[:160]}")
            if route.auth == "session" and role == "none":
                assert status == 401, f"{method} {canonical} without a session: {status}"
            if status < 300 and role in OUTSIDERS and route.auth != "link":
                leaks += [f"{method} {canonical} as {role} told {m!r}" for m in world.markers() if m in text]
            if status >= 500:
                wrong.append(f"{method} {canonical} as {role}: a server error")
    if wrong:
        table = "\n".join(
            f"    ({m!r}, {p!r}): {' '.join(str(seen[(m, p)][r]) for r in ROLES)}" for m, p in sorted(seen)
        )
        pytest.fail("\n".join(wrong) + "\n\nwhat each role got:\n" + table)
    assert leaks == []


async def socket_for(world: World, role: str) -> tuple[SocketUser | None, str]:
    """A socket signed in as ``role`` (none: with no token), or None and the code its refusal carried."""
    token = world.sessions[role]["token"] if role != "none" else None
    client = socketio.AsyncClient(reconnection=False)
    refusals: list[Any] = []
    client.on("connect_error", lambda data: refusals.append(data))
    user = SocketUser(client)
    auth = {"token": token} if token is not None else None
    try:
        await client.connect(world.stack.url, auth=auth, transports=["websocket"], wait_timeout=15)
    except socketio.exceptions.ConnectionError:
        data = refusals[0] if refusals else {}
        return None, str((data.get("data") or {}).get("code") if isinstance(data, dict) else data)
    world.stack.sockets.append(user)
    return user, "ok"


async def test_every_socket_event_answers_every_role_as_the_matrix_says(world_stack: PayStack) -> None:
    stack = world_stack
    served = served_events(stack.app)
    assert unlisted(stack.app)[1] == set(), "events the app handles with no entry in the authorization matrix"
    assert set(EXPECTED_EVENTS) | set(NOT_AN_EVENT) <= served, "entries in the matrix for events no longer served"

    world = await build_world(stack)
    sockets: dict[str, SocketUser | None] = {}
    seen: dict[str, dict[str, str]] = {"connect": {}}
    for role in ROLES:
        sockets[role], seen["connect"][role] = await socket_for(world, role)
    for event, (_codes, payload) in EXPECTED_EVENTS.items():
        if event == "connect":
            continue
        seen[event] = {}
        for role in ROLES:
            user = sockets[role]
            if user is None:
                seen[event][role] = seen["connect"][role]
                continue
            ack = await user.call(event, fill(payload, world.ids))
            seen[event][role] = "ok" if ack.get("ok") else ack["error"]["code"]
            if ack.get("ok") and role in OUTSIDERS:
                text = json.dumps(ack)
                assert not [m for m in world.markers() if m in text], (event, role, text)
    wrong = [
        f"{event} as {role}: {seen[event][role]}, expected {expected}"
        for event, (codes, _payload) in EXPECTED_EVENTS.items()
        for role, expected in zip(ROLES, codes.split(), strict=True)
        if seen[event][role] != expected
    ]
    if wrong:
        table = "\n".join(f"    {event!r}: {' '.join(seen[event][r] for r in ROLES)}" for event in seen)
        pytest.fail("\n".join(wrong) + "\n\nwhat each role got:\n" + table)
    # Nothing of the call reached an outsider's socket either (snapshots, events).
    for role in OUTSIDERS:
        user = sockets[role]
        if user is not None:
            text = json.dumps(user.received)
            assert not [m for m in world.markers() if m in text], (role, text[:300])
