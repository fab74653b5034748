"""SQLAlchemy's aiosqlite adapter, with one trip to the connection's thread per statement instead of four.

aiosqlite runs each sqlite3 call on the connection's own thread and hands the result back to the event loop: a
queue put, a thread wake-up, ``call_soon_threadsafe`` and a loop wake-up per call. SQLAlchemy's adapter makes four
such calls for every SELECT (make a cursor, execute, fetch all rows, close the cursor) and three for every other
statement. Profiled during a wave of launches, those trips were about half of the server's CPU (the loop's own
bookkeeping and aiosqlite's futures), more than the SQL itself: a launch plus its socket connect made about 68.

This cursor does the four in one call on the thread (cursor, execute, fetch, close) and keeps what the statement
left (rows, description, rowcount, lastrowid) for SQLAlchemy to read afterwards, which is what the stock adapter
does too once it has fetched. Two more trips are saved on the connection:

- :meth:`OneHopConnection.defer` holds statements that begin a transaction (``BEGIN``, a ``PRAGMA`` before it) and
  sends them in the same call as the transaction's first statement: SQLite runs them in the same order as if they
  had gone alone, nothing else can run on the connection in between, and a failure (``database is locked`` after
  the busy timeout) is raised from that first statement, as the same OperationalError.
- The connection knows from each call whether SQLite has a transaction open, so a ``ROLLBACK`` or ``COMMIT`` with
  nothing to end (the pool's reset when a connection comes back, after the session already committed or rolled
  back) costs no trip.

Everything else (connections, transactions, errors, server-side cursors for
``stream``) is SQLAlchemy's and aiosqlite's own. It relies on ``aiosqlite.Connection._execute`` (queue a function
for the connection's thread), which SQLAlchemy's own adapter also reaches into; see ``pyproject.toml`` for the pin.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

Outcome = tuple[Any, int, int | None, Sequence[Any], bool]


def _run(
    connection: aiosqlite.Connection, before: Sequence[str], operation: str, parameters: Any, many: bool
) -> Outcome:
    """On the connection's thread: the deferred statements, then the whole statement, start to finish."""
    sqlite = connection._conn
    for statement in before:
        sqlite.execute(statement).close()
    cursor = sqlite.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else ()
        return description, cursor.rowcount, cursor.lastrowid, rows, sqlite.in_transaction
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_one_arraysize", "_one_description", "_one_lastrowid", "_one_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor is made here (the stock adapter spends a trip on it): each execute makes its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._one_description: Any = None
        self._one_rowcount = -1
        self._one_lastrowid: int | None = None
        self._one_arraysize = 1

    @property
    def description(self) -> Any:
        return self._one_description

    @property
    def rowcount(self) -> int:
        return self._one_rowcount

    @property
    def lastrowid(self) -> int:
        return self._one_lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._one_arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._one_arraysize = value

    async def _async_soft_close(self) -> None:
        return  # the sqlite3 cursor was closed on the thread, with its rows already read

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._statement(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            return await_(self._statement(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _statement(self, operation: str, parameters: Any, *, many: bool) -> None:
        adapted = cast(OneHopConnection, self._adapt_connection)
        async with adapted._execute_mutex:
            before, adapted._one_deferred = adapted._one_deferred, []
            # Until SQLite says otherwise, assume a transaction is open: a failed call must still be rolled back.
            adapted._one_in_transaction = True
            outcome: Outcome = await self._connection._execute(
                _run, self._connection, before, operation, parameters, many
            )
        self._one_description, self._one_rowcount, self._one_lastrowid, rows, in_transaction = outcome
        adapted._one_in_transaction = in_transaction
        self._rows = collections.deque(rows)

    def nextset(self) -> None:
        raise NotImplementedError("sqlite3 has no multiple result sets")

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_one_deferred", "_one_in_transaction")
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._one_deferred: list[str] = []
        # Unknown until the first statement reports it: a rollback or commit before then goes to SQLite.
        self._one_in_transaction = True

    def defer(self, statement: str) -> None:
        """Send ``statement`` (no parameters, no rows) just before this connection's next statement."""
        self._one_deferred.append(statement)

    def rollback(self) -> None:
        self._one_deferred.clear()
        if self._one_in_transaction:
            super().rollback()
            self._one_in_transaction = False

    def commit(self) -> None:
        # A transaction whose BEGIN is still deferred ran no statement: there is nothing to commit.
        self._one_deferred.clear()
        if self._one_in_transaction:
            super().commit()
            self._one_in_transaction = False


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """Pass as ``module=`` to ``create_async_engine`` for a ``sqlite+aiosqlite`` URL."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True
        return OneHopConnection(self, await_(connection))
