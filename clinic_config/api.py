"""The JSON API behind the clinic-config and org-admin pages (``/api/v1``, Bearer session token).

Only the ``Authorization: Bearer`` header signs a caller in: there are no cookies and no form posts, so a page on
another site can't make a signed-in browser change anything (the CSRF protection these routes need).
"""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import DB, GATEWAY, SETTINGS
from addon.http.auth import principal
from addon.http.json import read_body, read_json, respond
from addon.publish import publish_after_commit
from addon.services import clinics, connect, onboarding
from addon.services.clinics import AccountOptions
from addon.wire.base import parse
from addon.wire.clinic import AddonSwitch, AuthorizeUrl, ClinicSettingsPatch, CreateAccount, OnboardingUrl, Relink
from clinic_config.pages import CALLBACK_PATH

SETTINGS_FIELDS = frozenset(ClinicSettingsPatch.model_fields)


def _options(request: web.Request) -> AccountOptions:
    return AccountOptions.from_settings(request.app[SETTINGS])


async def get_status(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB].begin() as db:
        body = await clinics.status_for(db, caller)
    return respond(body)


async def get_config(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB].begin() as db:
        body = await clinics.config_for(db, caller, _options(request))
    return respond(body)


async def patch_settings(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request)
    # The types are the model's to check; an unknown field is reported by the service together with every other
    # problem of the form, so the page marks them all at once.
    known = parse(ClinicSettingsPatch, {key: value for key, value in body.items() if key in SETTINGS_FIELDS})
    async with request.app[DB].begin() as db:
        config = await clinics.update_settings(
            db, caller, {**body, **known.model_dump(exclude_unset=True)}, _options(request)
        )
    return respond(config)


async def start_connect(request: web.Request) -> web.Response:
    caller = await principal(request)
    redirect_uri = request.app[SETTINGS].public_url + CALLBACK_PATH
    async with request.app[DB].begin() as db:
        url = await connect.begin_oauth(
            db, caller, request.app[GATEWAY], redirect_uri=redirect_uri, ways=request.app[SETTINGS].stripe_onboarding
        )
    return respond(AuthorizeUrl(authorize_url=url), status=201)


async def create_account(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_body(request, CreateAccount)
    trip = await onboarding.create_account(
        request.app[DB],
        request.app[GATEWAY],
        caller,
        country=body.country,
        public_url=request.app[SETTINGS].public_url,
        options=_options(request),
    )
    await publish_after_commit(request.app, trip.events)
    return respond(OnboardingUrl(onboarding_url=trip.url), status=201)


async def finish_on_stripe(request: web.Request) -> web.Response:
    caller = await principal(request)
    trip = await onboarding.finish_on_stripe(
        request.app[DB], request.app[GATEWAY], caller, public_url=request.app[SETTINGS].public_url
    )
    return respond(OnboardingUrl(onboarding_url=trip.url), status=201)


async def relink_account(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_body(request, Relink)
    changed = await onboarding.relink(
        request.app[DB], request.app[GATEWAY], caller, body.account_id, options=_options(request)
    )
    await publish_after_commit(request.app, changed.events)
    return respond(changed.body)


async def remove_account(request: web.Request) -> web.Response:
    caller = await principal(request)
    changed = await connect.disconnect(request.app[DB], request.app[GATEWAY], caller, _options(request))
    await publish_after_commit(request.app, changed.events)
    return respond(changed.body)


async def list_org_clinics(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB].begin() as db:
        body = await clinics.org_clinics(db, caller)
    return respond(body)


async def patch_org_clinic(request: web.Request) -> web.Response:
    caller = await principal(request)
    switch = await read_body(request, AddonSwitch)
    async with request.app[DB].begin() as db:
        changed = await clinics.set_addon_enabled(db, caller, request.match_info["clinic"], switch.addon_enabled)
    await publish_after_commit(request.app, changed.events)
    return respond(changed.body)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/clinic/status", get_status)
    app.router.add_get("/api/v1/clinic", get_config)
    app.router.add_patch("/api/v1/clinic/settings", patch_settings)
    app.router.add_post("/api/v1/clinic/stripe/connect", start_connect)
    app.router.add_post("/api/v1/clinic/stripe/disconnect", remove_account)
    app.router.add_post("/api/v1/clinic/stripe/accounts", create_account)
    app.router.add_post("/api/v1/clinic/stripe/onboarding-link", finish_on_stripe)
    app.router.add_post("/api/v1/clinic/stripe/relink", relink_account)
    app.router.add_get("/api/v1/org/clinics", list_org_clinics)
    app.router.add_patch("/api/v1/org/clinics/{clinic}", patch_org_clinic)
