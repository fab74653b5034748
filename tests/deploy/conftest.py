"""Deployment fixtures: the payment stack of tests.support.payflow, real processes, nginx, and a mailbox that
only speaks SMTP."""

from collections.abc import AsyncIterator

import pytest

from sandbox.mailbox import RunningMailbox, start_mailbox
from tests.support.payflow import connected, stack  # noqa: F401


@pytest.fixture
async def mailbox() -> AsyncIterator[RunningMailbox]:
    running = await start_mailbox(http_port=None)
    try:
        yield running
    finally:
        await running.close()
