"""A clinic's pay-later settings: what becomes of a request still unpaid when its call ends, the range a patient may
choose an amount in, automatic reminders, and where link notices are emailed. Read by
:func:`addon.services.clinics.parse_settings` with the rest of the form, so every problem is reported at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from addon import money
from addon.email_address import parse_email
from addon.errors import InvalidInput
from addon.models import Clinic

CALL_ENDED_ACTIONS = ("send_link", "keep_unpaid", "cancel")
FIELDS = ("call_ended_action", "link_min_amount", "link_max_amount", "link_reminder_hours", "link_notice_email")
MAX_REMINDER_HOURS = 24 * 29


def parse(
    body: Mapping[str, Any], *, currency: str, locale: str, current: Mapping[str, Any]
) -> tuple[dict[str, Any], list[InvalidInput]]:
    changes: dict[str, Any] = {}
    problems: list[InvalidInput] = []

    def check(key: str, read: Any) -> None:
        if key not in body:
            return
        try:
            changes[key] = read(body[key])
        except InvalidInput as exc:
            problems.append(exc)

    def action(value: object) -> str:
        if value not in CALL_ENDED_ACTIONS:
            raise InvalidInput(
                "Choose what happens when a call ends: send_link, keep_unpaid or cancel.", field="call_ended_action"
            )
        return str(value)

    def amount(key: str) -> Any:
        def read(value: object) -> int | None:
            if value in (None, ""):
                return None
            return money.parse_amount(value, currency, field=key, locale=locale)

        return read

    def hours(value: object) -> int | None:
        if value in (None, ""):
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_REMINDER_HOURS:
            raise InvalidInput(
                "Give the reminder as whole hours before expiry, from 1 to 696.", field="link_reminder_hours"
            )
        return value

    def email(value: object) -> str | None:
        if value in (None, ""):
            return None
        try:
            return parse_email(value)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field="link_notice_email") from exc

    check("call_ended_action", action)
    check("link_min_amount", amount("link_min_amount"))
    check("link_max_amount", amount("link_max_amount"))
    check("link_reminder_hours", hours)
    check("link_notice_email", email)
    low = changes.get("link_min_amount", current.get("link_min_amount"))
    high = changes.get("link_max_amount", current.get("link_max_amount"))
    if low is not None and high is not None and low > high and not problems:
        problems.append(InvalidInput("The lowest amount is above the highest.", field="link_min_amount"))
    return changes, problems


def settings_json(clinic: Clinic) -> dict[str, Any]:
    currency, locale = clinic.default_currency, clinic.locale

    def typed(value: int | None) -> str:
        return money.format_typed(value, currency, locale) if value is not None else ""

    return {
        "call_ended_action": clinic.call_ended_action,
        "link_min_amount": clinic.link_min_amount,
        "link_min_amount_text": typed(clinic.link_min_amount),
        "link_max_amount": clinic.link_max_amount,
        "link_max_amount_text": typed(clinic.link_max_amount),
        "link_reminder_hours": clinic.link_reminder_hours,
        "link_notice_email": clinic.link_notice_email,
    }
