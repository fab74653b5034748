"""A clinic's card-on-file settings: whether patients are asked to save a card at join, the policy they agree to
(required while it is on), the no-show and late-cancellation fees, and whether clinicians may charge them. Read by
:func:`addon.services.clinics.parse_settings` with the rest of the form, so every problem is reported at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from addon import money
from addon.errors import InvalidInput
from addon.input_limits import has_hidden_characters
from addon.models import Clinic

FIELDS = (
    "saved_cards_enabled", "saved_card_policy", "no_show_fee", "late_cancellation_fee", "clinician_fees",
    "plan_min_amount",
)  # fmt: skip
# Amounts in the clinic's currency; plan_min_amount: a request for more may be split into instalments (empty: off).
FEE_FIELDS = ("no_show_fee", "late_cancellation_fee", "plan_min_amount")
MAX_POLICY = 2000
MIN_POLICY = 20


def parse(
    body: Mapping[str, Any],
    *,
    currency: str,
    locale: str,
    currency_changed: bool,
    current: Mapping[str, Any],
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

    def switch(key: str, question: str) -> Any:
        def read(value: object) -> bool:
            if not isinstance(value, bool):
                raise InvalidInput(f"Say true or false: {question}", field=key)
            return value

        return read

    def policy(value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidInput("Enter the policy as text.", field="saved_card_policy")
        text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
        if has_hidden_characters(text):
            raise InvalidInput("Remove the invisible control characters from the policy.", field="saved_card_policy")
        if len(text) > MAX_POLICY:
            raise InvalidInput(f"Keep the policy to {MAX_POLICY} characters or fewer.", field="saved_card_policy")
        if text and len(text) < MIN_POLICY:
            raise InvalidInput(
                "Say in a sentence or two what the card may be charged for, and how much.", field="saved_card_policy"
            )
        return text or None

    def fee(key: str) -> Any:
        def read(value: object) -> int | None:
            if value in (None, ""):
                return None
            return money.parse_amount(value, currency, field=key, locale=locale)

        return read

    check("saved_cards_enabled", switch("saved_cards_enabled", "may patients save a card for this clinic?"))
    check("clinician_fees", switch("clinician_fees", "may clinicians charge the fees to a saved card?"))
    check("saved_card_policy", policy)
    for key in FEE_FIELDS:
        check(key, fee(key))
        if currency_changed and key not in body and current.get(key) is not None:
            problems.append(
                InvalidInput(
                    "A new currency changes what this fee means: enter it again in the new currency.", field=key
                )
            )
    enabled = changes.get("saved_cards_enabled", current.get("saved_cards_enabled"))
    text = changes.get("saved_card_policy", current.get("saved_card_policy"))
    if enabled and not text and not any(p.field == "saved_card_policy" for p in problems):
        problems.append(
            InvalidInput(
                "Write the policy patients agree to before turning saved cards on: what the card may be charged "
                "for, and how much.",
                field="saved_card_policy",
            )
        )
    return changes, problems


def settings_json(clinic: Clinic) -> dict[str, Any]:
    currency, locale = clinic.default_currency, clinic.locale

    def typed(value: int | None) -> str:
        return money.format_typed(value, currency, locale) if value is not None else ""

    def shown(value: int | None) -> str | None:
        return money.format_amount(value, currency, locale) if value is not None else None

    return {
        "saved_cards_enabled": clinic.saved_cards_enabled,
        "saved_card_policy": clinic.saved_card_policy,
        "no_show_fee": clinic.no_show_fee,
        "no_show_fee_text": typed(clinic.no_show_fee),
        "no_show_fee_display": shown(clinic.no_show_fee),
        "late_cancellation_fee": clinic.late_cancellation_fee,
        "late_cancellation_fee_text": typed(clinic.late_cancellation_fee),
        "late_cancellation_fee_display": shown(clinic.late_cancellation_fee),
        "clinician_fees": clinic.clinician_fees,
        "plan_min_amount": clinic.plan_min_amount,
        "plan_min_amount_text": typed(clinic.plan_min_amount),
        "plan_min_amount_display": shown(clinic.plan_min_amount),
    }
