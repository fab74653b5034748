"""What reaches logs and Sentry: no SQL parameters (patients' emails, client secrets) even when the database
fails, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError

from addon import db

SECRET_EMAIL = "leak-canary@example.com"
SECRET = "pi_123_secret_canary"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("database_url" if request.param == "sqlite" else "migrated_postgres_url")
    return url


async def test_a_database_error_never_carries_its_parameters(
    any_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = db.create_engine(any_database)
    caplog.set_level(logging.DEBUG)
    try:
        async with db.session_factory(engine).begin() as session:
            # A column that isn't there: the statement fails inside the database with our parameters bound.
            await session.execute(
                text("UPDATE payment_requests SET no_such_column = :email WHERE stripe_client_secret = :secret"),
                {"email": SECRET_EMAIL, "secret": SECRET},
            )
    except (DBAPIError, StatementError) as exc:
        message = str(exc)
    else:
        raise AssertionError("the statement should have failed")
    finally:
        await engine.dispose()
    assert "no_such_column" in message
    assert SECRET_EMAIL not in message and SECRET not in message
    assert "hidden due to hide_parameters" in message
    logged = caplog.text
    assert SECRET_EMAIL not in logged and SECRET not in logged
