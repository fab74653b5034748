"""Engine, sessions and migrations.

SQLite gets WAL and foreign keys on every connection; PostgreSQL goes through asyncpg. Migrations are Alembic's,
run from code so ``callpay db upgrade``, the demo and the tests share one path.

Two kinds of session: :func:`session_factory` for work that writes (on SQLite its transactions take the write lock
up front), and :func:`read_session_factory` for work that only reads, which never takes the write lock and can't
write by mistake (SQLite ``query_only``, PostgreSQL ``READ ONLY``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import weakref
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import MissingGreenlet, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from addon.sqlite_one_hop import OneHopConnection, OneHopDBAPI

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_S = 30
# The execution option that marks an engine's transactions read-only; see read_session_factory.
READ_ONLY = "callpay_read_only"
# With READ_ONLY: the connection runs one statement, so on SQLite it needs no transaction; see one_read_engine.
ONE_STATEMENT = "callpay_one_statement"


def create_engine(database_url: str) -> AsyncEngine:
    # aiosqlite logs every statement with its parameters at DEBUG: never, whatever the root level.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    # hide_parameters: a database error's message never carries its SQL parameters (patients' emails, client
    # secrets) into logs or Sentry.
    if database_url.startswith("sqlite"):
        _ensure_sqlite_folder(database_url)
        one_hop: dict[str, Any] = {"module": OneHopDBAPI()} if database_url.startswith("sqlite+aiosqlite") else {}
        engine = create_async_engine(
            database_url, connect_args={"timeout": BUSY_TIMEOUT_S}, hide_parameters=True, **one_hop
        )
        turns = WriterTurns()
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", lambda connection: _sqlite_begin(connection, turns))
        event.listen(engine.sync_engine.pool, "checkin", lambda _dbapi, record: turns.release(record.info))
        return engine
    return create_async_engine(database_url, pool_size=10, max_overflow=10, pool_pre_ping=True, hide_parameters=True)


def _ensure_sqlite_folder(database_url: str) -> None:
    path = database_url.split(":///", 1)[1] if ":///" in database_url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Left to itself, Python's sqlite3 driver sends no BEGIN before a SAVEPOINT, so a savepoint that opens a
    # transaction would commit on its own at RELEASE (the webhook's dedupe row, a launch's jti) even if the rest
    # of the transaction then rolls back. Take transaction control from the driver and BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL still never corrupts the database; a power cut (not a crashed process) may lose the last
    # commits, and it saves an fsync on every commit, which is most of a small write's cost.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cursor.close()


def _sqlite_begin(connection: Connection, turns: WriterTurns) -> None:
    read_only = bool(connection.get_execution_options().get(READ_ONLY))
    # query_only lasts as long as the connection, so it is switched only when the kind of transaction changes.
    if connection.info.get(READ_ONLY, False) != read_only:
        _before_next_statement(connection, f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
        connection.info[READ_ONLY] = read_only
    if read_only and connection.get_execution_options().get(ONE_STATEMENT):
        # One SELECT outside a transaction (SQLite's autocommit) reads one consistent snapshot, like a deferred
        # BEGIN would, without the BEGIN and the ROLLBACK each costing a statement (the one-hop driver then knows
        # no transaction is open, so the pool's reset sends nothing either).
        return
    if read_only:
        # A deferred BEGIN reads a snapshot without taking any lock a writer waits on (WAL); query_only makes a
        # write slipped into a read-only transaction fail loudly instead of reaching for the write lock half-way.
        _before_next_statement(connection, "BEGIN")
        return
    turns.take(connection.info)
    # IMMEDIATE takes SQLite's single write lock up front, so writers queue on busy_timeout; a deferred BEGIN that
    # reads and then writes fails at once ("database is locked") if another writer committed in between.
    _before_next_statement(connection, "BEGIN IMMEDIATE")


def _before_next_statement(connection: Connection, statement: str) -> None:
    """Run ``statement`` now, or (through the one-hop driver) in the same trip as the next statement: the order
    SQLite sees is the same either way, and nothing else runs on the connection in between."""
    driver = connection.connection.dbapi_connection
    if isinstance(driver, OneHopConnection):
        driver.defer(statement)
    else:
        connection.exec_driver_sql(statement)


class WriterTurns:
    """This process's writers take SQLite's write lock one at a time, in the order they asked.

    Left to SQLite, writers of one process that find the lock taken sleep in its busy handler (up to 100 ms a try)
    and retry, so under load a writer can lose its turn again and again: launches waited seconds behind a handful
    of others. Here they queue on an asyncio lock first, which is fair and wakes the next writer the moment the
    last one's connection is back in the pool (its COMMIT done). Other processes still queue on busy_timeout. The
    wait is bounded like busy_timeout, so a writer that waits on itself fails as SQLite would, not forever.
    """

    HOLDS = "callpay_holds_write_turn"

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def take(self, info: dict[Any, Any]) -> None:
        if info.get(self.HOLDS) is not None:
            return  # this connection's previous transaction kept the turn (a Core connection used twice)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # used synchronously, outside the loop: busy_timeout alone
        lock = self._locks.setdefault(loop, asyncio.Lock())
        try:
            await_only(asyncio.wait_for(lock.acquire(), BUSY_TIMEOUT_S))
        except MissingGreenlet:
            return
        except TimeoutError as exc:
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")) from exc
        info[self.HOLDS] = lock

    def release(self, info: dict[Any, Any]) -> None:
        lock = info.pop(self.HOLDS, None)
        if lock is not None and lock.locked():
            lock.release()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for work that writes, or reads and then writes: on SQLite each transaction holds the write lock."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for work that only reads (a page's data, a socket's snapshot, a session lookup).

    They share the engine's pool. On SQLite their transactions begin DEFERRED, so reads never queue behind the
    write lock nor hold it; on PostgreSQL they are READ ONLY. Either way a write inside one is refused.
    """
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    return async_sessionmaker(engine.execution_options(**options), expire_on_commit=False)


@functools.lru_cache(maxsize=16)
def one_read_engine(read: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine behind ``read`` (see read_session_factory), for a connection that runs one read-only statement
    (a session lookup on every request): on SQLite without BEGIN or ROLLBACK; on PostgreSQL as read's own. Made
    once per factory."""
    engine = read.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    return engine.execution_options(**{ONE_STATEMENT: True})


@functools.lru_cache(maxsize=16)
def one_read_session_factory(read: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Sessions like ``read``'s, on :func:`one_read_engine`: for a read whose statements need no snapshot in common
    (a page's one read of its clinic), each statement reading the database as it stands when it runs."""
    return async_sessionmaker(one_read_engine(read), expire_on_commit=False)


def write_engine(write: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine behind ``write`` (see session_factory), for a short Core transaction that needs no ORM session."""
    engine = write.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    return engine


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations. Alembic's env runs its own event loop, so it goes to a worker thread."""
    _ensure_sqlite_folder(database_url)
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), revision)


async def downgrade(database_url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), revision)


class DatabaseBehind(Exception):
    def __init__(self, current: str | None, head: str) -> None:
        super().__init__(
            f"The database is at migration {current or 'none'} but this version needs {head}: "
            "run `callpay db upgrade` first."
        )


async def require_current(engine: AsyncEngine) -> None:
    head = head_revision()
    current = await current_revision(engine)
    if current != head:
        raise DatabaseBehind(current, head)


async def ping(engine: AsyncEngine) -> None:
    async with engine.execution_options(**{READ_ONLY: True}).connect() as connection:
        await connection.execute(text("SELECT 1"))
