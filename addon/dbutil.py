"""Small portable SQL helpers for the two databases we run on."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.dml import Insert


async def insert_ignoring_conflict(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this call inserted the row.

    Lets two workers record the same platform organisation, user or call at once without either failing. The
    statement is a Core INSERT on the model's table, built once per table and conflict target, with the row as its
    parameters: building an ORM INSERT with its values on every call cost more CPU than the database spent on it.
    """
    statement = _ignoring_conflict(session.get_bind().dialect.name, table_of(model), tuple(conflict_columns))
    return rows_changed(await session.execute(statement, values)) > 0


@cache
def _ignoring_conflict(dialect: str, table: Table, conflict_columns: tuple[str, ...]) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))


def table_of(model: type[DeclarativeBase]) -> Table:
    """A model's table, for Core statements on a hot path built once at import (models.py stays the schema's one
    description)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to one table")
    return table


def rows_changed(result: object) -> int:
    """How many rows an INSERT, UPDATE or DELETE touched: how a conditional statement says whether it won."""
    return result.rowcount if isinstance(result, CursorResult) else 0
