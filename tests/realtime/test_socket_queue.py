"""Each socket's packet queue: asyncio.Queue's behaviour where Engine.IO relies on it, in a fraction of its memory."""

from __future__ import annotations

import asyncio
import contextlib
import tracemalloc

import pytest

from realtime.server import SERVER
from realtime.socket_queue import SocketQueue
from tests.support.payflow import PayStack


async def test_items_come_out_in_order_and_a_waiting_getter_is_woken_by_a_put() -> None:
    queue = SocketQueue()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    await queue.put("ping")
    assert await asyncio.wait_for(waiting, 1) == "ping"
    for item in ("a", "b", None):
        queue.put_nowait(item)
    assert queue.qsize() == 3 and not queue.empty()
    assert [queue.get_nowait(), await queue.get(), queue.get_nowait()] == ["a", "b", None]
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_a_getter_that_timed_out_leaves_the_next_item_to_the_next_getter() -> None:
    # Engine.IO's writer waits with wait_for(queue.get(), ping interval + timeout): a timeout cancels the get.
    queue = SocketQueue()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("pong")
    assert await asyncio.wait_for(second, 1) == "pong"
    assert queue.empty()


async def test_a_getter_cancelled_after_it_was_woken_passes_its_wake_up_on() -> None:
    queue = SocketQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("only")  # wakes the first getter...
    first.cancel()  # ...which is cancelled before it runs: the item must reach the second, not be stranded
    with contextlib.suppress(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) == "only"


async def test_join_waits_until_every_item_is_done() -> None:
    queue = SocketQueue()
    await queue.join()  # nothing put: returns at once
    queue.put_nowait(1)
    queue.put_nowait(2)
    joined = asyncio.create_task(queue.join())
    queue.get_nowait()
    queue.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(joined, 1)
    with pytest.raises(ValueError):
        queue.task_done()


def test_an_idle_socket_queue_is_a_tenth_of_an_asyncio_queue() -> None:
    def size_of(make: type) -> float:
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            kept = [make() for _ in range(500)]
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        assert len(kept) == 500
        return sum(stat.size_diff for stat in after.compare_to(before, "filename")) / 500

    ours, asyncio_queue = size_of(SocketQueue), size_of(asyncio.Queue)
    assert asyncio_queue > 2000, asyncio_queue
    assert ours < asyncio_queue / 10, (ours, asyncio_queue)


async def test_the_servers_sockets_queue_their_packets_in_a_socket_queue(stack: PayStack) -> None:
    user = await stack.socket(await stack.clinician())
    sockets = list(stack.app[SERVER].eio.sockets.values())
    assert sockets and all(isinstance(socket.queue, SocketQueue) for socket in sockets)
    assert user.client.connected
