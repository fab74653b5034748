"""The OpenAPI 3.1 document, generated from the contract's models and route table.

Schemas come from pydantic: request bodies in validation mode (what may be sent), answers and event payloads in
serialization mode (what is sent, every field declared and ``additionalProperties: false``). The Socket.IO events
are published under ``x-socketio``, pointing at the same component schemas.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from addon import __version__
from addon.wire import realtime
from addon.wire.common import Error
from addon.wire.routes import ROUTES, Binary, Route

JSON = "application/json"
REF = "#/components/schemas/{model}"
Operation = tuple[str, str]  # (path, method), method lower-case


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    """Every model of the contract, whether or not a route that uses it is served yet."""
    wanted: dict[type[BaseModel], JsonSchemaMode] = {Error: "serialization", realtime.Ack: "serialization"}
    for route in ROUTES:
        if isinstance(route.answer, type):
            wanted[route.answer] = "serialization"
        for model in (route.body, route.query):
            if model is not None:
                wanted[model] = "validation"
    for payload in realtime.SERVER_EVENTS.values():
        wanted[payload] = "serialization"
    for incoming in realtime.CLIENT_EVENTS.values():
        wanted[incoming] = "validation"
    return list(wanted.items())


Refs = dict[tuple[object, JsonSchemaMode], Any]  # (model, mode) -> its {"$ref": …}


def _schemas() -> tuple[Refs, dict[str, Any]]:
    refs, top = models_json_schema(_models(), ref_template=REF)
    return {key: value for key, value in refs.items()}, dict(top.get("$defs", {}))


def _content(schema: dict[str, Any], media: str = JSON) -> dict[str, Any]:
    return {media: {"schema": schema}}


def _binary(binary: Binary) -> dict[str, Any]:
    return _content({"type": "string", "format": "binary"} if "pdf" in binary.content_type else {"type": "string"},
                    binary.content_type)


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _content({"$ref": REF.format(model="Error")})}


def _operation(route: Route, refs: Refs) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    success: dict[str, Any]
    if route.status == 204:
        success = {"description": "Done; nothing to answer"}
    elif isinstance(route.answer, Binary):
        success = {"description": route.answer.description, "content": _binary(route.answer)}
    elif route.answer is None:
        success = {"description": "OpenAPI 3.1 document", "content": _content({"type": "object"})}
    else:
        success = {
            "description": route.answer.__doc__.strip().splitlines()[0] if route.answer.__doc__ else "OK",
            "content": _content(refs[(route.answer, "serialization")]),
        }
    for alternative in route.alternatives:
        success["content"].update(_binary(alternative))
    responses[str(route.status)] = success
    for status, description in route.also.items():
        responses[str(status)] = {**success, "description": description}
    responses["400"] = _error("Invalid input; `field` names what to fix")
    if route.auth != "none":
        responses["401"] = _error("Missing, expired or revoked credentials")
    for status, description in route.errors.items():
        responses[str(status)] = _error(description)
    responses["default"] = _error("Any other error, in the same shape")

    operation: dict[str, Any] = {"summary": route.summary, "responses": responses}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in route.path_parameters
    ]
    if route.query is not None:
        query_schema = route.query.model_json_schema(mode="validation", ref_template=REF)
        for name, schema in query_schema.get("properties", {}).items():
            parameters.append({"name": name, "in": "query", "required": False, "schema": schema})
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": _content(refs[(route.body, "validation")])}
    if route.auth == "none":
        operation["security"] = []
    elif route.auth == "platform":
        operation["security"] = [{"platform": []}]
    return operation


def _socketio(refs: Refs) -> dict[str, Any]:
    ack = refs[(realtime.Ack, "serialization")]
    return {
        "path": "/socket.io",
        "namespace": "/",
        "auth": 'Connect with auth {"token": <session token>}; a missing or bad token is refused at connect.',
        "server_to_client": {
            name: {"summary": realtime.SERVER_EVENT_SUMMARIES[name], "payload": refs[(model, "serialization")]}
            for name, model in realtime.SERVER_EVENTS.items()
        },
        "client_to_server": {
            name: {
                "summary": (model.__doc__ or name).strip().splitlines()[0],
                "payload": refs[(model, "validation")],
                "ack": ack,
            }
            for name, model in realtime.CLIENT_EVENTS.items()
        },
    }


def document(served: Collection[Operation] | None = None) -> dict[str, Any]:
    """The OpenAPI document: every route of the contract, or (given ``served``) those the app serves."""
    return _document(None if served is None else frozenset(served))


@lru_cache(maxsize=8)
def _document(served: frozenset[Operation] | None) -> dict[str, Any]:
    refs, schemas = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in _chosen(served):
        paths.setdefault(route.path, {})[route.method] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Callpay API",
            "version": __version__,
            "description": "In-call payments for telehealth video calls. Amounts are integers in the currency's "
            'minor unit; errors are {"error": {"code", "message", "field"?}}. The Socket.IO events are under '
            "x-socketio, with the same schemas.",
        },
        "servers": [{"url": "/"}],
        "security": [{"session": []}],
        "components": {
            "securitySchemes": {
                "session": {"type": "http", "scheme": "bearer", "description": "A session token from /api/v1/sessions"},
                "platform": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "Signed like a launch, role platform, single-use jti",
                },
            },
            "schemas": schemas,
        },
        "paths": paths,
        "x-socketio": _socketio(refs),
    }


def _chosen(served: frozenset[Operation] | None) -> Iterable[Route]:
    return (route for route in ROUTES if served is None or (route.path, route.method) in served)
