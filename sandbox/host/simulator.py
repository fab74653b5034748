"""The host-platform simulator: a fake video call with the clinician's and the patient's panes side by side.

Each pane and each admin link goes through ``/host/launch/<surface>``, which mints a fresh single-use launch JWT
(signed with the demo's launch secret, as the platform signs them) and redirects to the surface. So reloading a
pane or opening a link twice always works, exactly as clicking in the real platform would.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jinja2
import jwt
from aiohttp import web
from sqlalchemy import select

from addon import dates
from addon.appkeys import DB
from addon.background import sweep_plans_once
from addon.clock import OffsetClock
from addon.models import Clinic, Instalment, InstalmentPlan

HERE = Path(__file__).parent
PLATFORM_ID = "https://video.demo.callpay.local"
LAUNCH_LIFETIME = 120
CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,60}$")


@dataclass(frozen=True)
class Person:
    sub: str
    name: str
    role: str
    # Optional launch claims the platform knows about this person (a clinician's provider number).
    extra: tuple[tuple[str, str], ...] = ()
    email: str | None = None


ORG = "harbour-health"
CLINIC = "harbour-physio"
PEOPLE = {
    "org-admin": Person("olivia-org", "Olivia Ng (organisation admin)", "org_admin"),
    "clinic-config": Person("grace-admin", "Grace Hopper (clinic admin)", "team_admin"),
    "payment-centre": Person("grace-admin", "Grace Hopper (clinic admin)", "team_admin"),
    "clinician": Person("dr-ada", "Dr Ada Lovelace", "team_member", (("provider_number", "2426351K"),)),
    # The platform knows the patient's email (the optional launch claim): where a pay-later link goes.
    "patient": Person("sam-patient", "Sam Patient", "patient", email="sam.patient@example.com"),
    # A second participant in the call window (a carer), with a launch of their own: who pays can be tried.
    "carer": Person("alex-carer", "Alex Lee", "patient"),
}
CLINIC_NAME = "Harbour Physio"
# The payment centre as the clinician and the org admin open it ("payment-centre" is the clinic admin's).
PAYMENT_CENTRE = {
    "payment-centre-clinician": "clinician",
    "payment-centre-org": "org-admin",
}
PEOPLE.update({surface: PEOPLE[person] for surface, person in PAYMENT_CENTRE.items()})
SURFACE_PATHS = {
    "org-admin": "/org-admin",
    "clinic-config": "/clinic-config",
    "clinician": "/widget/clinician",
    "patient": "/widget/patient",
    "carer": "/widget/patient",
    "payment-centre": "/payment-centre",
    **dict.fromkeys(PAYMENT_CENTRE, "/payment-centre"),
}
IN_CALL = frozenset({"clinician", "patient", "carer"})


@dataclass(frozen=True)
class HostPlatform:
    launch_secret: str
    outbox_url: str | None
    sandbox_url: str | None
    smtp_url: str | None
    # The app's clock, which "Next instalment date" moves forward; None: the simulator can't move time.
    clock: OffsetClock | None = None


HOST = web.AppKey("host_platform", HostPlatform)
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def mint_launch(secret: str, person: Person, *, call: str | None) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": PLATFORM_ID,
        "aud": "callpay",
        "sub": person.sub,
        "name": person.name,
        "role": person.role,
        "org": ORG,
        "iat": now,
        "exp": now + LAUNCH_LIFETIME,
        "jti": uuid.uuid4().hex,
    }
    if person.role != "org_admin":
        claims["clinic"] = CLINIC
        claims["clinic_name"] = CLINIC_NAME
    claims.update(person.extra)
    if call is not None:
        claims["call"] = call
    if person.email is not None:
        claims["email"] = person.email
    return jwt.encode(claims, secret, algorithm="HS256")


def mint_call_ended(secret: str, call: str) -> str:
    """The platform's own token for "this call is over": signed like a launch, ``sub`` and ``role`` platform."""
    now = int(time.time())
    claims = {
        "iss": PLATFORM_ID,
        "aud": "callpay",
        "sub": "platform",
        "role": "platform",
        "org": ORG,
        "clinic": CLINIC,
        "call": call,
        "iat": now,
        "exp": now + LAUNCH_LIFETIME,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


async def end_call(request: web.Request) -> web.Response:
    """End call: the platform tells Callpay the call is over (over HTTP, as a real platform would), then shows what
    became of each request still unpaid."""
    host = request.app[HOST]
    call = _call_id(request)
    token = mint_call_ended(host.launch_secret, call)
    own = f"{request.scheme}://{request.host}"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{own}/api/v1/platform/calls/{call}/ended", headers={"Authorization": f"Bearer {token}"}
        ) as answer,
    ):
        body: dict[str, Any] = await answer.json()
        status = answer.status
    links = {link["payment_request"]: link for link in body.get("payment_links", [])}
    number = int(call.rsplit("-", 1)[1]) + 1 if re.match(r"^call-\d+$", call) else 2
    html = _TEMPLATES.get_template("ended.html").render(
        call=call,
        status=status,
        error=body.get("error"),
        requests=body.get("payment_requests", []),
        links=links,
        next_call=f"call-{number}",
        outbox_url=host.outbox_url,
        centre=f"/host/launch/payment-centre?{urlencode({'call': call})}",
    )
    response = web.Response(text=html, content_type="text/html", status=200 if status == 200 else 502)
    response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self'; script-src 'none'"
    response.headers["Cache-Control"] = "no-store"
    return response


