"""The migration stairway: every revision upgrades, downgrades and upgrades again, on SQLite and PostgreSQL;
and the migrated schema matches the models exactly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from addon import db
from addon.lifecycle import Status
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


async def _seed_paid_request_with_queued_receipt(url: str) -> None:
    """Rows as a 0001 database holds them: a paid request and the receipt email queued for it."""
    engine = db.create_engine(url)
    true = "true" if url.startswith("postgresql") else "1"
    false = "false" if url.startswith("postgresql") else "0"
    try:
        async with engine.begin() as connection:
            for sql in (
                "INSERT INTO organisations (id, platform, external_id, created_at) VALUES (1, 'p', 'o', :t)",
                "INSERT INTO clinics (id, organisation_id, external_id, addon_enabled, created_at,"
                " stripe_charges_enabled, stripe_livemode, default_currency, preset_amounts, receipt_counter)"
                f" VALUES (1, 1, 'c', {true}, :t, {false}, {false}, 'aud', '[]', 1)",
                "INSERT INTO users (id, platform, external_id, name, created_at, last_seen_at)"
                " VALUES (1, 'p', 'u', 'Dr Who', :t, :t)",
                "INSERT INTO calls (id, clinic_id, external_id, created_at) VALUES (1, 1, 'call', :t)",
                "INSERT INTO payment_requests (id, call_id, clinic_id, clinician_id, amount, currency, description,"
                " status, amount_refunded, receipt_number, created_at, updated_at)"
                " VALUES ('pr_1', 1, 1, 1, 8000, 'aud', 'Consultation', 'paid', 0, '000001', :t, :t)",
                "INSERT INTO outbox_emails (dedupe_key, kind, to_address, payment_request_id, status, attempts,"
                " next_attempt_at, created_at) VALUES ('receipt:pr_1', 'receipt', 'pat@example.com', 'pr_1',"
                " 'pending', 0, :t, :t)",
            ):
                await connection.execute(text(sql), {"t": datetime(2026, 1, 1, tzinfo=UTC)})
    finally:
        await engine.dispose()


async def _status_check_holds(url: str) -> None:
    """The upgraded database keeps its rows and takes every lifecycle status, and nothing else."""
    await db.upgrade(url, "0001_initial")
    await _seed_paid_request_with_queued_receipt(url)
    await db.upgrade(url)
    engine = db.create_engine(url)
    try:
        async with engine.begin() as connection:
            # SQLite rebuilds the table to add the CHECK: the queued receipt that references it must survive.
            assert (await connection.execute(text("SELECT count(*) FROM outbox_emails"))).scalar() == 1
            for status in Status:
                await connection.execute(text("UPDATE payment_requests SET status = :s"), {"s": status.value})
            with pytest.raises(IntegrityError):
                async with connection.begin_nested():
                    await connection.execute(text("UPDATE payment_requests SET status = 'settled'"))
    finally:
        await engine.dispose()


async def test_status_check_on_sqlite(tmp_path: Path) -> None:
    await _status_check_holds(f"sqlite+aiosqlite:///{tmp_path / 'check.sqlite3'}")


@pytest.mark.postgres
async def test_status_check_on_postgres(postgres_url: str) -> None:
    await _status_check_holds(postgres_url)


def test_the_model_declares_the_lifecycles_check() -> None:
    [check] = [c for c in Base.metadata.tables["payment_requests"].constraints if isinstance(c, CheckConstraint)]
    assert check.name == "ck_payment_requests_status"
    assert all(f"'{status.value}'" in str(check.sqltext) for status in Status)


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_stairway("sqlite+aiosqlite:///stairs.sqlite3"))
