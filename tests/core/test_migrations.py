"""The migration stairway: every revision upgrades, downgrades and upgrades again, on SQLite and PostgreSQL;
and the migrated schema matches the models exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from addon import db
from addon.models import Base


def revisions() -> list[str]:
    script = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    ordered = [r.revision for r in script.walk_revisions("base", "heads")]
    return list(reversed(ordered))


def test_history_has_a_single_head() -> None:
    script = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


async def _stairway(url: str) -> None:
    previous = "base"
    for revision in revisions():
        await db.upgrade(url, revision)
        await db.downgrade(url, previous)
        await db.upgrade(url, revision)
        previous = revision


async def _schema_matches_models(url: str) -> None:
    engine = db.create_engine(url)

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(differences)
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    assert diff == []
    assert {"payment_requests", "sessions", "audit_events", "processed_stripe_events", "outbox_emails"} <= set(tables)


async def test_stairway_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'stairs.sqlite3'}"
    await _stairway(url)
    await _schema_matches_models(url)


@pytest.mark.postgres
async def test_stairway_on_postgres(postgres_url: str) -> None:
    await _stairway(postgres_url)
    await _schema_matches_models(postgres_url)


async def test_current_revision_is_checked(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'behind.sqlite3'}"
    engine = db.create_engine(url)
    try:
        with pytest.raises(db.DatabaseBehind, match="callpay db upgrade"):
            await db.require_current(engine)
        await db.upgrade(url)
        await db.require_current(engine)
    finally:
        await engine.dispose()


async def test_sqlite_runs_with_wal_and_foreign_keys(database_url: str) -> None:
    from sqlalchemy import text

    engine = db.create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()


def test_revisions_are_self_contained() -> None:
    """A migration that imports the models breaks when the models change later."""
    for path in (Path(db.MIGRATIONS) / "versions").glob("*.py"):
        assert "addon.models" not in path.read_text(), path.name


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_stairway("sqlite+aiosqlite:///stairs.sqlite3"))
