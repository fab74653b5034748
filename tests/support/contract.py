"""Every body the API serves and every Socket.IO event the server emits, checked against the published schemas.

A pytest plugin (registered in ``tests/conftest.py``). The ``aiohttp_client`` fixture is wrapped so that each app a
test starts validates every ``/api/`` JSON response it sends, as it sends it, against the OpenAPI document's schema
for that route and status (``default`` for an undocumented error status: the Error shape). Socket.IO clients made
with :func:`tests.support.payflow.open_socket` validate every event they receive and every ack, and the stack's
recording publisher validates every event the services publish. Nothing is mocked: the real responses and the real
wire frames are what is checked. A mismatch fails the test that caused it; the run ends with the count.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import jsonschema
import pytest
from aiohttp import web

from addon.wire.document import document

JSON = "application/json"
_COUNT = pytest.StashKey[list[int]]()
validations = [0]  # this process's count; xdist workers send theirs to the controller


@cache
def _document() -> dict[str, Any]:
    return document()


@cache
def _validator(ref: str) -> jsonschema.protocols.Validator:
    """A validator for one component schema, resolving its $refs within the published document."""
    root = {"$ref": ref, "components": _document()["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _ref(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref if isinstance(ref, str) else None


class ContractCheck:
    """Validates and counts; remembers what didn't match, so the test that caused it fails with the reason."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.count = 0

    def validate(self, what: str, ref: str, body: Any) -> None:
        errors = sorted(_validator(ref).iter_errors(body), key=lambda e: list(e.absolute_path))
        self.count += 1
        validations[0] += 1
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(top)"
            self.failures.append(f"{what} does not match {ref}: at {where}: {first.message}")

    # --- HTTP -----------------------------------------------------------------------------------------------

    def response_schema(self, path: str | None, method: str, status: int) -> str | None:
        paths = _document()["paths"]
        operation = paths.get(path or "", {}).get(method.lower()) if path else None
        if operation is None:
            # A route the contract doesn't describe (a test's own route, an unmatched address): errors still
            # have the contract's shape.
            return "#/components/schemas/Error" if status >= 400 else None
        response = operation["responses"].get(str(status)) or operation["responses"]["default"]
        content = response.get("content", {}).get(JSON)
        return _ref(content["schema"]) if content else None

    async def on_response(self, request: web.Request, response: web.StreamResponse) -> None:
        if not request.path.startswith("/api/") or not isinstance(response, web.Response):
            return
        if response.content_type != JSON or not isinstance(response.body, bytes):
            return
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else None
        ref = self.response_schema(path, request.method, response.status)
        if ref is None:
            return  # the document itself, or a success of a route a test added for itself
        self.validate(f"{request.method} {request.path} → {response.status}", ref, json.loads(response.body))

    def attach(self, app: web.Application) -> None:
        app.on_response_prepare.append(self.on_response)

    # --- Socket.IO ------------------------------------------------------------------------------------------

    def event(self, name: str, payload: Any) -> None:
        described = _document()["x-socketio"]["server_to_client"].get(name)
        if described is None:
            self.failures.append(f"the server emitted {name!r}, which the contract doesn't describe")
            return
        self.validate(f"event {name!r}", described["payload"]["$ref"], payload)

    def ack(self, name: str, payload: Any) -> None:
        described = _document()["x-socketio"]["client_to_server"].get(name)
        ref = described["ack"]["$ref"] if described else "#/components/schemas/Ack"
        self.validate(f"ack of {name!r}", ref, payload)

    def raise_failures(self) -> None:
        if self.failures:
            shown = "\n  ".join(self.failures[:10])
            pytest.fail(f"{len(self.failures)} message(s) broke the published contract:\n  {shown}", pytrace=False)


# One per test, reachable from helpers that aren't fixtures (the socket clients of tests.support.payflow).
_current: list[ContractCheck] = []


def current() -> ContractCheck:
    """The running test's check (a fresh one when a helper runs outside a test)."""
    if not _current:
        _current.append(ContractCheck())
    return _current[-1]


@pytest.fixture(autouse=True)
def contract() -> Iterator[ContractCheck]:
    check = ContractCheck()
    _current.append(check)
    yield check
    _current.remove(check)
    check.raise_failures()


@pytest.fixture
def aiohttp_client(aiohttp_client: Callable[..., Any], contract: ContractCheck) -> Callable[..., Any]:
    """pytest-aiohttp's client factory, with every app it starts checking its own answers against the contract."""

    async def make(target: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(target, web.Application):
            contract.attach(target)
        return await aiohttp_client(target, *args, **kwargs)

    return make


# --- The count, across xdist workers ---------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_COUNT] = [0]


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["schema_validations"] = validations[0]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    node.config.stash[_COUNT][0] += int(node.workeroutput.get("schema_validations", 0))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    total = config.stash[_COUNT][0] + validations[0]
    terminalreporter.write_line(f"wire contract: {total} schema validations of served bodies and emitted events")
