"""Small portable SQL helpers for the two databases we run on."""

from __future__ import annotations

from typing import Any

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


def rows_changed(result: object) -> int:
    """How many rows an INSERT, UPDATE or DELETE touched: how a conditional statement says whether it won."""
    return result.rowcount if isinstance(result, CursorResult) else 0
