"""The Redis channel workers share: each worker drops its own messages unread, hears every other worker's, and a
process that holds no sockets (``callpay worker``) publishes without listening. Real Redis throughout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis.asyncio as aioredis
import socketio
from aiohttp import web

from addon.app import create_app
from addon.appkeys import PUBLISHER
from addon.outbound import Outbound, call_room
from realtime.server import SERVER, RedisManager, redis_channel
from tests.conftest import make_settings
from tests.realtime.test_sockets import _request


class CountingJson(SimpleNamespace):
    """The server's JSON module, counting what it decodes (python-socketio decodes each message it hears)."""

    def __init__(self) -> None:
        super().__init__(decoded=[])

    def dumps(self, *args: Any, **kwargs: Any) -> str:
        return json.dumps(*args, **kwargs)

    def loads(self, data: Any, **kwargs: Any) -> Any:
        message = json.loads(data, **kwargs)
        self.decoded.append(message)
        return message


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def channel(redis_server: str) -> AsyncIterator[tuple[str, aioredis.Redis]]:
    name = f"callpay-test:{secrets.token_hex(6)}"
    client = aioredis.Redis.from_url(redis_server)
    yield name, client
    await client.aclose()


async def subscribers(client: aioredis.Redis, name: str) -> int:
    return int(dict(await client.pubsub_numsub(name)).get(name.encode(), 0))


async def started(redis_server: str, name: str) -> tuple[Any, RedisManager, CountingJson]:
    manager = RedisManager(redis_server, channel=name)
    server = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)
    counting = CountingJson()
    manager.json = counting
    server.manager_initialized = True
    manager.initialize()
    return server, manager, counting


async def stopped(manager: RedisManager) -> None:
    manager.thread.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await manager.thread
    await manager.redis.aclose()


async def test_a_worker_drops_its_own_messages_unread_and_decodes_the_others(
    redis_server: str, channel: tuple[str, aioredis.Redis]
) -> None:
    name, client = channel
    sent = client.pubsub()
    await sent.subscribe(name)
    (_a, first, first_read), (_b, second, second_read) = [await started(redis_server, name) for _ in range(2)]
    try:
        await until(lambda: _at_least(client, name, 3), "both workers to subscribe")

        await first.emit("payment_request", {"id": "pr_1"}, room="call:1")
        on_the_wire = await _next_message(sent)
        # The same JSON object python-socketio publishes, its sender's id first.
        assert on_the_wire.startswith(b'{"host_id": "' + first.host_id.encode() + b'", "method": "emit"')
        assert json.loads(on_the_wire)["data"] == [{"id": "pr_1"}]
        assert first.sent_here(on_the_wire) and not second.sent_here(on_the_wire)
        await until(lambda: _decoded(second_read, 1), "the other worker to hear it")
        await asyncio.sleep(0.2)
        assert first_read.decoded == []  # its own copy came back and was dropped on its first bytes
        assert [m["method"] for m in second_read.decoded] == ["emit"]

        # A callback names the worker it is for: that worker decodes it, though the id at the front is its own.
        await second._publish({"method": "callback", "host_id": first.host_id, "sid": "s", "namespace": "/",
                               "id": 1, "args": []})  # fmt: skip
        await until(lambda: _decoded(first_read, 1), "the callback to reach the worker it is for")
        assert [m["method"] for m in first_read.decoded] == ["callback"]

        # A message from a worker that still writes its id last (an older version) is heard as before.
        await client.publish(name, json.dumps({"method": "emit", "event": "payment_request", "data": [{}],
                                               "namespace": "/", "room": "call:2", "host_id": "older"}))  # fmt: skip
        await until(lambda: _decoded(first_read, 2), "an older worker's message to be heard")
    finally:
        for manager in (first, second):
            await stopped(manager)
        await sent.aclose()


async def test_a_process_that_holds_no_sockets_publishes_and_listens_to_nothing(
    redis_server: str, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, redis_url=redis_server)
    name = redis_channel(settings)
    client = aioredis.Redis.from_url(redis_server)
    heard = client.pubsub()
    await heard.subscribe(name)
    app = create_app(settings, holds_sockets=False)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        manager = app[SERVER].manager
        assert isinstance(manager, RedisManager) and manager.write_only
        await asyncio.sleep(0.2)
        assert await subscribers(client, name) == 1  # only this test's own subscriber
        await app[PUBLISHER].publish([Outbound("payment_request", call_room(7), _request())])
        message = json.loads(await _next_message(heard))
        assert (message["event"], message["room"]) == ("payment_request", "call:7")
    finally:
        await runner.cleanup()
        await heard.aclose()
        await client.aclose()


async def _at_least(client: aioredis.Redis, name: str, count: int) -> bool:
    return await subscribers(client, name) >= count


async def _decoded(counting: CountingJson, count: int) -> bool:
    return len(counting.decoded) >= count


async def _next_message(pubsub: Any) -> bytes:
    for _ in range(200):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None and message["type"] == "message":
            return bytes(message["data"])
    raise AssertionError("nothing was published")
