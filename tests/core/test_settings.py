from __future__ import annotations

import pytest

from addon.settings import Settings, SettingsError
from tests.conftest import BASE_ENV


def test_reads_every_setting_from_the_environment_mapping() -> None:
    settings = Settings.from_env(
        {
            **BASE_ENV,
            "CALLPAY_DATABASE_URL": "postgresql://db.internal/callpay",
            "CALLPAY_REDIS_URL": "redis://127.0.0.1:6379/0",
            "CALLPAY_STRIPE_API_BASE": "http://127.0.0.1:12111/",
            "CALLPAY_SMTP_URL": "smtp://user:pw@127.0.0.1:2525",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://db.internal/callpay"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    assert settings.stripe_connect_base == "https://connect.stripe.com"
    assert settings.smtp_url == "smtp://user:pw@127.0.0.1:2525"


def test_default_database_is_a_sqlite_file_under_var() -> None:
    settings = Settings.from_env(BASE_ENV)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("/var/callpay.sqlite3")


def test_every_missing_required_setting_is_named_on_its_own_line() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({})
    names = [line.split(" ", 1)[0] for line in caught.value.problems]
    assert names == [
        "CALLPAY_LAUNCH_SECRET",
        "CALLPAY_STRIPE_SECRET_KEY",
        "CALLPAY_STRIPE_PUBLISHABLE_KEY",
        "CALLPAY_STRIPE_CONNECT_CLIENT_ID",
        "CALLPAY_STRIPE_WEBHOOK_SECRET",
        "CALLPAY_PUBLIC_URL",
    ]
    assert all("missing" in line for line in caught.value.problems)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("CALLPAY_LAUNCH_SECRET", "short", "at least 32 bytes"),
        ("CALLPAY_STRIPE_SECRET_KEY", "pk_test_wrong", "sk_"),
        ("CALLPAY_STRIPE_PUBLISHABLE_KEY", "sk_test_wrong", "pk_"),
        ("CALLPAY_STRIPE_CONNECT_CLIENT_ID", "acct_1", "ca_"),
        ("CALLPAY_PUBLIC_URL", "ftp://x", "http"),
        ("CALLPAY_SMTP_URL", "mail.example.com", "smtp://"),
        ("CALLPAY_DATABASE_URL", "mysql://x", "sqlite"),
        ("CALLPAY_OUTBOX_LEASE_SECONDS", "soon", "seconds"),
        ("CALLPAY_OUTBOX_LEASE_SECONDS", "0.5", "at least 2"),
    ],
)
def test_a_malformed_setting_says_what_to_fix(key: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE_ENV, key: value})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(key)
    assert says in caught.value.problems[0]


def test_secrets_never_show_in_repr_or_summary() -> None:
    settings = Settings.from_env({**BASE_ENV, "CALLPAY_SENTRY_DSN": "http://public@127.0.0.1:1/1"})
    shown = repr(settings) + str(settings.public_summary())
    for secret in ("launch-secret-for-tests", "sk_test_callpay", "whsec_test_secret", "public@127"):
        assert secret not in shown
    assert settings.launch_secret.reveal().startswith("launch-secret-for-tests")


def test_settings_are_frozen() -> None:
    settings = Settings.from_env(BASE_ENV)
    with pytest.raises(AttributeError):
        settings.public_url = "http://elsewhere"  # type: ignore[misc]


def test_the_outbox_lease_is_two_minutes_unless_set() -> None:
    assert Settings.from_env(BASE_ENV).outbox_lease_seconds == 120.0
    assert Settings.from_env({**BASE_ENV, "CALLPAY_OUTBOX_LEASE_SECONDS": "5"}).outbox_lease_seconds == 5.0
