"""Pay-later fixtures: the payment flow's stack (tests.support.payflow), a manual clock, and platform tokens."""

from __future__ import annotations

import time
import uuid
import warnings
from typing import Any

import jwt
import pytest

from addon.appkeys import CLOCK
from addon.clock import ManualClock
from tests.conftest import LAUNCH_SECRET, PLATFORM
from tests.support.payflow import PayStack, connected, stack  # noqa: F401


def platform_token(call: str = "call-1", *, clinic: str = "clinic-1", org: str = "org-1", **extra: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": PLATFORM,
        "aud": "callpay",
        "sub": "platform",
        "role": "platform",
        "org": org,
        "clinic": clinic,
        "call": call,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    claims.update(extra)
    return jwt.encode(claims, LAUNCH_SECRET, algorithm="HS256")


async def end_call(
    stack: PayStack,  # noqa: F811
    call: str = "call-1",
    token: str | None = None,
) -> tuple[int, Any]:
    response = await stack.client.post(
        f"/api/v1/platform/calls/{call}/ended", headers={"Authorization": f"Bearer {token or platform_token(call)}"}
    )
    return response.status, await response.json()


@pytest.fixture
def clock(stack: PayStack) -> ManualClock:  # noqa: F811
    """The app's clock, standing still until the test moves it."""
    manual = ManualClock()
    with warnings.catch_warnings():
        # The app has started; its clock is the one piece of state tests swap while it runs.
        warnings.simplefilter("ignore", DeprecationWarning)
        stack.app[CLOCK] = manual
    return manual
