"""``/v1/webhook_endpoints``: where an account's (or, with ``connect=true``, its connected accounts') events go."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from . import objects, params, spec, versions
from .api import Call, endpoint, lookup
from .errors import invalid, missing_parameter
from .ids import new_id
from .pagination import paginate
from .state import WebhookEndpoint

JSON = dict[str, Any]

_EVENT_TYPE = re.compile(r"[a-z_]+(\.[a-z_]+)+|\*|[a-z_]+\.\*")


def _url(call: Call, required: bool) -> str | None:
    url = params.string(call.form, "url", required=required)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("Invalid URL: URL must be a valid URL with a scheme of http or https.", param="url")
    return url


def _enabled_events(call: Call, required: bool) -> list[str] | None:
    events = params.string_list(call.form, "enabled_events")
    if events is None:
        if required:
            raise missing_parameter("enabled_events")
        return None
    if not events:
        raise missing_parameter("enabled_events")
    for index, name in enumerate(events):
        if not _EVENT_TYPE.fullmatch(name):
            raise invalid(f"Invalid enabled_events[{index}]: must be a valid event type", param="enabled_events")
    return events


def _api_version(call: Call) -> str | None:
    """The version events are rendered in for this endpoint; Stripe refuses one it never released."""
    version = params.string(call.form, "api_version")
    if version is None:
        return None
    if version not in versions.KNOWN:
        raise invalid(f"Invalid Stripe API version: {version}", param="api_version")
    return version


def _find(call: Call) -> WebhookEndpoint:
    return lookup(call.account.webhook_endpoints, call.request.match_info["id"], "webhook endpoint")


@endpoint(spec.WE_CREATE)
def create(call: Call) -> JSON:
    url = _url(call, required=True)
    events = _enabled_events(call, required=True)
    assert url is not None and events is not None
    obj = objects.webhook_endpoint(
        url=url,
        enabled_events=events,
        api_version=_api_version(call),
        description=params.nullable_string(call.form, "description"),
        metadata=params.metadata(call.form) or {},
    )
    secret = new_id("whsec", 32)
    call.account.webhook_endpoints[obj["id"]] = WebhookEndpoint(obj, secret, bool(params.boolean(call.form, "connect")))
    return dict(obj, secret=secret)  # the secret is shown once, on creation, as on Stripe


@endpoint(spec.WE_RETRIEVE)
def retrieve(call: Call) -> JSON:
    return _find(call).object


@endpoint(spec.WE_UPDATE)
def update(call: Call) -> JSON:
    found = _find(call)
    obj = found.object
    url = _url(call, required=False)
    if url is not None:
        obj["url"] = url
    events = _enabled_events(call, required=False)
    if events is not None:
        obj["enabled_events"] = events
    disabled = params.boolean(call.form, "disabled")
    if disabled is not None:
        obj["status"] = "disabled" if disabled else "enabled"
    if "description" in call.form:
        obj["description"] = params.nullable_string(call.form, "description")
    new_metadata = params.metadata(call.form, obj["metadata"])
    if new_metadata is not None:
        obj["metadata"] = new_metadata
    return obj


@endpoint(spec.WE_DELETE)
def delete(call: Call) -> JSON:
    found = _find(call)
    del call.account.webhook_endpoints[found.object["id"]]
    return {"id": found.object["id"], "object": "webhook_endpoint", "deleted": True}


@endpoint(spec.WE_LIST)
def list_endpoints(call: Call) -> JSON:
    items = [found.object for found in reversed(call.account.webhook_endpoints.values())]
    return paginate(call, items, "/v1/webhook_endpoints", "webhook endpoint")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/webhook_endpoints", create)
    app.router.add_get("/v1/webhook_endpoints", list_endpoints)
    app.router.add_get("/v1/webhook_endpoints/{id}", retrieve)
    app.router.add_post("/v1/webhook_endpoints/{id}", update)
    app.router.add_delete("/v1/webhook_endpoints/{id}", delete)
