"""The one step after a commit, for handlers: tell the rooms, then run the app's after-commit hooks."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from addon.appkeys import AFTER_COMMIT, PUBLISHER
from addon.outbound import Outbound


async def publish_after_commit(app: web.Application, events: Sequence[Outbound]) -> None:
    if events:
        await app[PUBLISHER].publish(events)
        for hook in app[AFTER_COMMIT]:
            hook(events)
