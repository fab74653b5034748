"""Schemathesis against ``/api/v1/openapi.json``: every operation the document describes, with cases made from its
schemas (valid ones, and ones that break them), sent to the app on its real port as nobody and as each role with a
real session, so they get past the 401 to the handlers, the services, Stripe (the sandbox) and the database.

No case may get a 5xx; every refusal is the contract's error shape; every body served is checked against the
document as it is sent (tests.support.contract). Path parameters are sometimes real ids, so cases also meet real
rows. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

from addon.wire.document import document
from tests.conftest import launch_token
from tests.support.chaos import TALLY, fuzz_settings, given_on_loop
from tests.support.payflow import PayStack


def _platform_token() -> str:
    """A fresh platform token for each case: they are single-use (their jti is remembered)."""
    return launch_token(role="platform", sub="platform", name=None)


CLAIMS: dict[str, dict[str, Any]] = {
    "org_admin": {"role": "org_admin", "sub": "org-admin-1", "clinic": None, "call": None},
    "team_admin": {"role": "team_admin", "sub": "admin-1", "call": None},
    "team_member": {"role": "team_member", "sub": "dr-ada", "name": "Dr Ada Lovelace"},
    "patient": {"role": "patient", "sub": "patient-1", "name": None},
}
# Signing out ends the session it is sent with: it gets a session of its own each time, so the others live on.
SIGN_OUT = "/api/v1/sessions/current"


async def _sessions(stack: PayStack) -> dict[str, dict[str, str]]:
    org_admin = await stack.session(**CLAIMS["org_admin"])
    team_admin = await stack.session(**CLAIMS["team_admin"])
    clinician = await stack.clinician()
    patient = await stack.patient()
    return {
        "nobody": {},
        **{
            role: {"Authorization": f"Bearer {session['token']}"}
            for role, session in (
                ("org_admin", org_admin),
                ("team_admin", team_admin),
                ("team_member", clinician),
                ("patient", patient),
            )
        },
    }


async def _real_ids(stack: PayStack) -> dict[str, list[str]]:
    """Ids of real rows for path parameters: a paid request (receipts, refunds), an open one, the call."""
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    paid = await stack.request_payment(doctor)
    await stack.pay(paid["id"], patient)
    await stack.report(paid["id"], patient)
    unpaid = await stack.request_payment(doctor, amount="45.00", description="Follow-up")
    return {"id": [paid["id"], unpaid["id"]], "call": ["call-1"], "clinic": ["clinic-1"]}


async def test_every_operation_as_every_role_gets_no_5xx(fuzz_stack: PayStack) -> None:
    stack = fuzz_stack
    roles = await _sessions(stack)
    real = await _real_ids(stack)
    schema = schemathesis.openapi.from_dict(document())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, "the document lost its operations"
    http = requests.Session()
    statuses: dict[int, int] = {}

    def strategy_for(operation: Any) -> st.SearchStrategy[Any]:
        names = {p.name for p in operation.path_parameters}
        fixed = {name: st.sampled_from(real[name]) for name in names if name in real}
        made = [
            operation.as_strategy(generation_mode=mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
        if fixed:
            made += [
                st.fixed_dictionaries(fixed).flatmap(
                    lambda path, mode=mode: operation.as_strategy(generation_mode=mode, path_parameters=path)
                )
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            ]
        return st.one_of(made)

    cases = st.tuples(st.sampled_from(sorted(roles)), st.one_of([strategy_for(op) for op in operations]))

    async def send(drawn: tuple[str, Any]) -> None:
        role, case = drawn
        headers = dict(roles[role])
        if "platform" in case.path:
            headers = {"Authorization": f"Bearer {_platform_token()}"} if role != "nobody" else {}
        if case.path == SIGN_OUT and role != "nobody":
            headers = {"Authorization": f"Bearer {(await stack.session(**CLAIMS[role]))['token']}"}
        # requests is synchronous: it runs on a worker thread while this loop serves the app.
        response = await asyncio.to_thread(case.call, base_url=stack.url, session=http, headers=headers, timeout=30)
        TALLY.cases += 1
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        where = f"{case.method} {case.formatted_path} as {role}: {response.status_code} {response.content[:300]!r}"
        if response.status_code >= 500:
            TALLY.server_errors += 1
        assert response.status_code < 500, where
        if response.status_code >= 400 and response.headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(response.content)
            assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"], where

    await given_on_loop(cases, send, fuzz_settings(quick=200, full=20_000))
    TALLY.notes.append(f"schemathesis: answers by status {dict(sorted(statuses.items()))}")
    assert statuses.get(200, 0) + statuses.get(201, 0) > 0, "no case got past the refusals"
