"""One socket's outgoing packets, held in a few hundred bytes instead of asyncio.Queue's three kilobytes."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class SocketQueue:
    """One socket's outgoing packets: what Engine.IO's writer waits on, in a few hundred bytes.

    Engine.IO makes an ``asyncio.Queue`` per socket (``create_queue``). An empty one is about 3 KB: four deques (its
    items, waiting getters and putters, and its ``join`` event's waiters), each allocating a 64-slot block however
    little it holds. Held by every socket for the call's length, that is 30 MB at 10,000 sockets for queues that
    hold a packet or two. This one keeps lists, made when first needed, and offers what Engine.IO uses of a queue
    (unbounded: ``put`` never waits), with ``asyncio.Queue``'s behaviour: items in order, a getter woken per item,
    and a cancelled getter passing its wake-up on."""

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getters: list[asyncio.Future[None]] | None = None
        self._unfinished = 0
        self._joiners: list[asyncio.Future[None]] | None = None

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return False

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._unfinished += 1
        self._wake_a_getter()

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> Any:
        while not self._items:
            getter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()  # in case it was woken and then cancelled before it could take the item
                with contextlib.suppress(ValueError):
                    self._getters.remove(getter)
                if self._items and not getter.cancelled():
                    self._wake_a_getter()
                raise
        return self._items.pop(0)

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners:
            joiners, self._joiners = self._joiners, None
            for joiner in joiners:
                if not joiner.done():
                    joiner.set_result(None)

    async def join(self) -> None:
        if self._unfinished:
            joiner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._joiners is None:
                self._joiners = []
            self._joiners.append(joiner)
            await joiner

    def _wake_a_getter(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                return
