"""Small portable SQL helpers for the two databases we run on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Insert, Select, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

_M = TypeVar("_M", bound=DeclarativeBase)


async def insert_ignoring_conflict(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this call inserted the row.

    Lets two workers record the same platform organisation, user or call at once without either failing. The
    statement is a Core INSERT on the model's table, built once per table and conflict target, with the row as its
    parameters: building an ORM INSERT with its values on every call cost more CPU than the database spent on it.
    """
    statement = _insert(session.get_bind().dialect.name, table_of(model), tuple(conflict_columns))
    return rows_changed(await session.execute(statement, values)) > 0


@cache
def _insert(dialect: str, table: Table, conflict_columns: tuple[str, ...]) -> Insert:
    """One table's INSERT for one database, … ON CONFLICT DO NOTHING on ``conflict_columns`` when there are any."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_nothing(index_elements=list(conflict_columns)) if conflict_columns else statement


def loaded(session: AsyncSession, model: type[DeclarativeBase], ident: object, changes: Mapping[str, Any]) -> None:
    """After a Core UPDATE that changed a row, the session's copy of it (if it holds one) says what the row now
    holds, as the ORM's own UPDATE would have made it: code reading the object next sees the new values."""
    found = session.sync_session.identity_map.get(identity_key(model, ident))
    if found is not None:
        for key, value in changes.items():
            set_committed_value(found, key, value)


async def get_by_id(session: AsyncSession, model: type[_M], ident: object) -> _M | None:
    """``session.get(model, ident)`` for a model with a one-column primary key, with its SELECT built once per model
    rather than on every call (which cost more CPU than SQLite spent running it): the object the session holds
    already, or the row read fresh."""
    found = session.sync_session.identity_map.get(identity_key(model, ident))
    if found is not None:
        assert isinstance(found, model)
        return found
    row: _M | None = (await session.execute(_by_id(model), {"ident": ident})).scalar_one_or_none()
    return row


@cache
def _by_id(model: type[DeclarativeBase]) -> Select[Any]:
    (key,) = table_of(model).primary_key.columns
    return select(model).where(key == bindparam("ident"))


def set_params(table: Table, keys: Iterable[str]) -> dict[str, BindParameter[Any]]:
    """The SET clause of an UPDATE built once: each column bound as ``set_<column>``, typed as the column is (fill
    them with :func:`set_values`)."""
    return {key: bindparam(f"set_{key}", type_=table.c[key].type) for key in keys}


def set_values(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters for :func:`set_params`' clause: ``{"status": "paid"}`` binds ``set_status``."""
    return {f"set_{key}": value for key, value in changes.items()}


def table_of(model: type[DeclarativeBase]) -> Table:
    """A model's table, for Core statements on a hot path built once at import (models.py stays the schema's one
    description)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to one table")
    return table


class PreparedInsert:
    """One table's INSERT (… ON CONFLICT DO NOTHING on ``conflict_columns``, if given), built once for each database
    and executed with a row's values: for a hot path, where building the statement for every call (and the ORM's
    unit of work for an ``add``) cost more than the SQL. The values are a full row as the table's columns name it;
    a column left out gets the column's default, as the ORM would give it."""

    def __init__(self, model: type[DeclarativeBase], conflict_columns: list[str] | None = None) -> None:
        self._table = table_of(model)
        self._conflict_columns = tuple(conflict_columns or ())

    async def __call__(self, session: AsyncSession, values: dict[str, Any]) -> bool:
        """True when the row went in (False only when it conflicted, and was left out)."""
        statement = _insert(session.get_bind().dialect.name, self._table, self._conflict_columns)
        return rows_changed(await session.execute(statement, values)) > 0


def rows_changed(result: object) -> int:
    """How many rows an INSERT, UPDATE or DELETE touched: how a conditional statement says whether it won."""
    return result.rowcount if isinstance(result, CursorResult) else 0
