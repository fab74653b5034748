"""Small portable SQL helpers for the two databases we run on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


async def insert_ignoring_conflict(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this call inserted the row.

    Lets two workers record the same platform organisation, user or call at once without either failing.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    return rows_changed(await session.execute(statement)) > 0


class PreparedInsert:
    """One table's INSERT (… ON CONFLICT DO NOTHING on ``conflict_columns``, if given), built once for each database
    and executed with a row's values: for a hot path, where building the statement for every call (and the ORM's
    unit of work for an ``add``) cost more than the SQL. The values are a full row as the table's columns name it;
    a column left out gets the column's default, as the ORM would give it."""

    def __init__(self, model: type[DeclarativeBase], conflict_columns: list[str] | None = None) -> None:
        table = model.__table__
        assert isinstance(table, Table)
        self._statements: dict[str, Insert] = {}
        for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite)):
            statement = dialect.insert(table)
            if conflict_columns:
                statement = statement.on_conflict_do_nothing(index_elements=conflict_columns)
            self._statements[name] = statement

    async def __call__(self, session: AsyncSession, values: dict[str, Any]) -> bool:
        """True when the row went in (False only when it conflicted, and was left out)."""
        statement = self._statements[session.get_bind().dialect.name]
        return rows_changed(await session.execute(statement, values)) > 0


def rows_changed(result: object) -> int:
    """How many rows an INSERT, UPDATE or DELETE touched: how a conditional statement says whether it won."""
    return result.rowcount if isinstance(result, CursorResult) else 0