async def next_instalment(request: web.Request) -> web.Response:
    """Next instalment date: move the demo's clock to the earliest instalment still scheduled and run the plans'
    scheduler at once (as the background sweep would within half a minute), so a visitor sees it charged to the
    saved card, or its pay-later link emailed."""
    host = request.app[HOST]
    call = _call_id(request)
    async with request.app[DB]() as db:
        row = (
            await db.execute(
                select(Instalment.due_at, Clinic.timezone)
                .join(InstalmentPlan, InstalmentPlan.id == Instalment.plan_id)
                .join(Clinic, Clinic.id == InstalmentPlan.clinic_id)
                .where(Instalment.status == "scheduled", InstalmentPlan.status == "active")
                .order_by(Instalment.due_at)
                .limit(1)
            )
        ).first()
    if row is None or host.clock is None:
        raise web.HTTPSeeOther(f"/?{urlencode({'call': call, 'clock': 'none'})}")
    due, zone = row
    host.clock.advance_to(due + timedelta(seconds=1))
    swept = await sweep_plans_once(request.app)
    moved = {
        "call": call,
        "clock": dates.format_datetime(host.clock.now(), zone) or "",
        "charged": str(swept.charged),
        "linked": str(swept.linked),
    }
    raise web.HTTPSeeOther(f"/?{urlencode(moved)}")


def _call_id(request: web.Request) -> str:
    call = request.query.get("call", "call-1")
    if not CALL_ID.match(call):
        raise web.HTTPBadRequest(text="A call id is letters, digits, - and _ only.")
    return call


async def simulator_page(request: web.Request) -> web.Response:
    host = request.app[HOST]
    call = _call_id(request)
    number = int(call.rsplit("-", 1)[1]) + 1 if re.match(r"^call-\d+$", call) else 2
    html = _TEMPLATES.get_template("simulator.html").render(
        call=call,
        next_call=f"call-{number}",
        launch=lambda surface: f"/host/launch/{surface}?{urlencode({'call': call})}",
        people=PEOPLE,
        outbox_url=host.outbox_url,
        sandbox_url=host.sandbox_url,
        smtp_url=host.smtp_url,
        clock=_clock_words(request, host),
    )
    response = web.Response(text=html, content_type="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; frame-src 'self'; style-src 'self'; script-src 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _clock_words(request: web.Request, host: HostPlatform) -> str | None:
    """What the last Next instalment date did, for the line under the call's buttons."""
    moved = request.query.get("clock")
    if moved is None or host.clock is None:
        return None
    if moved == "none":
        return "No instalment is scheduled: offer a plan on a request first (Split into instalments)."
    charged, linked = request.query.get("charged", "0"), request.query.get("linked", "0")
    done = []
    if charged != "0":
        done.append(f"{charged} charged to the saved card")
    if linked != "0":
        done.append(f"{linked} sent as a pay-later link (see the outbox)")
    return f"Demo clock moved to {moved}. Instalments due: {', '.join(done) or 'none'}."


async def launch(request: web.Request) -> web.Response:
    surface = request.match_info["surface"]
    person = PEOPLE.get(surface)
    if person is None:
        raise web.HTTPNotFound()
    call = _call_id(request) if surface in IN_CALL else None
    token = mint_launch(request.app[HOST].launch_secret, person, call=call)
    raise web.HTTPFound(f"{SURFACE_PATHS[surface]}?{urlencode({'launch': token})}")


async def stylesheet(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(HERE / "static" / "host.css", headers={"Cache-Control": "no-cache"})


def setup(app: web.Application, host: HostPlatform) -> None:
    """Serve the simulator at the app's root address. Only the demo launcher calls this."""
    app[HOST] = host
    app.router.add_get("/", simulator_page)
    app.router.add_get("/host/launch/{surface}", launch)
    app.router.add_post("/host/end-call", end_call)
    app.router.add_post("/host/next-instalment", next_instalment)
    app.router.add_get("/host/static/host.css", stylesheet)
