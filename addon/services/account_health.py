"""A linked Stripe account's health in plain words: can it take payments and receive payouts, what Stripe still
needs and by when, and why Stripe has paused it.

Stripe names requirements by the field it wants (``representative.dob.day``, ``external_account``…); a clinic
admin needs "your date of birth" and "a bank account for payouts". Several fields read as one thing, so the words
are found by the field's longest known prefix and each thing is said once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from addon.gateway import AccountRequirements, ConnectedAccount
from addon.models import Clinic
from addon.wire import clinic as wire

# Longest prefix wins: "representative.dob" before "representative".
REQUIREMENT_WORDS: dict[str, str] = {
    "business_type": "what kind of business it is",
    "business_profile.url": "the business's website",
    "business_profile.mcc": "what the business does",
    "business_profile.product_description": "what the business does",
    "business_profile": "details of the business",
    "company.name": "the business's name",
    "company.tax_id": "the business's ABN or tax number",
    "company.address": "the business's address",
    "company.phone": "the business's phone number",
    "company": "details of the business",
    "representative.dob": "your date of birth",
    "representative.verification": "an identity document for you",
    "representative.address": "your home address",
    "representative.email": "your email address",
    "representative.phone": "your phone number",
    "representative": "your name and details, as the person who runs the business",
    "individual.verification": "an identity document",
    "individual.dob": "your date of birth",
    "individual": "your name and details",
    "owners": "who owns the business",
    "directors": "the business's directors",
    "person_": "details of a person in the business",
    "external_account": "a bank account for payouts",
    "tos_acceptance": "accepting Stripe's terms",
    "settings.payments.statement_descriptor": "how payments show on patients' card statements",
}
OTHER = "other details Stripe asks for"

DISABLED_WORDS: dict[str, str] = {
    "requirements.past_due": "Stripe has paused payments until the overdue details are given.",
    "requirements.pending_verification": "Stripe is checking the details given. This usually takes a few minutes.",
    "under_review": "Stripe is reviewing the account.",
    "listed": "Stripe is reviewing the account.",
    "platform_paused": "Payments on this account are paused by the video-call platform.",
    "rejected.fraud": "Stripe has closed this account.",
    "rejected.terms_of_service": "Stripe has closed this account.",
    "rejected.listed": "Stripe has closed this account.",
    "rejected.other": "Stripe has closed this account.",
    "action_required.requested_capabilities": "Stripe needs more information before the account can take payments.",
    "other": "Stripe has paused the account. Open the Stripe dashboard to see why.",
}


def requirement_words(name: str) -> str:
    for prefix in sorted(REQUIREMENT_WORDS, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + ".") or (prefix.endswith("_") and name.startswith(prefix)):
            return REQUIREMENT_WORDS[prefix]
    return OTHER


def in_words(names: Iterable[str]) -> list[str]:
    """Each thing Stripe needs, said once, in the order Stripe listed them."""
    return list(dict.fromkeys(requirement_words(name) for name in names))


def disabled_words(reason: str | None) -> str | None:
    if not reason:
        return None
    return DISABLED_WORDS.get(reason) or DISABLED_WORDS["other"]


def requirements_record(requirements: AccountRequirements) -> dict[str, Any]:
    """What is kept on the clinic (Stripe's names, so the words can improve without asking Stripe again)."""
    return {
        "currently_due": list(requirements.currently_due),
        "past_due": list(requirements.past_due),
        "eventually_due": list(requirements.eventually_due),
        "pending_verification": list(requirements.pending_verification),
        "disabled_reason": requirements.disabled_reason,
        "current_deadline": requirements.current_deadline,
    }


def health_values(account: ConnectedAccount) -> dict[str, Any]:
    """The clinic columns that hold the account's health, as Stripe reports it now."""
    return {
        "stripe_charges_enabled": account.charges_enabled,
        "stripe_payouts_enabled": account.payouts_enabled,
        "stripe_details_submitted": account.details_submitted,
        "stripe_requirements": requirements_record(account.requirements),
    }


def health_json(clinic: Clinic) -> wire.AccountHealth:
    """Client Payments' view of the account's health."""
    stored = clinic.stripe_requirements or {}
    due = [str(n) for n in stored.get("currently_due") or []]
    overdue = [str(n) for n in stored.get("past_due") or []]
    later = [str(n) for n in stored.get("eventually_due") or [] if n not in due]
    checking = [str(n) for n in stored.get("pending_verification") or []]
    deadline = stored.get("current_deadline")
    overdue_words, due_words = in_words(overdue), in_words(due)
    return wire.AccountHealth(
        charges_enabled=clinic.stripe_charges_enabled,
        payouts_enabled=clinic.stripe_payouts_enabled,
        details_submitted=clinic.stripe_details_submitted,
        past_due=overdue_words,
        currently_due=[w for w in due_words if w not in overdue_words],
        eventually_due=[w for w in in_words(later) if w not in due_words],
        pending_verification=in_words(checking),
        current_deadline=_date(deadline) if isinstance(deadline, int) else None,
        disabled_reason=disabled_words(stored.get("disabled_reason")),
        needs_action=bool(due or overdue),
    )


def still_needed(clinic: Clinic) -> list[str]:
    """Everything Stripe needs before the account is fully set up, overdue first."""
    stored = clinic.stripe_requirements or {}
    return in_words([*(stored.get("past_due") or []), *(stored.get("currently_due") or [])])


def _date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%d %b %Y")
